"""Process faults: the loader SIGKILLed at its failpoints (before an insert, and after it but before the offset
commit), a polling connector SIGKILLed mid-backfill, and serve SIGKILLed while Slack and an LMS post to it.

Each scenario derives the event ids it expects without the pipeline: from the activities it feeds in, from what
the simulated wiki serves (mapped by the connector's own pure mapping), or from the bodies a vendor had
acknowledged (mapped by the receiver's and the LRS's own pure functions), so an activity lost to the fault shows
as missing, not as a smaller expectation.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from pydantic import SecretStr, ValidationError

from bench.synthetic import synthetic_activities
from faults.outcome import Outcome, Scenario, expected_event_ids, settle
from faults.rig import KEYS, SLACK_SECRET, Rig, free_port, topic_size
from learnstream.failpoints import REACHED, VARIABLE
from learnstream.settings import Settings
from schemas.activity import Activity
from schemas.dead_letter import DeadLetterReason
from streams.processing import event_id_for

#: How long a scenario waits for the fault's moment (a failpoint, a share of a backfill) before giving up.
FAULT_WAIT_S = 180.0


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll `condition` until it holds; RuntimeError naming `what` after `timeout_s` (a scenario that cannot
    place its fault must fail loudly, never pass without one)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen within {timeout_s:.0f} s")
        time.sleep(0.05)


def secret_settings(rig: Rig) -> Settings:
    """The rig's settings with the keys its processes get (a receiver built in this process refuses the
    development keys, as serve does), and a data directory of this process's own: a receiver keeps what it learns
    there (Slack channel types), which must not mix with serve's."""
    return rig.settings.model_copy(
        update={
            "pseudonym_key": SecretStr(KEYS["LEARNSTREAM_PSEUDONYM_KEY"]),
            "id_key": SecretStr(KEYS["LEARNSTREAM_ID_KEY"]),
            "data_dir": rig.work / "expected",
        }
    )


# -- the loader killed at a failpoint ---------------------------------------------------------------------------------


def loader_killed_at(failpoint: str, seed: int) -> Callable[[Path, str | None, int], Outcome]:
    """A scenario: serve (which runs the loader) holds at `failpoint` on its first batch; SIGKILL it there, start
    it again without the failpoint, and let the pipeline settle."""

    def run(work: Path, bootstrap: str | None, size: int) -> Outcome:
        lines = synthetic_activities(size, seed=seed)
        label = "lbefore" if failpoint == "loader.before_insert" else "lafter"
        with Rig(work, bootstrap, label=label) as rig:
            serve = rig.start_serve(extra_env={VARIABLE: failpoint})
            rig.start_worker()
            feeder = rig.feed(lines, per_second=size / 10)
            wait_until(lambda: f"{REACHED}{failpoint}" in serve.output(), FAULT_WAIT_S, f"the failpoint {failpoint}")
            # The loader thread is held; serve's HTTP side still answers: what had the warehouse at the kill?
            held = rig.counts(with_ids=False)
            decided = topic_size(rig, rig.settings.topics.names.learning_events)
            if (held.rows > 0) != (failpoint == "loader.after_insert"):  # the fault is not the one named
                raise RuntimeError(f"{held.rows:,} rows in the warehouse at the failpoint {failpoint}")
            serve.env.pop(VARIABLE)
            rig.kill("serve")
            rig.restart("serve")
            ended = max(time.monotonic(), feeder.finish())
            notes = [
                f"the failpoint {failpoint} was reached; serve SIGKILLed there with {held.rows:,} rows in the "
                f"warehouse and {decided:,} learning events on their topic, restarted without the failpoint"
            ]
            outcome = settle(
                rig, f"loader SIGKILL at {failpoint}", len(lines), expected_event_ids(lines), ended, notes=notes
            )
            outcome.notes.extend(loader_notes(failpoint, held.rows, outcome))
            return outcome

    return run


