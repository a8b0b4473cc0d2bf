"""The trends API of `serve` over HTTP, on the real engine: the same documents as `learnstream trends`, CSV,
tokens and scopes, errors that name the parameter, and ETags that change exactly when the figures do."""

from __future__ import annotations

import asyncio
import csv
import io
import random
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from learnstream.settings import ApiSettings, ApiToken, Settings
from server.api_routes import api_routes
from tests.integration.test_trend_privacy import START, VERSION, activity, organisation, store
from warehouse.connection import connect
from warehouse.dsn import parse_dsn
from warehouse.migrations import migrate
from warehouse.queries import Filters, Granularity, run_trend
from warehouse.render import result_document
from warehouse.rollup import mark_days, rebuild_due
from warehouse.service import REVISION_TTL_S, WarehouseService
from warehouse.versions import activate

READER = ApiToken(name="bi", token=SecretStr("r" * 32), scopes=("trends", "status"))
ONE = ApiToken(name="activity-only", token=SecretStr("o" * 32), scopes=("trends:activity",))
API_SETTINGS = ApiSettings(tokens=(READER, ONE), cache_max_age_s=15)
SIX_WEEKS = {"since": START.isoformat(), "until": "2024-05-12", "classifier_version": VERSION}


def bearer(token: ApiToken) -> dict[str, str]:
    return {"Authorization": f"Bearer {token.token.get_secret_value()}"}


class Api:
    """serve's API routes on a real aiohttp server on 127.0.0.1, in a thread of their own, and a client."""

    def __init__(self, service: WarehouseService) -> None:
        app = web.Application()
        app.router.add_routes(api_routes(service))
        self.loop = asyncio.new_event_loop()
        self.server = TestServer(app, host="127.0.0.1")
        self.loop.run_until_complete(self.server.start_server())
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.base = str(self.server.make_url("")).rstrip("/")

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(f"{self.base}{path}", timeout=60, **kwargs)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()


@pytest.fixture
def filled(warehouse) -> tuple[Any, str]:
    client, database = warehouse
    rng = random.Random(7)
    people = organisation(rng)
    store(client, database, people, activity(rng, people, 300))
    return client, database


@pytest.fixture
def api(settings: Settings, filled) -> Iterator[Api]:
    """The API over this test's own database, for tests that change the figures."""
    server = Api(WarehouseService(settings.model_copy(update={"api": API_SETTINGS}), runs_loader=False))
    yield server
    server.close()


@pytest.fixture(scope="module")
def reading(warehouse_path: Path) -> Iterator[tuple[Api, Any, str]]:
    """One filled database and its API for the tests that only read: (api, client, database)."""
    database = f"test_api_{uuid.uuid4().hex[:10]}"
    settings = Settings(clickhouse_dsn=SecretStr(f"chdb://{warehouse_path}?database={database}"), api=API_SETTINGS)
    client = connect(parse_dsn(settings.warehouse_dsn))
    migrate(client, database)
    rng = random.Random(7)
    people = organisation(rng)
    store(client, database, people, activity(rng, people, 300))
    server = Api(WarehouseService(settings, runs_loader=False))
    yield server, client, database
    server.close()
    client.command(f"DROP DATABASE IF EXISTS {database}")


def test_answers_are_the_documents_of_the_named_queries(reading: tuple[Api, Any, str]) -> None:
    api, client, database = reading
    for name in ("activity", "knowledge-flow", "source-mix"):
        answer = api.get(f"/api/v1/trends/{name}", params={**SIX_WEEKS, "team": "team1"}, headers=bearer(READER))
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/json")
        filters = Filters(START, date(2024, 5, 12), Granularity.WEEK, teams=("team1",))
        expected = result_document(run_trend(client, database, name, filters, VERSION, 5))
        assert answer.json() == expected
    assert any(
        row["events"] is not None
        for row in api.get("/api/v1/trends/activity", params=SIX_WEEKS, headers=bearer(READER)).json()["rows"]
    )


def test_csv_by_parameter_or_by_accept(reading: tuple[Api, Any, str]) -> None:
    api = reading[0]
    by_parameter = api.get("/api/v1/trends/source-mix", params={**SIX_WEEKS, "format": "csv"}, headers=bearer(READER))
    by_accept = api.get("/api/v1/trends/source-mix", params=SIX_WEEKS, headers={**bearer(READER), "Accept": "text/csv"})
    for answer in (by_parameter, by_accept):
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(answer.text)))
        assert rows and set(rows[0]) == {"period", "source", "events", "withheld"}
    assert by_parameter.text == by_accept.text


