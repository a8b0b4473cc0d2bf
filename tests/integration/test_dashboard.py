"""The dashboard in a real browser (Debian's headless Chromium through its chromedriver) against `serve` owning a
warehouse filled by the simulator through the real connectors, worker and loader: every chart is drawn from the
API's figures, withheld cells are drawn as withheld, and the filters live in the address.

The screenshot is kept as var/test-artifacts/dashboard.png.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaConsumer, TopicPartition
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from learnstream.settings import Settings
from tests.integration.conftest import Serve
from tests.integration.support import PROJECT_ROOT, TEST_KEYS, free_port, run_cli, settings_env
from tests.integration.test_simulate import serving_apis, simulation_env

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
ARTIFACTS = PROJECT_ROOT / "var" / "test-artifacts"
PEOPLE, DAYS, SEED, K = 60, 14, 5, 3


def browser() -> webdriver.Chrome:
    """Headless Chromium from Debian's packages (`make browser` installs them); never a downloaded browser."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            raise RuntimeError(f"{path} is missing: run `make browser` (Debian's chromium and chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1400,2000")
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def wait_for_lag_zero(bootstrap: str, group: str, topic: str, timeout_s: float = 240) -> int:
    """Wait until a consumer group has committed every record of a topic; returns how many there are."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ends = consumer.end_offsets(partitions)
            if all((consumer.committed(tp) or 0) >= end for tp, end in ends.items()):
                return sum(ends.values())
            time.sleep(0.5)
        raise AssertionError(f"{group} did not catch up with {topic} in {timeout_s:.0f} s")
    finally:
        consumer.close()


@pytest.fixture
def simulated_serve(settings: Settings, tmp_path: Path, start_serve: Serve, start_worker) -> Iterator[tuple[str, str]]:
    """serve owning a fresh chDB warehouse with a simulated organisation's three weeks loaded: (base URL, since)."""
    start = datetime.now(UTC).date() - timedelta(days=DAYS + 1)
    out = tmp_path / "simulation"
    env = {
        **simulation_env(settings, out, SIMULATED_SLACK_SIGNING_SECRET="dashboard-simulated-secret"),
        "LEARNSTREAM_CLICKHOUSE_DSN": f"chdb://{tmp_path / 'dashboard-warehouse'}",
        "LEARNSTREAM_SERVE__WAREHOUSE": "true",
        "LEARNSTREAM_WAREHOUSE__ROLLUP_INTERVAL_S": "1",
        "LEARNSTREAM_WAREHOUSE__MIN_GROUP_SIZE": str(K),
    }
    simulation = [
        "simulate",
        *("--people", str(PEOPLE), "--days", str(DAYS), "--seed", str(SEED), "--out", str(out)),
        *("--start", start.isoformat(), "--wiki-port", str(free_port())),
    ]
    with serving_apis(env, simulation, tmp_path / "simulated-apis.log"):
        directory = run_cli(env, "connect", "run", "sim-people", "--once")
        assert directory.returncode == 0, directory.stderr
        _, base = start_serve(env)
        start_worker()
        posted = run_cli(env, *simulation, "--post-to", base, "--concurrency", "4", timeout=600)
        assert posted.returncode == 0, posted.stderr
        polled = run_cli(env, "connect", "run", "sim-wiki", "--once")
        assert polled.returncode == 0, polled.stderr
    names = settings.topics.names
    bootstrap = settings.kafka.bootstrap_servers
    wait_for_lag_zero(bootstrap, settings.worker.app_id, names.activity_raw)
    stored = wait_for_lag_zero(bootstrap, settings.loader.group_id, names.learning_events)
    assert stored > 1000
    time.sleep(4)  # the loader's next rebuild of the trend tables, at most a second away
    yield base, start.isoformat()


def api(base: str, query: str, params: dict[str, str]) -> dict[str, Any]:
    answer = httpx.get(f"{base}/api/v1/trends/{query}", params=params, timeout=60)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def labels(driver: webdriver.Chrome, chart: str) -> list[str]:
    """The texts drawn in one chart's SVG."""
    texts: list[str] = driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map((element) => element.textContent)",
        f"#{chart} svg text",
    )
    return texts


def numbers_and_withheld(texts: list[str]) -> tuple[Counter[int], int]:
    return Counter(int(text) for text in texts if text.isdigit()), texts.count("withheld")


