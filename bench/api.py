"""Issue 10's goals: what the trends API adds to a query under 8 concurrent clients, and the dashboard's first
render in Chromium, at 10M events.

    .venv/bin/python bench/api.py [--events 10000000] [--clients 8] [--rounds 6] [--renders 5] [--bootstrap H:P]
                                  [--warehouse DIR]

load       a chDB directory filled by bench/warehouse.py's bulk SQL path and the loader's rebuild of every day (a
           child process; a temporary directory, or DIR kept and reused while events, seed and classifier match).
prepare    what serve does on opening it (migrations, retention, BI views), then wait until the engine runs no
           merge or mutation: otherwise serve's first retention runs a MATERIALIZE TTL inside the timings.
in-process in a child process, `WarehouseService` as serve builds it answers every named query with the API's
           default parameters (the last 12 weeks, weekly, to today) from N threads at once, each going through the
           queries `--rounds` times from its own starting point: the baseline, `service.trends` (the engine behind
           serve's one lock, rows, suppression), what `learnstream trends` and the API both run; its CPU seconds;
           then one thread alone.
API        `learnstream serve`, the real process, owning the directory (with a local broker for its loader), answers
           GET /api/v1/trends/{query} to a load generator in its own process (aiohttp, N connections, bodies read)
           in the same pattern: first with `Cache-Control: no-cache` and no answer cache (every answer made
           afresh), then one client alone, then with answers kept (serve's default). The difference at p95 is what
           the API adds (goal: at most 20 ms). CPU per answer of serve and of the load generator.
dashboard  Debian's Chromium, started afresh for every load (nothing cached), opens /dashboard on the serve that
           makes every answer afresh; the time from the start of navigation until the page says every chart is
           drawn (its own mark, `shownAtMs`) (goal 1.5 s). The page asks four queries at once.

Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.harness import cpu_seconds, local_broker, machine, own_cpu_seconds, start_serve
from bench.warehouse import load_and_rebuild, percentile
from streams.classify import default_classifier
from warehouse.connection import connect
from warehouse.dsn import parse_dsn
from warehouse.queries import QUERIES

GOAL_ADDED_MS = 20.0
GOAL_RENDER_MS = 1500.0
#: Passes over the queries with one client at a time: what the API adds without any queue.
SOLO_ROUNDS = 5
#: Left in a kept warehouse directory (--warehouse) once it is loaded: what it holds.
WAREHOUSE_BUILT = "bench-api-built.txt"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@dataclass
class Timings:
    """Latencies (ms) per query name."""

    by_query: dict[str, list[float]]

    @staticmethod
    def empty() -> Timings:
        return Timings({name: [] for name in QUERIES})

    def everything(self) -> list[float]:
        return [value for values in self.by_query.values() for value in values]


def concurrently(clients: int, rounds: int, call: Callable[[int, str], object]) -> Timings:
    """`clients` threads, each calling `call(client, query)` for every query `rounds` times from its own offset."""
    names = list(QUERIES)
    timings = Timings.empty()
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def client(index: int) -> None:
        start.wait()
        for turn in range(rounds * len(names)):
            name = names[(index + turn) % len(names)]
            began = time.perf_counter()
            call(index, name)
            spent = (time.perf_counter() - began) * 1000
            with lock:
                timings.by_query[name].append(spent)

    threads = [threading.Thread(target=client, args=(index,)) for index in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return timings


def build(path: Path, database: str, events: int, seed: int) -> str:
    """Child process: the bulk load and rebuild; returns what was loaded."""
    client = connect(parse_dsn(f"chdb://{path}?database={database}"))
    figures, _ = load_and_rebuild(client, database, events, seed)
    client.close()
    return f"{figures.rows:,} rows loaded in {sum(figures.load_s.values()):.1f} s, rebuilt in {figures.rebuild_s:.1f} s"


def prepare(path: Path, database: str) -> str:
    """Child process: what serve does when it opens the directory (migrations, retention, BI views), then wait for
    the engine's background work. A first retention starts a MATERIALIZE TTL over every stored row, which would
    otherwise run in serve's process inside its timings."""
    from pydantic import SecretStr

    from learnstream.settings import Settings
    from warehouse.preparation import prepare_warehouse

    client = connect(parse_dsn(f"chdb://{path}?database={database}"))
    settings = Settings(clickhouse_dsn=SecretStr(f"chdb://{path}?database={database}"))
    prepare_warehouse(client, database, settings, default_classifier().version)
    settled = settle(client)
    client.close()
    return f"prepared as serve prepares it; background merges and mutations done after {settled:.0f} s"