def test_tokens_and_scopes(reading: tuple[Api, Any, str]) -> None:
    api = reading[0]
    missing = api.get("/api/v1/trends/activity", params=SIX_WEEKS)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in missing.json()["error"]
    wrong = api.get("/api/v1/trends/activity", params=SIX_WEEKS, headers={"Authorization": "Bearer " + "x" * 32})
    assert wrong.status_code == 401
    assert api.get("/api/v1/trends/activity", params=SIX_WEEKS, headers=bearer(ONE)).status_code == 200
    refused = api.get("/api/v1/trends/topics", params=SIX_WEEKS, headers=bearer(ONE))
    assert refused.status_code == 403 and "trends:topics" in refused.json()["error"]
    listed = api.get("/api/v1/queries", headers=bearer(ONE)).json()["queries"]
    assert [query["name"] for query in listed] == ["activity"]
    assert len(api.get("/api/v1/queries", headers=bearer(READER)).json()["queries"]) == 9
    assert api.get("/api/v1/status", headers=bearer(ONE)).status_code == 403
    status = api.get("/api/v1/status", headers=bearer(READER)).json()
    assert status["loader"] == "a process of its own" and status["min_group_size"] == 5
    spec = api.get("/api/v1/openapi.json")  # the description is public: it holds no figure
    assert spec.status_code == 200 and "/api/v1/trends/activity" in spec.json()["paths"]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"granularity": "fortnight"}, "granularity"),
        ({"colour": "red"}, "colour"),
        ({"since": "2024-05-01", "until": "2024-04-01"}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"last": "0"}, "last"),
        ({"format": "xml"}, "format"),
        ({"team": ""}, "team"),
    ],
)
def test_a_wrong_parameter_is_a_400_that_names_it(
    reading: tuple[Api, Any, str], params: dict[str, str], parameter: str
) -> None:
    api = reading[0]
    answer = api.get("/api/v1/trends/activity", params=params, headers=bearer(READER))
    assert answer.status_code == 400, answer.text
    assert answer.json()["parameter"] == parameter and f"parameter {parameter}" in answer.json()["error"]


def test_an_unknown_query_is_a_404_naming_the_queries(reading: tuple[Api, Any, str]) -> None:
    api = reading[0]
    answer = api.get("/api/v1/trends/popularity", headers=bearer(READER))
    assert answer.status_code == 404 and "knowledge-flow" in answer.json()["error"]


def test_the_etag_holds_until_the_figures_change(filled, api: Api) -> None:
    client, database = filled
    first = api.get("/api/v1/trends/activity", params=SIX_WEEKS, headers=bearer(READER))
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "private, max-age=15"
    assert "Authorization" in first.headers["Vary"] and first.headers["Last-Modified"].endswith("GMT")
    again = api.get("/api/v1/trends/activity", params=SIX_WEEKS, headers={**bearer(READER), "If-None-Match": etag})
    assert again.status_code == 304 and again.headers["ETag"] == etag and not again.content
    other = api.get("/api/v1/trends/activity", params={**SIX_WEEKS, "team": "team0"}, headers=bearer(READER))
    assert other.headers["ETag"] != etag
    mark_days(client, database, [START])  # a rebuild changes what the tables hold, so the tag changes
    rebuild_due(client, database)
    time.sleep(REVISION_TTL_S)  # the revision is read at most once a second
    rebuilt = api.get("/api/v1/trends/activity", params=SIX_WEEKS, headers={**bearer(READER), "If-None-Match": etag})
    assert rebuilt.status_code == 200 and rebuilt.headers["ETag"] != etag


def test_the_active_classifier_version_is_read_and_changes_the_tag(filled, api: Api) -> None:
    client, database = filled
    params = {"since": SIX_WEEKS["since"], "until": SIX_WEEKS["until"]}
    before = api.get("/api/v1/trends/activity", params=params, headers=bearer(READER))
    activate(client, database, VERSION)  # the settings' classifier is not VERSION: nothing was read before
    time.sleep(REVISION_TTL_S)
    after = api.get("/api/v1/trends/activity", params=params, headers=bearer(READER))
    assert before.json()["classifier_version"] != VERSION and before.json()["rows"] == []
    assert after.json()["classifier_version"] == VERSION and after.json()["rows"]
    assert after.headers["ETag"] != before.headers["ETag"]


def test_serve_keeps_an_answer_until_the_figures_change(filled, api: Api) -> None:
    client, database = filled
    params = {**SIX_WEEKS, "team": "team1"}
    first = api.get("/api/v1/trends/activity", params=params, headers=bearer(READER))
    again = api.get("/api/v1/trends/activity", params=params, headers=bearer(READER))
    assert 'cache;desc="miss"' in first.headers["Server-Timing"]
    assert 'cache;desc="hit"' in again.headers["Server-Timing"]
    assert again.content == first.content and again.headers["ETag"] == first.headers["ETag"]
    rng = random.Random(8)  # other activity, stored and rebuilt: the kept answer must not be served again
    people = organisation(rng)
    store(client, database, people, activity(rng, people, 600))
    time.sleep(REVISION_TTL_S)
    changed = api.get("/api/v1/trends/activity", params=params, headers=bearer(READER))
    assert 'cache;desc="miss"' in changed.headers["Server-Timing"]
    filters = Filters(START, date(2024, 5, 12), Granularity.WEEK, teams=("team1",))
    assert changed.json() == result_document(run_trend(client, database, "activity", filters, VERSION, 5))
    assert changed.json() != first.json()
    kept = api.get("/api/v1/status", headers=bearer(READER)).json()["answer_cache"]
    assert (kept["hits"], kept["misses"], kept["entries"]) == (1, 2, 2)
