"""`learnstream serve` owning the embedded warehouse, as real processes: it loads learning events from the real
broker, and the CLI's `trends` and `erase` go through it while it runs and open chDB themselves once it stopped."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import httpx

from learnstream.settings import Settings
from tests.integration.support import run_cli
from tests.integration.test_serve import serve_env
from tests.integration.test_trend_warehouse import PLATFORM, publish, question

MARCH = ("--since", "2024-03-01", "--until", "2024-03-31", "--granularity", "month", "--format", "json")
VERSION = ("--classifier-version", "rules-test")


def asked(env: dict[str, str]) -> int | None:
    result = run_cli(env, "trends", "activity", *MARCH, *VERSION)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    return next((row["events"] for row in rows if row["category"] == "asked"), None)


def test_serve_loads_and_answers_trends_and_erase_for_the_cli(settings: Settings, tmp_path: Path, start_serve) -> None:
    env = {
        **serve_env(settings, tmp_path),
        "LEARNSTREAM_CLICKHOUSE_DSN": f"chdb://{tmp_path / 'owned-warehouse'}",
        "LEARNSTREAM_SERVE__WAREHOUSE": "true",
        "LEARNSTREAM_WAREHOUSE__ROLLUP_INTERVAL_S": "1",
    }
    process, base = start_serve(env)
    publish(settings, [question(n) for n in range(6)])
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and httpx.get(f"{base}/warehouse/status").json()["rows_inserted"] < 6:
        time.sleep(0.5)
    assert httpx.get(f"{base}/warehouse/status").json()["rows_inserted"] == 6
    while time.monotonic() < deadline and asked(env) != 6:  # the next rebuild, at most a second away
        time.sleep(0.5)
    assert asked(env) == 6  # through serve: this process could not open the engine serve holds
    counted = run_cli(env, "warehouse", "counts")
    assert counted.returncode == 0, counted.stderr
    assert "6 current events, 6 distinct event ids, 0 stored more than once (through serve)" in counted.stdout

    erased = run_cli(env, "erase", "--pseudonym", PLATFORM[0], "--yes")
    assert erased.returncode == 0, erased.stderr
    assert "(through serve): 1 events deleted" in erased.stdout
    assert asked(env) == 5  # reflected at once: erase rebuilt the month before it returned

    bad = httpx.get(f"{base}/api/v1/trends/activity", params={"granularity": "fortnight"})
    assert bad.status_code == 400 and "parameter granularity" in bad.json()["error"]
    unknown = httpx.get(f"{base}/api/v1/trends/activity", params={"colour": "red"})  # an unknown parameter
    assert unknown.status_code == 400 and "parameter colour" in unknown.json()["error"]
    csv = httpx.get(
        f"{base}/api/v1/trends/source-mix",
        params={"since": "2024-03-01", "format": "csv", "classifier_version": "rules-test"},
    )
    assert csv.status_code == 200 and csv.text.startswith("period,source,events,withheld")

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    assert not (tmp_path / "owned-warehouse" / "serve.json").exists()
    assert asked(env) == 5  # serve gone: the CLI opens chDB itself and reads the same figures