def settle(client: Any, quiet_s: float = 10.0, longest_s: float = 1800.0) -> float:
    """Wait until the engine has no merge or mutation left (none for `quiet_s`): chDB runs them in the process that
    holds the directory, so what is left here would run in whichever process opens it next, inside the timings (a
    run measured right after a load saw serve spend twice the CPU per answer: its retention's MATERIALIZE TTL)."""
    began = last_busy = time.monotonic()
    busy_sql = "SELECT (SELECT count() FROM system.merges) + (SELECT count() FROM system.mutations WHERE NOT is_done)"
    while time.monotonic() - began < longest_s:
        if client.query(busy_sql).result_rows[0][0]:
            last_busy = time.monotonic()
        elif time.monotonic() - last_busy >= quiet_s:
            break
        time.sleep(1.0)
    return time.monotonic() - began


def in_process(path: Path, database: str, clients: int, rounds: int) -> tuple[Timings, float, Timings]:
    """Child process: WarehouseService (no loader) answering from `clients` threads, with the CPU seconds the
    process (the engine's threads included) spent on it; then from one thread, `SOLO_ROUNDS` passes."""
    from pydantic import SecretStr

    from learnstream.settings import Settings
    from warehouse.requests import parse_filters
    from warehouse.service import WarehouseService

    settings = Settings(clickhouse_dsn=SecretStr(f"chdb://{path}?database={database}"))
    service = WarehouseService(settings, runs_loader=False)
    cache = service.client.query("SELECT getSetting('use_query_cache')").result_rows[0][0]
    if cache:  # serve runs with the engine's default, off in chDB; the baseline must too
        raise RuntimeError("the engine's query cache is on: the figures would not be comparable")
    filters = parse_filters({}, datetime.now(UTC).date())
    version = service.revision().version
    for name in QUERIES:  # one warm-up each, as the API gets below
        service.trends(name, filters, version)
    before = own_cpu_seconds()
    timings = concurrently(clients, rounds, lambda _client, name: service.trends(name, filters, version))
    spent = own_cpu_seconds() - before
    alone = concurrently(1, SOLO_ROUNDS, lambda _client, name: service.trends(name, filters, version))
    return timings, spent, alone


