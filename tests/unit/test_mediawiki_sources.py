"""The MediaWiki pull sources against the local MediaWiki (simulator/mediawiki_api.py) speaking the real formats."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from learnstream.errors import ConfigError, SourceUnavailable
from learnstream.settings import HttpSettings
from producers.contracts import Batch, cursor_from_text
from producers.directory import AccountKind, directory_from_csv
from producers.http_client import SourceHttpClient
from producers.identity import IdentityResolver
from producers.wiki.eventstreams import EventStreamsSource, StreamPosition
from producers.wiki.mediawiki import (
    UnusableChange,
    activity_from_api_change,
    activity_from_api_revision,
    checked_recentchange,
)
from producers.wiki.recentchanges import RecentChangesSource, WikiChangesCursor, continuation_point
from schemas.activity import Activity, ActivityKind
from schemas.dead_letter import DeadLetter, DeadLetterReason
from simulator.mediawiki_api import MediaWikiApi
from simulator.mediawiki_wire import WikiChange, render_change, render_revision, stream_event

SERVER = "wiki.example.org"
NOW = datetime(2023, 7, 29, 12, 0, 0, tzinfo=UTC)
KEY = b"unit-test-key"
DIRECTORY = "person_id,team,valid_from,wiki\nhr-1,docs,2023-01-01,Alice\n"
SETTINGS = HttpSettings(timeout_s=5, max_attempts=4, backoff_base_s=0.5, backoff_max_s=30)


def change(rcid: int, at: datetime, **fields: object) -> WikiChange:
    """An edit by Alice on page P<rcid % 3> (revid = 1000 + rcid); keyword arguments override any field."""
    values: dict[str, object] = {
        "rcid": rcid,
        "revid": 1000 + rcid,
        "old_revid": 999 + rcid,
        "type": "edit",
        "namespace": 0,
        "title": f"P{rcid % 3}",
        "user": "Alice",
        "timestamp": at,
        "oldlen": 100,
        "newlen": 120,
        "comment": f"change {rcid}",
    }
    values.update(fields)
    return WikiChange(**values)  # type: ignore[arg-type]


def resolver() -> IdentityResolver:
    return IdentityResolver(directory_from_csv(DIRECTORY), KEY, "mediawiki", SERVER, AccountKind.WIKI)


@pytest.fixture
def wiki() -> Iterator[MediaWikiApi]:
    with MediaWikiApi(SERVER, now=lambda: NOW, heartbeat_s=0.05) as api:
        yield api


def source(api: MediaWikiApi, waits: list[float] | None = None, **options: object) -> RecentChangesSource:
    http = SourceHttpClient(SERVER, api.base_url, SETTINGS, sleep=(waits if waits is not None else []).append)
    return RecentChangesSource(
        "wiki",
        api.api_url,
        SERVER,
        http,
        resolver(),
        batch_size=options.pop("batch_size", 2),
        now=lambda: NOW,
        **options,
    )  # type: ignore[arg-type]


def activities(batches: list[Batch[WikiChangesCursor]] | list[Batch[StreamPosition]]) -> list[Activity]:
    return [Activity.from_bytes(record.value) for batch in batches for record in batch.records]


def letters(batches: list[Batch[WikiChangesCursor]] | list[Batch[StreamPosition]]) -> list[DeadLetter]:
    return [DeadLetter.from_bytes(letter.value) for batch in batches for letter in batch.dead_letters]


class TestRecentChanges:
    def test_pages_through_every_continue_sending_back_each_key(self, wiki):
        wiki.append(*[change(rcid, NOW - timedelta(hours=10 - rcid)) for rcid in range(1, 8)])
        batches = list(source(wiki).read(WikiChangesCursor(timestamp=NOW - timedelta(days=1))))
        assert [a.native_id for a in activities(batches)] == [f"rev/{1000 + rcid}" for rcid in range(1, 8)]
        requests = wiki.api_requests(list="recentchanges")
        assert len(requests) == len(batches) == 4
        assert "rccontinue" not in requests[0].params
        assert [r.params["rccontinue"] for r in requests[1:]] == [
            "20230729050000|3",
            "20230729070000|5",
            "20230729090000|7",
        ]
        assert all(r.params["continue"] == "-||" and r.params["rcdir"] == "newer" for r in requests[1:])
        assert batches[-1].cursor == WikiChangesCursor(timestamp=NOW - timedelta(hours=3), last_id=7)

    def test_a_restart_from_a_saved_cursor_neither_loses_nor_repeats_a_change(self, wiki):
        same_second = NOW - timedelta(hours=1)  # a page ends inside a second: the cursor must tell rcids apart
        wiki.append(
            *[
                change(rcid, same_second if rcid in (2, 3, 4) else NOW - timedelta(hours=9 - rcid))
                for rcid in range(1, 8)
            ]
        )
        first = source(wiki).read(WikiChangesCursor(timestamp=NOW - timedelta(days=1)))
        before = [next(first), next(first), next(first)]
        saved = before[-1].cursor.to_text()
        assert json.loads(saved) == {"phase": "recentchanges", "timestamp": "2023-07-29T11:00:00Z", "last_id": 3}
        after = list(source(wiki).read(cursor_from_text(WikiChangesCursor, saved, "wiki")))
        ids = [a.native_id for a in activities(before) + activities(after)]
        assert ids == [f"rev/{1000 + rcid}" for rcid in [1, 5, 6, 7, 2, 3, 4]]  # the API's order: time, then rcid

    def test_namespace_and_type_filters_and_bot_exclusion_are_sent_to_the_api(self, wiki):
        wiki.append(
            change(1, NOW - timedelta(hours=5), namespace=4, type="new", old_revid=0),
            change(2, NOW - timedelta(hours=4), namespace=1, type="new", old_revid=0),
            change(3, NOW - timedelta(hours=3), namespace=0, type="edit"),
            change(4, NOW - timedelta(hours=2), namespace=0, type="new", old_revid=0, bot=True),
            change(5, NOW - timedelta(hours=1), namespace=0, type="log", revid=0, old_revid=0),
        )
        wanted = source(wiki, namespaces=[0, 4], types=["new"], exclude_bots=True)
        found = activities(list(wanted.read(WikiChangesCursor(timestamp=NOW - timedelta(days=1)))))
        params = wiki.api_requests(list="recentchanges")[0].params
        assert (params["rcnamespace"], params["rctype"], params["rcshow"]) == ("0|4", "new", "!bot")
        assert [(a.native_id, a.kind) for a in found] == [("rev/1001", ActivityKind.PAGE_CREATED)]

    def test_bots_are_flagged_not_dropped_and_log_entries_skipped(self, wiki):
        wiki.append(
            change(1, NOW - timedelta(hours=3), bot=True, minor=True),
            change(2, NOW - timedelta(hours=2), type="log", revid=0, old_revid=0),
            change(3, NOW - timedelta(hours=1), type="new", old_revid=0, oldlen=0, newlen=80),
        )
        src = source(wiki, types=["edit", "new"])
        found = activities(list(src.read(WikiChangesCursor(timestamp=NOW - timedelta(days=1)))))
        assert [(a.native_id, a.attributes["bot"], a.attributes["minor"]) for a in found] == [
            ("rev/1001", True, True),
            ("rev/1003", False, False),
        ]
        assert found[1].kind is ActivityKind.PAGE_CREATED and found[1].attributes["bytes_changed"] == 80
        assert found[0].conversation.id == "0:P1" and found[0].source_instance == SERVER
        assert "rcshow" not in wiki.api_requests(list="recentchanges")[0].params

    def test_a_429_waits_as_long_as_retry_after_says(self, wiki):
        wiki.append(change(1, NOW - timedelta(hours=1)))
        wiki.fail_next(429, retry_after="7")
        waits: list[float] = []
        found = activities(list(source(wiki, waits).read(WikiChangesCursor(timestamp=NOW - timedelta(days=1)))))
        assert waits == [7.0]
        assert [a.native_id for a in found] == ["rev/1001"]
        assert len(wiki.api_requests(list="recentchanges")) == 2

    def test_a_change_the_mapper_cannot_use_is_a_dead_letter_with_its_reason(self, wiki):
        wiki.append(
            change(1, NOW - timedelta(hours=3), userhidden=True),
            change(2, NOW - timedelta(hours=2), extra={"title": 42}),
            change(3, NOW - timedelta(hours=1)),
        )
        batches = list(source(wiki, batch_size=10).read(WikiChangesCursor(timestamp=NOW - timedelta(days=1))))
        dead = letters(batches)
        assert [letter.detail for letter in dead] == [
            "user is missing (hidden: revision-deleted), expected text",
            "title is int 42, expected text",
        ]
        assert {letter.reason for letter in dead} == {DeadLetterReason.SOURCE_RECORD_INVALID}
        assert json.loads(dead[1].original)["rcid"] == 2 and dead[0].source_topic == f"mediawiki:{SERVER}"
        assert [a.native_id for a in activities(batches)] == ["rev/1003"]
        assert batches[-1].cursor.last_id == 3  # the cursor moves past dead letters too

    def test_check_reports_editors_the_directory_cannot_resolve(self, wiki):
        wiki.append(
            change(1, NOW - timedelta(hours=3)),
            change(2, NOW - timedelta(hours=2), user="Bob"),
            change(3, NOW - timedelta(hours=1), user="192.0.2.7", anon=True),
        )
        report = source(wiki, batch_size=10).check()
        assert (report.accounts_seen, report.unresolved_accounts) == (3, 2)
        assert wiki.api_requests(meta="siteinfo")

    def test_check_refuses_an_api_of_another_wiki(self, wiki):
        http = SourceHttpClient(SERVER, wiki.base_url, SETTINGS)
        wrong = RecentChangesSource("wiki", wiki.api_url, "en.wikipedia.org", http, resolver(), now=lambda: NOW)
        with pytest.raises(ConfigError, match=r"answers for 'wiki\.example\.org', not 'en\.wikipedia\.org'"):
            wrong.check()


class TestRevisionBackfill:
    def history(self) -> list[WikiChange]:
        """Ten changes from 180 days ago to 1 day ago; pages created once, edited afterwards."""
        made: list[WikiChange] = []
        for rcid in range(1, 11):
            at = NOW - timedelta(days=200 - 20 * rcid)
            first = rcid <= 3
            kind = "new" if first else "edit"
            made.append(change(rcid, at, type=kind, old_revid=0 if first else 996 + rcid, bot=True))
        return made

    def test_older_than_recent_changes_reach_backfills_revisions_then_switches(self, wiki):
        wiki.append(*self.history())
        src = source(wiki, batch_size=2)
        start = src.start_cursor(NOW - timedelta(days=190))
        assert start.phase == "allrevisions"
        batches = list(src.read(start))
        found = activities(batches)
        assert [a.native_id for a in found] == [f"rev/{1000 + rcid}" for rcid in range(1, 11)]
        phases = [batch.cursor.phase for batch in batches]
        assert phases == sorted(phases)  # every allrevisions batch before every recentchanges one
        switch = next(batch.cursor for batch in batches if batch.cursor.phase == "recentchanges")
        assert switch == WikiChangesCursor(timestamp=NOW - timedelta(days=89), last_id=0)
        backfilled = {
            a.native_id for a, batch in zip(found, batches, strict=False) if batch.cursor.phase == "allrevisions"
        }
        assert backfilled  # revisions older than 90 days came through allrevisions only
        assert all(a.attributes["bot"] is True for a in found)  # the bot group for revisions, the flag for changes
        assert [a.kind for a in found[:3]] == [ActivityKind.PAGE_CREATED] * 3
        revision_requests = wiki.api_requests(list="allrevisions")
        assert revision_requests[0].params["arvend"] == "2023-05-01T11:59:59Z"
        assert wiki.api_requests(list="recentchanges")[0].params["rcstart"] == "2023-05-01T12:00:00Z"

    def test_miser_mode_pages_filtered_empty_still_move_the_cursor(self, wiki):
        wiki.append(*[change(rcid, NOW - timedelta(days=150 - rcid), namespace=1) for rcid in range(1, 6)])
        wiki.append(change(6, NOW - timedelta(days=140)))
        src = source(wiki, batch_size=2, namespaces=[0])
        batches = list(src.read(src.start_cursor(NOW - timedelta(days=160))))
        assert [a.native_id for a in activities(batches)] == ["rev/1006"]
        assert batches[0].records == [] and batches[0].cursor.last_id == 1002  # continue 'ts|1003': before it

    def test_a_revision_has_the_same_activity_id_through_every_path(self):
        pages = {(0, "P1"): 7, (0, "P2"): 8}
        for item in (change(1, NOW), change(2, NOW, type="new", old_revid=0, oldlen=0)):
            ids = {item.revid}
            row = render_change(item, pages, {"title", "ids", "user", "flags", "sizes", "timestamp", "comment"})
            revision = render_revision(item, {"ids", "flags", "user", "timestamp", "size", "comment"})
            page = {"pageid": pages[(0, item.title)], "ns": item.namespace, "title": item.title}
            pseudonymise = resolver()
            via_rc = activity_from_api_change(row, SERVER, pseudonymise)
            via_revisions = activity_from_api_revision(page, revision, SERVER, pseudonymise)
            via_stream = checked_recentchange(stream_event(item, SERVER, 0), pseudonymise)
            assert via_rc is not None and via_stream is not None
            assert via_rc.activity_id == via_revisions.activity_id == via_stream.activity_id
            assert via_rc.native_id == f"rev/{ids.pop()}" and via_rc.kind is via_revisions.kind is via_stream.kind


class TestCursorLogic:
    def test_start_cursor_chooses_the_phase_by_how_far_recent_changes_reach(self, wiki):
        src = source(wiki)
        assert src.start_cursor(NOW - timedelta(days=30)) == WikiChangesCursor(timestamp=NOW - timedelta(days=30))
        assert src.start_cursor(NOW - timedelta(days=95)).phase == "allrevisions"
        assert src.start_cursor(None) == WikiChangesCursor(timestamp=NOW)

    def test_a_cursor_older_than_recent_changes_falls_back_to_the_backfill(self, wiki):
        wiki.append(change(1, NOW - timedelta(days=120)), change(2, NOW - timedelta(days=10)))
        batches = list(source(wiki).read(WikiChangesCursor(timestamp=NOW - timedelta(days=130))))
        assert [a.native_id for a in activities(batches)] == ["rev/1001", "rev/1002"]
        assert wiki.api_requests(list="allrevisions")

    @pytest.mark.parametrize(
        ("token", "point"),
        [
            ("20230729120000|1634567", (datetime(2023, 7, 29, 12, tzinfo=UTC), 1634567)),
            ("2026-03-15 02:10:27+00|7372", (datetime(2026, 3, 15, 2, 10, 27, tzinfo=UTC), 7372)),
            ("garbage", None),
            ("20230729120000|x", None),
        ],
    )
    def test_continuation_points_of_mysql_and_postgresql_wikis(self, token, point):
        assert continuation_point(token) == point

    def test_an_unusable_change_names_its_field(self):
        with pytest.raises(UnusableChange, match="revid is 0, expected a revision id"):
            activity_from_api_change(
                {"type": "edit", "ns": 0, "title": "T", "revid": 0, "user": "A", "timestamp": "2023-07-29T12:00:00Z"},
                SERVER,
                resolver(),
            )


def read_until(src: EventStreamsSource, cursor: StreamPosition, items: int) -> list[Batch[StreamPosition]]:
    """Batches until `items` records and dead letters came (a slow machine only makes it take more batches)."""
    seen: list[Batch[StreamPosition]] = []
    for batch in src.read(cursor):
        seen.append(batch)
        if sum(len(b.records) + len(b.dead_letters) for b in seen) >= items:
            break
    return seen


class TestEventStreams:
    def stream(self, api: MediaWikiApi, waits: list[float] | None = None, **options: object) -> EventStreamsSource:
        return EventStreamsSource(
            "wiki-stream",
            api.stream_url,
            SERVER,
            resolver(),
            SETTINGS,
            max_wait_s=0.2,
            max_batches=options.pop("max_batches", 500),
            now=lambda: NOW,
            sleep=(waits if waits is not None else []).append,
            **options,
        )  # type: ignore[arg-type]

    def test_keeps_its_wiki_and_resumes_after_the_last_event_id(self, wiki):
        wiki.append(
            change(1, NOW),
            change(2, NOW, server_name="de.wikipedia.org"),
            change(3, NOW, namespace=2),
            change(4, NOW + timedelta(seconds=1)),
        )
        src = self.stream(wiki, namespaces=[0])
        first = read_until(src, src.start_cursor(NOW - timedelta(minutes=1)), 2)
        assert [a.native_id for a in activities(first)] == ["rev/1001", "rev/1004"]
        assert wiki.requests[0].params == {"since": "2023-07-29T11:59:00Z"}
        cursor = first[-1].cursor
        expected = [{"topic": "eqiad.mediawiki.recentchange", "partition": 0, "offset": 3}]
        assert json.loads(cursor.last_event_id) == expected
        wiki.append(change(5, NOW + timedelta(seconds=2)))
        again = read_until(src, cursor_from_text(StreamPosition, cursor.to_text(), "wiki-stream"), 1)
        assert wiki.requests[-1].headers["last-event-id"] == cursor.last_event_id
        assert "since" not in wiki.requests[-1].params
        assert [a.native_id for a in activities(again)] == ["rev/1005"]

    def test_a_quiet_stream_yields_empty_batches_that_keep_the_cursor(self, wiki):
        src = self.stream(wiki, max_batches=3)
        offset = '[{"topic": "eqiad.mediawiki.recentchange", "partition": 0, "offset": 9}]'
        cursor = StreamPosition(last_event_id=offset)
        batches = list(src.read(cursor))
        assert len(batches) == 3 and all(not batch.records and batch.cursor == cursor for batch in batches)

    def test_a_malformed_event_is_a_dead_letter(self, wiki):
        wiki.append(change(1, NOW, extra={"timestamp": "yesterday"}), change(2, NOW))
        src = self.stream(wiki)
        batches = read_until(src, src.start_cursor(NOW), 2)
        assert [letter.detail for letter in letters(batches)] == ["timestamp is str 'yesterday', expected an integer"]
        assert [a.native_id for a in activities(batches)] == ["rev/1002"]

    def test_a_busy_or_dropped_stream_is_retried_by_the_http_rules(self, wiki):
        wiki.append(change(1, NOW))
        wiki.fail_next(429, retry_after="5")
        wiki.fail_next(503)
        waits: list[float] = []
        src = self.stream(wiki, waits)
        seen: list[Batch[StreamPosition]] = []
        for batch in src.read(src.start_cursor(NOW)):
            seen.append(batch)
            if batch.records and len(activities(seen)) == 1:
                wiki.close_streams(abruptly=True)  # before the next change, so it comes after the reconnect
                wiki.append(change(2, NOW + timedelta(seconds=1)))
            if len(activities(seen)) == 2:
                break
        assert waits[0] == 5.0 and len(waits) == 3 and 0 <= waits[1] <= 1.0  # 429, 503, then the drop
        assert [a.native_id for a in activities(seen)] == ["rev/1001", "rev/1002"]
        read_first = next(batch.cursor.last_event_id for batch in seen if batch.records)
        assert wiki.requests[-1].headers["last-event-id"] == read_first

    def test_a_stream_that_stays_down_is_unavailable(self, wiki):
        wiki.fail_next(503, times=10)
        with pytest.raises(SourceUnavailable, match=r"kept failing \(status 503\) after 4 tries"):
            list(self.stream(wiki).read(StreamPosition()))

    def test_the_server_ending_the_stream_ends_the_read(self, wiki):
        wiki.append(change(1, NOW))
        src = self.stream(wiki)
        seen: list[Batch[StreamPosition]] = []
        for batch in src.read(src.start_cursor(NOW)):
            seen.append(batch)
            if batch.records:
                wiki.close_streams()
        assert [a.native_id for a in activities(seen)] == ["rev/1001"]
        assert len([r for r in wiki.requests if r.path.startswith("/v2/")]) == 1