def test_the_dashboard_draws_the_apis_figures(simulated_serve: tuple[str, str]) -> None:
    base, since = simulated_serve
    params = {"since": since, "until": (datetime.now(UTC).date() - timedelta(days=1)).isoformat()}
    driver = browser()
    try:
        driver.get(f"{base}/dashboard?since={params['since']}&until={params['until']}")
        deadline = time.monotonic() + 60
        progress: dict[str, Any] = {}
        while time.monotonic() < deadline:
            progress = driver.execute_script("return window.learnstreamDashboard") or {}
            if progress.get("rendered") or progress.get("error"):
                break
            time.sleep(0.1)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "dashboard.png"))
        assert progress.get("rendered"), progress

        activity = api(base, "activity", params)
        last = max(row["period"] for row in activity["rows"])
        cells = [row for row in activity["rows"] if row["period"] == last and row["category"] != "(all)"]
        expected = Counter(row["events"] for row in cells if "events" not in row["withheld"])
        drawn, withheld = numbers_and_withheld(labels(driver, "heatmap"))
        assert drawn == expected and expected, (drawn, expected)
        assert withheld == sum("events" in row["withheld"] for row in cells)
        assert withheld > 0, "the simulated organisation has small teams: some cells must be withheld"

        flow = api(base, "knowledge-flow", params)["rows"]
        drawn, withheld = numbers_and_withheld(labels(driver, "flow"))
        assert drawn == Counter(row["answers"] for row in flow if "answers" not in row["withheld"]) and drawn
        assert withheld == sum("answers" in row["withheld"] for row in flow)

        totals = {row["team"]: row for row in activity["rows"] if row["period"] == last and row["category"] == "(all)"}
        ends = [text for text in labels(driver, "trend") if re.fullmatch(r".+: (\d+|withheld)", text)]
        assert ends, "every team's line ends in a label with its last value"
        for text in ends:
            team, value = text.rsplit(": ", 1)
            row = totals[team]
            assert value == ("withheld" if "events" in row["withheld"] else str(row["events"])), text

        topics = api(base, "topics", params)["rows"][:15]
        drawn, withheld = numbers_and_withheld(labels(driver, "topics"))
        assert drawn == Counter(row["events"] for row in topics if "events" not in row["withheld"]) and drawn
        assert withheld == sum("events" in row["withheld"] for row in topics)

        status = driver.find_element(By.ID, "status").text
        assert f"figures about fewer than {K} people withheld" in status

        # a filter goes into the address, and the address alone brings the same view back
        team = next(name for name, row in totals.items() if "events" not in row["withheld"])
        form = driver.find_element(By.ID, "filters")
        form.find_element(By.NAME, "team").send_keys(team)
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        while driver.execute_script("return window.learnstreamDashboard.loads") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        shared = driver.current_url
        assert "team=" in shared and f"since={since}" in shared
        driver.get(shared)
        while not driver.execute_script("return window.learnstreamDashboard?.rendered") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert driver.find_element(By.NAME, "team").get_attribute("value") == team
        assert f"team {team}" in driver.find_element(By.ID, "status").text
        ends = [text for text in labels(driver, "trend") if re.fullmatch(r".+: (\d+|withheld)", text)]
        assert [text.rsplit(": ", 1)[0] for text in ends] == [team]
    finally:
        driver.quit()


def wait_for_load(driver: webdriver.Chrome, loads: int, timeout_s: float = 60) -> dict[str, Any]:
    """The page's progress once it has finished `loads` loads (drawn or failed)."""
    deadline = time.monotonic() + timeout_s
    progress: dict[str, Any] = {}
    while time.monotonic() < deadline:
        progress = driver.execute_script("return window.learnstreamDashboard") or {}
        if progress.get("loads", 0) >= loads:
            return progress
        time.sleep(0.1)
    raise AssertionError(f"the dashboard did not finish load {loads}: {progress}")


def test_the_dashboard_asks_for_a_token_when_serve_needs_one(
    settings: Settings, tmp_path: Path, start_serve: Serve
) -> None:
    """With tokens configured the page asks for one, says when a token may not read the trends, and keeps the
    right one for the browser session only."""
    reader, monitor = "dashboard-reader-token-0123456789", "dashboard-monitor-token-0123456789"
    tokens = [
        {"name": "analysts", "token": reader, "scopes": ["trends"]},
        {"name": "monitor", "token": monitor, "scopes": ["status"]},
    ]
    (tmp_path / "no-connectors.toml").write_text("")
    env = {
        **settings_env(settings),
        **TEST_KEYS,
        "LEARNSTREAM_CONNECTORS_FILE": str(tmp_path / "no-connectors.toml"),
        "LEARNSTREAM_CLICKHOUSE_DSN": f"chdb://{tmp_path / 'token-warehouse'}",
        "LEARNSTREAM_SERVE__WAREHOUSE": "true",
        "LEARNSTREAM_API__TOKENS": json.dumps(tokens),
    }
    _, base = start_serve(env)
    driver = browser()
    try:
        driver.get(f"{base}/dashboard")
        progress = wait_for_load(driver, 1)
        prompt = driver.find_element(By.ID, "token")
        assert not progress.get("rendered") and prompt.is_displayed()
        assert "needs an API token" in driver.find_element(By.ID, "status").text

        prompt.find_element(By.NAME, "token").send_keys(monitor)
        prompt.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        progress = wait_for_load(driver, 2)
        assert not progress.get("rendered") and prompt.is_displayed()
        assert "scope" in driver.find_element(By.ID, "status").text  # the API's 403 says what is missing

        field = prompt.find_element(By.NAME, "token")
        field.clear()
        field.send_keys(reader)
        prompt.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        progress = wait_for_load(driver, 3)
        assert progress.get("rendered"), progress
        assert not prompt.is_displayed()
        assert "figures about fewer than" in driver.find_element(By.ID, "status").text
        assert driver.execute_script("return window.sessionStorage.length") == 1
        assert reader not in driver.current_url  # a shared address never carries the token

        driver.refresh()  # the same browser session keeps it: no second prompt
        assert wait_for_load(driver, 1).get("rendered")
        assert not driver.find_element(By.ID, "token").is_displayed()
    finally:
        driver.quit()


def test_the_browser_is_debians(tmp_path: Path) -> None:
    """The test drives the packaged browser, not one a package manager downloaded somewhere."""
    version = subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and "Chromium" in version.stdout
    assert shutil.which("chromedriver") == str(CHROMEDRIVER)
