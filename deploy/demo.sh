#!/usr/bin/env bash
# The demo on embedded defaults: a local Kafka broker and the chDB engine under var/demo.
# Starts Kafka, replays the bundled sample, runs the worker and the loader, prints the trend table from
# ClickHouse, and stops everything it started (by pid) on the way out, also on failure or Ctrl-C.
# Each run starts from an empty var/demo, so the table shows exactly the bundled sample.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=.venv/bin
# The demo runs on the embedded defaults only: never on a production broker or warehouse from the environment.
for variable in $(compgen -e | grep '^LEARNSTREAM_' | grep -v '^LEARNSTREAM_LOCAL_KAFKA_PORT$' || true); do unset "$variable"; done
export LEARNSTREAM_DATA_DIR=var/demo
KAFKA_STATE="$LEARNSTREAM_DATA_DIR/kafka"
WORKER_PID=""

cleanup() {
  if [[ -n "$WORKER_PID" ]] && kill -0 "$WORKER_PID" 2>/dev/null; then
    kill -TERM "$WORKER_PID" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$WORKER_PID" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$WORKER_PID" 2>/dev/null || true
  fi
  "$BIN/python" deploy/kafka/local_kafka.py stop --state-dir "$KAFKA_STATE" >/dev/null || true
}
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

echo "== replaying samples/activities.jsonl"
"$BIN/learnstream" --log-level warning replay --from-start samples/activities.jsonl

echo "== classifying (worker log: $LEARNSTREAM_DATA_DIR/worker.log) and loading into ClickHouse"
"$BIN/learnstream" worker >"$LEARNSTREAM_DATA_DIR/worker.log" 2>&1 &
WORKER_PID=$!
"$BIN/learnstream" --log-level warning loader --exit-when-idle 10 --first-event-timeout 180 \
  || { echo "demo: the loader got nothing; last lines of $LEARNSTREAM_DATA_DIR/worker.log:" >&2; tail -20 "$LEARNSTREAM_DATA_DIR/worker.log" >&2; exit 1; }

echo
"$BIN/learnstream" --log-level warning trends --since 2000-01-01