def loader_notes(failpoint: str, rows_at_kill: int, outcome: Outcome) -> list[str]:
    """What the warehouse's figures say about the re-delivered batch."""
    counts = outcome.recovery.counts
    if counts is None:
        return []
    found = [f"at the end: {counts.rows:,} rows for {counts.events:,} current events"]
    if failpoint == "loader.after_insert":
        # the batch stored before the kill came again (its offsets were never committed): a second copy of its
        # rows, unless the insert's deduplication token dropped it (only if the poll boundaries were the same)
        extra = counts.rows - counts.events
        found.append(
            f"the batch of {rows_at_kill:,} rows stored before the kill was delivered again: {extra:,} rows beyond "
            "one per event (kept once by the ReplacingMergeTree under FINAL)"
            if extra
            else "the re-delivered batch added no rows (dropped by its insert deduplication token, or merged)"
        )
    return found


# -- a polling connector killed mid-backfill ---------------------------------------------------------------------------

#: The simulated organisation behind the wiki: its size follows the scenario's; the period reaches past the
#: 90 days recent changes keep, so the backfill starts with revisions and hands over to recent changes.
WIKI_DAYS = 120
WIKI_SEED = 13
#: Changes per person over WIKI_DAYS, about (measured on the simulator; the exact number is derived each run).
WIKI_CHANGES_PER_PERSON = 28
#: A page of the API per batch: small, so the backfill takes many batches and the kill lands between two.
WIKI_BATCH = 50
#: Kill once this share of the expected changes is on the raw topic (inside the revision phase, at this period).
WIKI_KILL_SHARE = 0.15


@dataclass(frozen=True)
class WikiPlan:
    """The simulated wiki's organisation, as `learnstream simulate` is told it, and what its backfill must give."""

    people: int
    start: date
    expected_ids: set[str]
    expected_dead: int
    served: int  # changes the wiki holds (log entries and other namespaces included)