def serve_env(path: Path, database: str, bootstrap: str, work: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LEARNSTREAM_")}
    env.update(
        {
            "LEARNSTREAM_CLICKHOUSE_DSN": f"chdb://{path}?database={database}",
            "LEARNSTREAM_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "LEARNSTREAM_TOPICS__NAMESPACE": f"api{uuid.uuid4().hex[:8]}",
            "LEARNSTREAM_DATA_DIR": str(work),
            "LEARNSTREAM_DEVELOPMENT": "true",
            "LEARNSTREAM_SERVE__WAREHOUSE": "true",
            "LEARNSTREAM_CONNECTORS_FILE": str(work / "none.toml"),
        }
    )
    return env


@dataclass
class HttpRun:
    """What the load generator saw: latencies, the answers' Server-Timing, and its own CPU seconds."""

    timings: Timings
    serve_cpu_s: float  # filled in by the caller, who knows serve's pid
    found: dict[str, int]  # hit / joined / miss, from Server-Timing
    made_ms: list[float]  # serve's query and rendering of every answer it made (not kept ones)
    body_bytes: dict[str, int]
    client_cpu_s: float


def over_http(base: str, clients: int, rounds: int, fresh: bool) -> HttpRun:
    """Child process: `clients` aiohttp connections at once (its C parser: the generator should cost little CPU),
    each going through the queries `rounds` times from its own starting point, every body read. `fresh` sends
    `Cache-Control: no-cache`: serve makes every answer anew, sharing none with a request that came together."""
    import asyncio

    import aiohttp

    names = list(QUERIES)
    timings = Timings.empty()
    found: dict[str, int] = {}
    made: list[float] = []
    sizes: dict[str, int] = {}

    async def ask(session: aiohttp.ClientSession, name: str) -> float:
        began = time.perf_counter()
        headers = {"Cache-Control": "no-cache"} if fresh else {}
        async with session.get(f"/api/v1/trends/{name}", headers=headers) as answer:
            body = await answer.read()
            if answer.status != 200:
                raise RuntimeError(f"{name}: {answer.status} {body[:300]!r}")
            spent = (time.perf_counter() - began) * 1000
            timing = answer.headers.get("Server-Timing", "")
        sizes[name] = len(body)
        how = timing.split('desc="', 1)[1].split('"', 1)[0] if 'desc="' in timing else "?"
        found[how] = found.get(how, 0) + 1
        if how == "miss":
            made.append(float(timing.rsplit("dur=", 1)[1]))
        return spent

    async def client(session: aiohttp.ClientSession, index: int, start: asyncio.Event) -> None:
        await start.wait()
        for turn in range(rounds * len(names)):
            name = names[(index + turn) % len(names)]
            timings.by_query[name].append(await ask(session, name))

    async def run() -> float:
        connector = aiohttp.TCPConnector(limit=clients)
        async with aiohttp.ClientSession(base, connector=connector, timeout=aiohttp.ClientTimeout(300)) as session:
            start = asyncio.Event()
            tasks = [asyncio.ensure_future(client(session, index, start)) for index in range(clients)]
            before = own_cpu_seconds()
            start.set()
            await asyncio.gather(*tasks)
            return own_cpu_seconds() - before

    client_cpu = asyncio.run(run())
    return HttpRun(timings, 0.0, found, made, sizes, client_cpu)


def dashboard_renders(base: str, renders: int) -> list[tuple[float, dict[str, Any]]]:
    """First render of /dashboard in a fresh headless Chromium each time: (ms since navigation, the page's marks)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    results: list[tuple[float, dict[str, Any]]] = []
    for _ in range(renders):
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
            options.add_argument(argument)
        options.add_argument("--window-size=1400,2000")
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            driver.get(f"{base}/dashboard")
            deadline = time.monotonic() + 60
            progress: dict[str, Any] = {}
            while time.monotonic() < deadline:
                progress = driver.execute_script("return window.learnstreamDashboard") or {}
                if progress.get("rendered") or progress.get("error"):
                    break
                time.sleep(0.02)
            if not progress.get("rendered"):
                raise RuntimeError(f"the dashboard did not render: {progress}")
            results.append((float(progress["shownAtMs"]), progress))
        finally:
            driver.quit()
    return results


def met(ok: bool) -> str:
    return "yes" if ok else "NO"


def print_latency(inside: Timings, inside_cpu_s: float, runs: dict[str, HttpRun], clients: int) -> None:
    print(f"-- latency under {clients} concurrent clients, ms (p50 / p95); added = API p95 - in-process p95")
    header = f"{'query':<20} {'n':>4} {'in-process p50':>15} {'p95':>8}"
    for label in runs:
        header += f" | {label + ' p50':>24} {'p95':>8} {'added p95':>10} {'met':>4}"
    print(header)
    rows = [(name, inside.by_query[name], [run.timings.by_query[name] for run in runs.values()]) for name in QUERIES]
    rows.append(("all queries", inside.everything(), [run.timings.everything() for run in runs.values()]))
    for name, mine, theirs in rows:
        line = f"{name:<20} {len(mine):>4} {percentile(mine, 0.5):>15.1f} {percentile(mine, 0.95):>8.1f}"
        for values in theirs:
            added = percentile(values, 0.95) - percentile(mine, 0.95)
            line += (
                f" | {percentile(values, 0.5):>24.1f} {percentile(values, 0.95):>8.1f} {added:>10.1f}"
                f" {met(added <= GOAL_ADDED_MS):>4}"
            )
        print(line)
    answers = len(inside.everything())
    print(f"-- CPU per answer, ms ({os.cpu_count()} cores: as many CPU seconds per second of wall time)")
    print(f"  in-process (engine and rows):        {1000 * inside_cpu_s / answers:7.1f}")
    for label, run in runs.items():
        count = len(run.timings.everything())
        how = ", ".join(f"{key} {value}" for key, value in sorted(run.found.items()))
        print(
            f"  {label:<18} serve {1000 * run.serve_cpu_s / count:7.1f}, load generator"
            f" {1000 * run.client_cpu_s / count:6.1f}   (answers: {how})"
        )
        if run.made_ms:
            print(
                f"  {'':<18} serve's query and rendering of each answer it made: p50"
                f" {percentile(run.made_ms, 0.5):.1f}, p95 {percentile(run.made_ms, 0.95):.1f}"
            )
    sizes = next(iter(runs.values())).body_bytes
    print("-- answer sizes: " + ", ".join(f"{name} {size / 1e6:.2f} MB" for name, size in sizes.items()))


def print_alone(inside: Timings, api: Timings) -> None:
    print(f"-- one client at a time ({SOLO_ROUNDS} passes), ms; every API answer made afresh (no-cache)")
    print(f"{'query':<20} {'in-process p50':>15} {'p95':>8} {'API p50':>9} {'p95':>8} {'added p50':>10} {'p95':>8}")
    rows = [(name, inside.by_query[name], api.by_query[name]) for name in QUERIES]
    rows.append(("all queries", inside.everything(), api.everything()))
    for name, mine, theirs in rows:
        print(
            f"{name:<20} {percentile(mine, 0.5):>15.1f} {percentile(mine, 0.95):>8.1f}"
            f" {percentile(theirs, 0.5):>9.1f} {percentile(theirs, 0.95):>8.1f}"
            f" {percentile(theirs, 0.5) - percentile(mine, 0.5):>10.1f}"
            f" {percentile(theirs, 0.95) - percentile(mine, 0.95):>8.1f}"
        )


def print_renders(renders: Sequence[tuple[float, dict[str, Any]]]) -> None:
    times = [shown for shown, _ in renders]
    print("-- dashboard first render in Chromium (a fresh browser each time), ms from navigation start")
    for index, (shown, progress) in enumerate(renders, 1):
        drawn = ", ".join(f"{name} {ms}" for name, ms in (progress.get("drawMs") or {}).items())
        fetched = progress.get("fetchMs", 0)
        print(
            f"  load {index}: {shown:6.0f}  (answers in {fetched:.0f} ms after the script started; drawing ms: {drawn})"
        )
    worst = max(times)
    print(
        f"  median {statistics.median(times):.0f} ms, worst {worst:.0f} ms; goal every load <= {GOAL_RENDER_MS:.0f} ms:"
        f" {met(worst <= GOAL_RENDER_MS)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=6, help="passes over the 9 queries per client")
    parser.add_argument("--renders", type=int, default=5, help="dashboard loads, each in a fresh browser")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--bootstrap", help="the broker for serve's loader (default: start a local one)")
    parser.add_argument(
        "--warehouse",
        type=Path,
        help="keep the loaded warehouse in this directory and reuse it on later runs (default: a temporary one)",
    )
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    print("== bench/api.py: issue 10's API latency and dashboard render")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(f"machine: {machine()}")
    print(f"events: {args.events:,}, clients: {args.clients}, rounds: {args.rounds} x {len(QUERIES)} queries each")
    print(f"dashboard loads: {args.renders}")
    work = Path(tempfile.mkdtemp(prefix="learnstream-bench-api-"))
    path, database = work / "warehouse", f"bench{uuid.uuid4().hex[:8]}"
    if args.warehouse is not None:
        path, database = args.warehouse.resolve(), "bench"
    context = get_context("spawn")  # chDB holds one data directory per process: each step in its own
    try:
        wanted = f"{args.events} events, seed {args.seed}, classifier {default_classifier().version}"
        marker = path / WAREHOUSE_BUILT
        if args.warehouse is not None and marker.exists() and not marker.read_text().startswith(wanted + ":"):
            print(f"{path} holds other events ({marker.read_text().strip()}): loading it again")
            shutil.rmtree(path)
        if args.warehouse is None or not marker.exists():
            with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                built = pool.submit(build, path, database, args.events, args.seed).result()
            print(built)
            if args.warehouse is not None:
                marker.write_text(f"{wanted}: {built}\n")
        else:
            print(f"reusing {path}: {(path / WAREHOUSE_BUILT).read_text().strip()}")
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            print(pool.submit(prepare, path, database).result())
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            inside, inside_cpu, inside_alone = pool.submit(
                in_process, path, database, args.clients, args.rounds
            ).result()
        runs: dict[str, HttpRun] = {}
        renders: list[tuple[float, dict[str, Any]]] = []
        with local_broker(args.bootstrap) as bootstrap:
            (work / "none.toml").write_text("")
            for label, cache_mb in (("API, every answer made", "0"), ("API, answers kept", "64")):
                env = serve_env(path, database, bootstrap, work)
                env["LEARNSTREAM_API__ANSWER_CACHE_MB"] = cache_mb
                process, base = start_serve(env, work, "/api/v1/status")
                try:
                    for name in QUERIES:  # the warm-up, as in-process got (with answers kept: the views asked)
                        httpx.get(f"{base}/api/v1/trends/{name}", timeout=120).raise_for_status()
                    before = cpu_seconds(process.pid)
                    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                        run = pool.submit(over_http, base, args.clients, args.rounds, cache_mb == "0").result()
                    run.serve_cpu_s = cpu_seconds(process.pid) - before
                    runs[label] = run
                    if cache_mb == "0":  # one client at a time; the first render of a view nobody asked yet
                        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                            alone = pool.submit(over_http, base, 1, SOLO_ROUNDS, True).result()
                        renders = dashboard_renders(base, args.renders)
                finally:
                    process.terminate()
                    process.wait(timeout=60)
        print()
        print_latency(inside, inside_cpu, runs, args.clients)
        print()
        print_alone(inside_alone, alone.timings)
        print()
        print_renders(renders)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
