#!/usr/bin/env bash
# The demo on embedded defaults: a local Kafka broker and the chDB engine under var/demo, fed by the live
# connectors from a simulated organisation: the simulator serves a wiki's API and posts signed Slack events to
# `learnstream serve`; `connect run` reads the wiki and the people directory; the worker classifies, the loader
# lands the events in ClickHouse, and the trend table is printed. Everything started here is stopped by pid on
# the way out, also on failure or Ctrl-C. Each run starts from an empty var/demo.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=.venv/bin
# The demo runs on the embedded defaults only: never on a production broker or warehouse from the environment.
for variable in $(compgen -e | grep '^LEARNSTREAM_' | grep -v '^LEARNSTREAM_LOCAL_KAFKA_PORT$' || true); do unset "$variable"; done
export LEARNSTREAM_DATA_DIR=var/demo
KAFKA_STATE="$LEARNSTREAM_DATA_DIR/kafka"
# the simulated organisation: development keys and the simulator's own signing secret are fine here
export LEARNSTREAM_DEVELOPMENT=true
export LEARNSTREAM_WAREHOUSE__ROLLUP_INTERVAL_S=${LEARNSTREAM_WAREHOUSE__ROLLUP_INTERVAL_S:-2}  # figures within seconds of loading
export SIMULATED_SLACK_SIGNING_SECRET="demo-signing-secret-$RANDOM$RANDOM"
SIMULATION=(--people "${DEMO_PEOPLE:-150}" --days "${DEMO_DAYS:-14}" --seed 7 --out "$LEARNSTREAM_DATA_DIR/simulation")
PIDS=()

stop() {  # SIGTERM, then SIGKILL after 30 s
  local pid=$1
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
}

cleanup() {
  for pid in "${PIDS[@]}"; do stop "$pid"; done
  "$BIN/python" deploy/kafka/local_kafka.py stop --state-dir "$KAFKA_STATE" >/dev/null || true
}

wait_http() {  # wait_http URL NAME LOG PID: until URL answers 200 (fails at once if PID exits)
  "$BIN/python" - "$1" "$4" <<'PY' || { echo "demo: $2 did not come up; last lines of $3:" >&2; tail -20 "$3" >&2; exit 1; }
import os, sys, time, httpx
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    try:
        os.kill(int(sys.argv[2]), 0)
    except ProcessLookupError:
        sys.exit(1)
    try:
        if httpx.get(sys.argv[1], timeout=5).status_code == 200:
            sys.exit(0)
    except httpx.TransportError:
        pass
    time.sleep(0.3)
sys.exit(1)
PY
}

free_port() { "$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
trap cleanup EXIT INT TERM

"$BIN/python" deploy/kafka/local_kafka.py stop --state-dir "$KAFKA_STATE" >/dev/null 2>&1 || true  # a demo left running
rm -rf "$LEARNSTREAM_DATA_DIR"
mkdir -p "$LEARNSTREAM_DATA_DIR"
echo "== starting Kafka (logs: $KAFKA_STATE/server.log)"
"$BIN/python" deploy/kafka/local_kafka.py start --port "${LEARNSTREAM_LOCAL_KAFKA_PORT:-0}" --state-dir "$KAFKA_STATE"
export LEARNSTREAM_KAFKA__BOOTSTRAP_SERVERS="$(cat "$KAFKA_STATE/bootstrap")"

echo "== topics and warehouse"
"$BIN/learnstream" --log-level warning topics create
"$BIN/learnstream" --log-level warning warehouse migrate

echo "== simulating an organisation; its wiki serves on 127.0.0.1 (log: $LEARNSTREAM_DATA_DIR/simulate-wiki.log)"
WIKI_PORT=$(free_port)
SERVE_PORT=$(free_port)
"$BIN/learnstream" simulate "${SIMULATION[@]}" --wiki-port "$WIKI_PORT" --serve-apis >"$LEARNSTREAM_DATA_DIR/simulate-wiki.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$WIKI_PORT/w/api.php?action=query&meta=siteinfo&format=json&formatversion=2" \
  "the simulated wiki" "$LEARNSTREAM_DATA_DIR/simulate-wiki.log" "$!"
head -1 "$LEARNSTREAM_DATA_DIR/simulate-wiki.log"
export LEARNSTREAM_CONNECTORS_FILE="$LEARNSTREAM_DATA_DIR/simulation/connectors.toml"

echo "== the people directory (connect run sim-people)"
"$BIN/learnstream" --log-level warning connect run sim-people --once

echo "== learnstream serve and the worker (logs: $LEARNSTREAM_DATA_DIR/serve.log, worker.log)"
"$BIN/learnstream" serve --port "$SERVE_PORT" >"$LEARNSTREAM_DATA_DIR/serve.log" 2>&1 &
SERVE_PID=$!
PIDS+=($!)
"$BIN/learnstream" worker >"$LEARNSTREAM_DATA_DIR/worker.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$SERVE_PORT/ready" "serve" "$LEARNSTREAM_DATA_DIR/serve.log" "$SERVE_PID"

echo "== Slack: the simulator posts signed Events API requests to serve"
"$BIN/learnstream" --log-level warning simulate "${SIMULATION[@]}" --wiki-port "$WIKI_PORT" --post-to "http://127.0.0.1:$SERVE_PORT" | tail -1

echo "== the wiki: connect run sim-wiki polls its recent changes"
"$BIN/learnstream" --log-level warning connect run sim-wiki --once

wait_group() {  # wait_group GROUP TOPIC WHAT LOG: until the consumer group has committed the whole topic
  GROUP="$1" TOPIC="$2" WHAT="$3" "$BIN/python" - <<'PY' || { echo "demo: $3 did not catch up; last lines of $4:" >&2; tail -20 "$4" >&2; exit 1; }
import os, sys, time
from kafka import KafkaConsumer, TopicPartition
bootstrap, topic = os.environ["LEARNSTREAM_KAFKA__BOOTSTRAP_SERVERS"], os.environ["TOPIC"]
group = KafkaConsumer(bootstrap_servers=bootstrap, group_id=os.environ["GROUP"], enable_auto_commit=False)
partitions = [TopicPartition(topic, p) for p in group.partitions_for_topic(topic)]
ends = group.end_offsets(partitions)
deadline, lag = time.monotonic() + 300, None
while time.monotonic() < deadline:
    lag = sum(end - (group.committed(tp) or 0) for tp, end in ends.items())
    if lag <= 0:
        print(f"{os.environ['WHAT']} caught up: {sum(ends.values()):,} records")
        sys.exit(0)
    time.sleep(1)
print(f"{lag} records still waiting for {os.environ['WHAT']} after 300 s", file=sys.stderr)
sys.exit(1)
PY
}

echo "== waiting for the worker to classify everything on the raw topic"
wait_group learnstream-worker learnstream.activity.raw "the worker" "$LEARNSTREAM_DATA_DIR/worker.log"

echo "== waiting for the loader in serve to store every learning event in ClickHouse (chDB, owned by serve)"
wait_group learnstream-loader learnstream.learning.events "the loader" "$LEARNSTREAM_DATA_DIR/serve.log"
sleep $(( ${LEARNSTREAM_WAREHOUSE__ROLLUP_INTERVAL_S%.*} + 2 ))  # the next rebuild of the trend tables

echo
WEEKS=$(( (${DEMO_DAYS:-14} + 4) / 7 + 1 ))
for query in activity time-to-answer knowledge-flow participation; do
  "$BIN/learnstream" --log-level warning trends "$query" --last "$WEEKS"
  echo
done