def wiki_plan(size: int) -> WikiPlan:
    """The organisation for about `size` wiki activities, and the event ids its changes must become: the changes
    the simulated wiki serves, rendered as its API renders them and mapped by the connector's own mapping."""
    from cli.simulate import WIKI_NAMESPACES, WIKI_SERVER
    from producers.wiki.mediawiki import UnusableChange, activity_from_api_change
    from producers.wiki.recentchanges import CHANGE_TYPES, RC_PROPS
    from simulator.mediawiki_wire import render_change
    from simulator.organisation import generate_organisation
    from simulator.other_tools import split_wiki
    from simulator.wiki import wiki_changes

    people = max(10, size // WIKI_CHANGES_PER_PERSON)
    start = datetime.now(UTC).date() - timedelta(days=WIKI_DAYS + 3)  # as `simulate` places its period
    org = generate_organisation(people, WIKI_SEED, start, days=WIKI_DAYS)
    changes = [change for tool, change in split_wiki(wiki_changes(org, WIKI_DAYS, WIKI_SEED, start), ("wiki",))]
    page_ids: dict[tuple[int, str], int] = {}
    for change in changes:
        page_ids.setdefault((change.namespace, change.title), len(page_ids) + 1)
    props = set(RC_PROPS.split("|"))
    activities: list[bytes] = []
    dead = 0
    for change in changes:
        if change.server_name is not None or change.namespace not in WIKI_NAMESPACES:
            continue
        if change.type not in CHANGE_TYPES:
            continue
        try:
            row = render_change(change, page_ids, props)
            activity = activity_from_api_change(row, WIKI_SERVER, placeholder_pseudonym)
        except (UnusableChange, ValidationError):  # the connector sets these aside as dead letters
            dead += 1
            continue
        if activity is not None:
            activities.append(activity.to_bytes())
    return WikiPlan(people, start, expected_event_ids(activities), dead, len(changes))


def placeholder_pseudonym(account: str) -> str:
    """A pseudonym of the right shape: an activity's id does not depend on its actor's pseudonym."""
    return "p_" + hashlib.sha256(account.encode("utf-8")).hexdigest()[:24]


def cursor_text(rig: Rig, name: str) -> str:
    """The cursor a connector saved (the file store under the rig's data directory), or '-'."""
    from producers.cursors import cursor_store_from_settings

    store = cursor_store_from_settings(rig.settings)
    try:
        return store.load(name) or "-"
    finally:
        store.close()


def connector_killed_in_backfill(work: Path, bootstrap: str | None, size: int) -> Outcome:
    """The simulator serves a wiki's API; `connect run sim-wiki --backfill-from <its first day>` (following) is
    SIGKILLed once part of the backfill is on the raw topic, and started again as a service manager would: plain
    `connect run sim-wiki`, resuming from the cursor it saved."""
    plan = wiki_plan(size)
    with Rig(work, bootstrap, label="cbackfill") as rig:
        simulation = work / "simulation"
        wiki_port = free_port()
        rig.start(
            "simulator",
            [
                "simulate",
                "--sources",
                "wiki",
                "--people",
                str(plan.people),
                "--days",
                str(WIKI_DAYS),
                "--seed",
                str(WIKI_SEED),
                "--start",
                plan.start.isoformat(),
                "--out",
                str(simulation),
                "--wiki-port",
                str(wiki_port),
                "--serve-apis",
            ],
            lambda child: "serving the simulated APIs" in child.output(),
        )
        # the simulator's connector file, with small API pages (the directory it names is next to it)
        written = (simulation / "connectors.toml").read_text(encoding="utf-8")
        connectors = simulation / "connectors-faults.toml"
        connectors.write_text(
            written.replace('type = "mediawiki"\n', f'type = "mediawiki"\nbatch_size = {WIKI_BATCH}\n'),
            encoding="utf-8",
        )
        if f"batch_size = {WIKI_BATCH}" not in connectors.read_text(encoding="utf-8"):
            raise RuntimeError(f"no mediawiki instance in the simulator's connector file:\n{written}")
        rig.start_serve()
        rig.start_worker()
        raw = rig.settings.topics.names.activity_raw
        expected = len(plan.expected_ids)
        connector = rig.start(
            "connector",
            ["connect", "run", "sim-wiki", "--backfill-from", plan.start.isoformat()],
            extra_env={"LEARNSTREAM_CONNECTORS_FILE": str(connectors)},
        )
        wait_until(
            lambda: topic_size(rig, raw) >= WIKI_KILL_SHARE * expected,
            FAULT_WAIT_S,
            f"{WIKI_KILL_SHARE:.0%} of the backfill on the raw topic",
        )
        code = rig.kill("connector")
        published = topic_size(rig, raw)
        cursor = cursor_text(rig, "sim-wiki")
        if code != -9 or published >= expected or '"phase"' not in cursor:
            raise RuntimeError(
                f"the kill did not land mid-backfill: exit code {code}, {published:,} of {expected:,} records "
                f"published, cursor {cursor} (make WIKI_BATCH smaller)"
            )
        connector.command = [
            part for part in connector.command if part not in ("--backfill-from", plan.start.isoformat())
        ]
        rig.restart("connector")
        ended = time.monotonic()  # the rest of the backfill is part of the recovery
        notes = [
            f"the wiki serves {plan.served:,} changes, {expected:,} of them edits and creations in the namespaces "
            f"read (expected ids derived from the simulator's changes by the connector's mapping)",
            f"connector SIGKILLed mid-backfill with {published:,} records on the raw topic "
            f"({published / max(expected, 1):.0%}), its saved cursor {cursor}",
        ]
        dead = {DeadLetterReason.SOURCE_RECORD_INVALID.value: plan.expected_dead} if plan.expected_dead else None
        outcome = settle(
            rig,
            "connector SIGKILL mid-backfill",
            expected + plan.expected_dead,
            plan.expected_ids,
            ended,
            expected_dead=dead,
            notes=notes,
        )
        outcome.notes.append(
            "restarted as `connect run sim-wiki` (following, from the saved cursor); the raw topic holds "
            f"{topic_size(rig, raw):,} records at the end (re-sent after the cursor: counted once downstream)"
        )
        return outcome


# -- serve killed while Slack and an LMS post to it --------------------------------------------------------------------

#: Slack's retry schedule (0 s, 1 min, 5 min) scaled by this: the retries still span serve's restart here.
SLACK_DELAY_SCALE = 0.2
SLACK_RECEIVER = "faults-slack"
LMS_NAME = "faults-lms"
LMS_SECRET = "fault-suite-lms-secret-0123456789"
LMS_BATCH = 50
#: An LMS sends a batch that got no 2xx again after a pause (Moodle's logstore_xapi: at its next cron run).
LMS_RETRY_S = 2.0
#: Kill serve once this share of the Slack bodies was acknowledged.
SERVE_KILL_SHARE = 0.4


@dataclass
class SlackDeliveries:
    """What the Slack sender did: bodies acknowledged and given up on (by index), requests, retries, statuses,
    and errors the sender itself met."""

    acknowledged: set[int] = field(default_factory=set)
    in_order: list[int] = field(default_factory=list)  # the acknowledged, in the order their answers came
    given_up: set[int] = field(default_factory=set)
    requests: int = 0
    retried: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


class SlackSender(threading.Thread):
    """Posts signed Events API bodies at a steady rate, each delivered as Slack delivers it (the simulator's
    `deliver`: a 3 s timeout, then retries with `X-Slack-Retry-Num`), many in flight at once."""

    def __init__(self, url: str, bodies: Sequence[bytes], secret: bytes, per_second: float) -> None:
        super().__init__(name="faults-slack-sender", daemon=True)
        self.url = url
        self.bodies = bodies
        self.secret = secret
        self.per_second = per_second
        self.done = SlackDeliveries()

    def run(self) -> None:
        try:
            asyncio.run(self._post_all())
        except BaseException as exc:  # reported in the notes: a sender that died silently would fake a pass
            self.done.errors.append(repr(exc))

    async def _post_all(self) -> None:
        from simulator.slack_sender import MAX_RETRIES, SLACK_TIMEOUT_S, Tally, deliver

        connector = aiohttp.TCPConnector(limit=64, keepalive_timeout=60)
        timeout = aiohttp.ClientTimeout(total=SLACK_TIMEOUT_S)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def one(index: int, body: bytes) -> None:
                tally = Tally()
                try:
                    await deliver(session, self.url, body, self.secret, tally, MAX_RETRIES, SLACK_DELAY_SCALE)
                except aiohttp.ClientError as exc:  # not one the simulator's sender retries: note it
                    self.done.errors.append(f"body {index}: {exc!r}")
                self.done.requests += tally.requests
                self.done.retried += tally.retried
                self.done.statuses.update(tally.statuses)
                if tally.acknowledged:
                    self.done.in_order.append(index)
                    self.done.acknowledged.add(index)
                else:
                    self.done.given_up.add(index)

            loop = asyncio.get_running_loop()
            started = loop.time()
            tasks = []
            for index, body in enumerate(self.bodies):
                pause = started + index / self.per_second - loop.time()
                if pause > 0:
                    await asyncio.sleep(pause)
                tasks.append(asyncio.create_task(one(index, body)))
            await asyncio.gather(*tasks)


@dataclass
class StatementDeliveries:
    """What the LMS did: Statements acknowledged (by batch), batches refused for good, failed attempts."""

    acknowledged: list[int] = field(default_factory=list)  # batch indexes
    refused: dict[int, str] = field(default_factory=dict)
    attempts: int = 0
    failed_attempts: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


class StatementSender(threading.Thread):
    """Posts xAPI Statement batches as an LMS does: in order, a batch that got no 2xx (an error status, no answer,
    a refused connection) sent again after a pause until it is acknowledged; a 4xx other than 408/429 is final."""

    def __init__(self, url: str, batches: Sequence[list[dict[str, Any]]], per_second: float) -> None:
        super().__init__(name="faults-lms-sender", daemon=True)
        self.url = url
        self.batches = batches
        self.per_second = per_second
        self.done = StatementDeliveries()

    def run(self) -> None:
        try:
            self._post_all()
        except BaseException as exc:  # reported in the notes
            self.done.errors.append(repr(exc))

    def _post_all(self) -> None:
        headers = {"X-Experience-API-Version": "1.0.3"}
        started = time.monotonic()
        with httpx.Client(timeout=30, auth=(LMS_NAME, LMS_SECRET)) as client:
            for index, batch in enumerate(self.batches):
                pause = started + index / self.per_second - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                deadline = time.monotonic() + 600
                while True:
                    self.done.attempts += 1
                    try:
                        answer = client.post(self.url, json=batch, headers=headers)
                        status: int | None = answer.status_code
                        self.done.statuses[str(status)] += 1
                    except httpx.HTTPError as exc:
                        status = None
                        self.done.statuses[type(exc).__name__] += 1
                    if status is not None and 200 <= status < 300:
                        self.done.acknowledged.append(index)
                        break
                    if status is not None and 400 <= status < 500 and status not in (408, 429):
                        self.done.refused[index] = f"{status} {answer.text[:300]}"
                        break
                    self.done.failed_attempts += 1
                    if time.monotonic() > deadline:
                        self.done.refused[index] = "no 2xx in 600 s"
                        break
                    time.sleep(LMS_RETRY_S)


def slack_envelopes(count: int) -> list[dict[str, Any]]:
    """The first `count` Events API envelopes of a simulated organisation's Slack, for the rig's workspace."""
    from simulator.chat import slack_events
    from simulator.organisation import generate_organisation

    days = 30
    start = datetime.now(UTC).date() - timedelta(days=days + 3)
    people = max(10, count // 250)  # about 300 envelopes per person in 30 days
    org = generate_organisation(people, 15, start, days=days)
    envelopes: list[dict[str, Any]] = []
    for envelope in slack_events(org, days, 15, "T0FAULTS", start):
        envelopes.append(envelope)
        if len(envelopes) == count:
            break
    return envelopes


def lms_statements(count: int) -> list[dict[str, Any]]:
    """The first `count` Statements (in time order) a simulated organisation's LMS sends."""
    from simulator.courses import course_statements
    from simulator.organisation import generate_organisation

    days = 30
    start = datetime.now(UTC).date() - timedelta(days=days + 3)
    people = max(10, count // 8)  # about 10 Statements per learner; everyone takes courses
    org = generate_organisation(people, 16, start, days=days)
    return course_statements(org, days, 16, start, share=1.0)[:count]


def slack_mapping(settings: Settings, connectors: Path, bodies: Sequence[bytes]) -> tuple[list[bytes], int]:
    """The activities and the number of dead letters the rig's Slack receiver makes of these bodies, taken in
    order by one receiver built as serve builds it: what a serve that never died would have published."""
    from producers.chat.slack_events import slack_signature
    from producers.connector_config import load_connector_file
    from producers.contracts import ReceivedRequest
    from producers.registry import ConnectorContext, build_receivers

    file = load_connector_file(connectors)
    environment = {**KEYS, "FAULTS_SLACK_SIGNING_SECRET": SLACK_SECRET}
    quiet = logging.getLogger("producers.registry")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its warning "no directory export" is known: the rig's file names none
    try:
        context = ConnectorContext.load(settings, file, environment)
    finally:
        quiet.setLevel(level)
    activities: list[bytes] = []
    dead = 0
    receiver = build_receivers(file.instance(SLACK_RECEIVER), context)[0]
    for body in bodies:
        now = time.time()
        stamp = str(int(now))
        headers = {
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": slack_signature(SLACK_SECRET.encode(), stamp, body),
        }
        receipt = receiver.receive(ReceivedRequest(headers, body, now))
        activities.extend(record.value for record in receipt.records)
        dead += len(receipt.dead_letters)
    return activities, dead


def expected_from_statements(settings: Settings, statements: Iterable[dict[str, Any]]) -> list[bytes]:
    """The activities the LRS publishes for these Statements: drafted by its own pure Drafter (lrs/drafting.py),
    as serve drafts them (the activity id comes from the Statement id and the LRS's instance)."""
    from lrs.drafting import Request
    from lrs.service import LRS_INSTANCE
    from lrs.workers import DrafterConfig
    from producers.directory import Directory

    key = settings.pseudonym_key.get_secret_value().encode("utf-8")
    drafter = DrafterConfig(Directory([]), key, settings.lrs.authority_home_page, LRS_INSTANCE).drafter()
    body = json.dumps(list(statements)).encode("utf-8")
    draft = drafter.draft(Request("application/json", body, "1.0.3", LMS_NAME, datetime.now(UTC)))
    missing = [item.id for item in draft.statements if item.outgoing is None]
    if missing:
        raise RuntimeError(f"{len(missing)} simulated Statements publish no activity (e.g. {missing[0]})")
    return [item.outgoing.value for item in draft.statements if item.outgoing is not None]


def kinds_of(activities: Iterable[bytes], ids: set[str]) -> Counter[str]:
    """How many of these event ids are of each activity kind (to say what a missing id was)."""
    found: Counter[str] = Counter()
    for value in activities:
        activity = Activity.from_bytes(value)
        if event_id_for(activity) in ids:
            found[str(activity.kind)] += 1
    return found


def serve_killed_under_webhooks(work: Path, bootstrap: str | None, size: int) -> Outcome:
    """Slack posts signed Events API deliveries and an LMS posts Statement batches at a steady rate; SIGKILL serve
    once part of them was acknowledged, restart it on its port; both senders retry as their vendors do."""
    from simulator.slack_sender import serialize_events

    envelopes = slack_envelopes(size * 2 // 3)
    statements = lms_statements(size - len(envelopes))
    bodies = serialize_events(envelopes)
    batches = [statements[start : start + LMS_BATCH] for start in range(0, len(statements), LMS_BATCH)]
    credentials = json.dumps([{"name": LMS_NAME, "secret": LMS_SECRET, "scopes": ["write"]}])
    with Rig(work, bootstrap, label="swebhooks") as rig:
        rig.start_serve(extra_env={"LEARNSTREAM_LRS__CREDENTIALS": credentials})
        rig.start_worker()
        span_s = 20.0
        slack = SlackSender(
            f"{rig.serve_url}/hooks/slack/{SLACK_RECEIVER}", bodies, SLACK_SECRET.encode(), len(bodies) / span_s
        )
        lms = StatementSender(f"{rig.serve_url}/xapi/statements", batches, len(batches) / span_s)
        slack.start()
        lms.start()
        wait_until(
            lambda: len(slack.done.acknowledged) >= SERVE_KILL_SHARE * len(bodies) and bool(lms.done.acknowledged),
            FAULT_WAIT_S,
            f"{SERVE_KILL_SHARE:.0%} of the Slack bodies acknowledged",
        )
        before_kill = len(slack.done.in_order)
        at_kill = (before_kill, len(lms.done.acknowledged), slack.done.requests, lms.done.attempts)
        rig.kill("serve")
        killed = time.monotonic()
        rig.restart("serve")
        down_s = time.monotonic() - killed
        slack.join(900)
        lms.join(900)
        ended = time.monotonic()
        if slack.is_alive() or lms.is_alive():
            raise RuntimeError("a sender was still posting 900 s after serve restarted")
        settings = secret_settings(rig)
        # in the order serve answered them: a reaction counts only once its channel's type is known, and a retried
        # message may be acknowledged after a reaction sent later
        answered = [bodies[i] for i in slack.done.in_order]
        slack_activities, slack_dead = slack_mapping(settings, rig.connectors_file, answered)
        acknowledged_statements = [s for index in lms.done.acknowledged for s in batches[index]]
        xapi_activities = expected_from_statements(settings, acknowledged_statements)
        slack_ids, xapi_ids = expected_event_ids(slack_activities), expected_event_ids(xapi_activities)
        expected = slack_ids | xapi_ids
        notes = [
            f"serve SIGKILLed after {at_kill[0]:,} of {len(bodies):,} Slack bodies and {at_kill[1]:,} of "
            f"{len(batches):,} Statement batches were acknowledged ({at_kill[2]:,} and {at_kill[3]:,} requests "
            f"made); down and back ready in {down_s:.1f} s",
            f"Slack: {len(slack.done.acknowledged):,} bodies acknowledged, {len(slack.done.given_up):,} given up, "
            f"{slack.done.retried:,} retries (X-Slack-Retry-Num) in {slack.done.requests:,} requests, of which "
            f"{slack.done.requests - sum(slack.done.statuses.values()):,} got no answer (connection refused or "
            f"reset, or no answer within Slack's 3 s); answers {dict(sorted(slack.done.statuses.items()))}",
            f"LMS: {len(lms.done.acknowledged):,} of {len(batches):,} batches acknowledged "
            f"({len(acknowledged_statements):,} Statements), {lms.done.failed_attempts:,} failed attempts sent again; "
            f"answers {dict(sorted(lms.done.statuses.items()))}",
            f"expected: {len(slack_ids):,} Slack event ids (from {len(slack_activities):,} activities: edits and "
            f"deletions share their message's id) and {len(xapi_ids):,} xAPI event ids",
        ]
        for error in (slack.done.errors + lms.done.errors)[:5]:
            notes.append(f"sender error: {error}")
        for index, why in list(lms.done.refused.items())[:3]:
            notes.append(f"LMS batch {index} refused: {why}")
        dead = {DeadLetterReason.SOURCE_RECORD_INVALID.value: slack_dead} if slack_dead else None
        outcome = settle(
            rig,
            "serve SIGKILL under webhooks",
            len(bodies) + len(statements),
            expected,
            ended,
            expected_dead=dead,
            notes=notes,
        )
        if not outcome.ok:  # say what the missing or extra ids were
            stored = set(rig.counts(with_ids=True).ids or ())
            if missing := expected - stored:
                kinds = dict(kinds_of([*slack_activities, *xapi_activities], missing))
                outcome.notes.append(f"missing event ids by kind: {kinds}")
            if extra := stored - expected:
                outcome.notes.append(f"{len(extra):,} event ids stored that no acknowledged body maps to")
        return outcome


SCENARIOS = [
    Scenario(
        "loader-kill-before-insert",
        "serve's loader held at loader.before_insert on its first batch; SIGKILL serve, restart it",
        loader_killed_at("loader.before_insert", seed=21),
        in_ci=False,  # the suite's time budget: after-insert, the narrower window, runs in CI
    ),
    Scenario(
        "loader-kill-after-insert",
        "serve's loader held at loader.after_insert (batch stored, offsets not committed); SIGKILL, restart",
        loader_killed_at("loader.after_insert", seed=22),
    ),
    Scenario(
        "connector-kill-backfill",
        "a MediaWiki connector SIGKILLed mid-backfill of the simulated wiki; restarted from its saved cursor",
        connector_killed_in_backfill,
    ),
    Scenario(
        "serve-kill-webhooks",
        "serve SIGKILLed while Slack deliveries and xAPI Statement batches are posted; restarted; senders retry",
        serve_killed_under_webhooks,
    ),
]
