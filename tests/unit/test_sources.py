"""Connectors against real recordings: a Slack export, Wikimedia recent changes and DATASIM xAPI statements."""

from __future__ import annotations

import json
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from learnstream.errors import ConnectorError
from producers.chat.slack_export import activities_from_export, user_emails_from_export
from producers.directory import AccountKind, directory_from_csv
from producers.elearning.xapi import activity_from_statement
from producers.identity import IdentityResolver
from producers.pseudonymise import account_ids, opaque_account_id, person_pseudonym, pseudonym, pseudonymiser
from producers.wiki.mediawiki import activity_from_recentchange
from schemas import Activity, ActivityKind, ConversationKind, SourceSystem

KEY = b"unit-test-key"
ID_KEY = b"unit-test-id-key"
SLACK_INSTANCE = "mesos-magellan"
XAPI_INSTANCE = "datasim-tccc"
PSEUDONYM = re.compile(r"^p_[0-9a-f]{24}$")
SLACK_USER_ID = re.compile(r"\bU[0-9A-Z]{8}\b")


@pytest.fixture
def slack_zip(shared_data: Path) -> Path:
    return shared_data / "slack-export" / "slack-export-sample.zip"


@pytest.fixture
def slack_messages(slack_zip: Path) -> list[dict[str, Any]]:
    """Every exported message of the recording, as Slack wrote it."""
    with zipfile.ZipFile(slack_zip) as archive:
        return [
            message
            for name in archive.namelist()
            if name.count("/") == 1 and name.endswith(".json")
            for message in json.loads(archive.read(name))
        ]


@pytest.fixture
def slack_user_ids(slack_zip: Path) -> set[str]:
    with zipfile.ZipFile(slack_zip) as archive:
        return {str(user["id"]) for user in json.loads(archive.read("users.json"))}


@pytest.fixture
def slack_activities(slack_zip: Path) -> list[Activity]:
    return slack_export_activities(slack_zip, KEY)


def slack_export_activities(path: Path, key: bytes) -> list[Activity]:
    slack = pseudonymiser(key, "slack", SLACK_INSTANCE), account_ids(ID_KEY, "slack", SLACK_INSTANCE)
    return list(activities_from_export(path, SLACK_INSTANCE, *slack))


@pytest.fixture
def recent_changes(shared_data: Path) -> list[dict[str, Any]]:
    path = shared_data / "wikimedia" / "recentchange-enwiki-2023-07-29.ndjson"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def statements(shared_data: Path) -> list[dict[str, Any]]:
    return json.loads((shared_data / "xapi" / "datasim-tccc-statements.json").read_text(encoding="utf-8"))


def slack_pseudonym(user_id: str) -> str:
    return pseudonym(KEY, "slack", SLACK_INSTANCE, user_id)


class TestSlackExport:
    def test_yields_posts_files_edits_and_reactions(self, slack_activities):
        kinds = [activity.kind for activity in slack_activities]
        assert len(slack_activities) == 152
        assert kinds.count(ActivityKind.MESSAGE) == 147  # 49 by people, 94 by bots, 3 file shares, 1 file comment
        assert kinds.count(ActivityKind.FILE_SHARED) == 3
        assert kinds.count(ActivityKind.MESSAGE_EDITED) == 1
        assert kinds.count(ActivityKind.REACTION) == 1
        assert all(activity.source is SourceSystem.SLACK for activity in slack_activities)
        assert {activity.subject for activity in slack_activities} == {"enrique", "traveling-sailor"}

    def test_first_message_is_mapped_field_for_field(self, slack_activities):
        first = slack_activities[0]
        assert first.native_id == "C0JGLMMNX/1452837352.000006"
        assert first.occurred_at == datetime(2016, 1, 15, 5, 55, 52, 6, tzinfo=UTC)
        assert first.conversation.kind is ConversationKind.THREAD
        assert first.conversation.id == "C0JGLMMNX/1452837352.000006"
        assert first.actor == slack_pseudonym("U0BMQB6JE")
        assert first.counterpart == slack_pseudonym("U0BMYT2FL")  # the leading @mention
        assert first.conversation_key == "slack:mesos-magellan:thread:C0JGLMMNX/1452837352.000006"

    def test_activity_ids_are_unique(self, slack_activities):
        assert len({activity.activity_id for activity in slack_activities}) == len(slack_activities)

    def test_channel_joins_are_skipped(self, slack_messages, slack_activities):
        joins = {message["ts"] for message in slack_messages if message.get("subtype") == "channel_join"}
        assert len(joins) == 8
        seen = {activity.native_id.split("/")[1] for activity in slack_activities}
        assert joins.isdisjoint(seen)
        assert not any(activity.attributes.get("subtype") == "channel_join" for activity in slack_activities)

    def test_bot_messages_are_kept_and_marked(self, slack_messages, slack_activities):
        bot_ts = {message["ts"] for message in slack_messages if message.get("subtype") == "bot_message"}
        posts = {a.native_id.split("/")[1]: a for a in slack_activities if a.kind is ActivityKind.MESSAGE}
        assert len(bot_ts) == 94
        assert all(posts[ts].attributes["bot"] is True for ts in bot_ts)
        assert all("bot" not in activity.attributes for ts, activity in posts.items() if ts not in bot_ts)

    def test_a_file_share_is_a_post_counting_its_files_and_a_file_shared_activity(self, slack_activities):
        posts = [
            a
            for a in slack_activities
            if a.kind is ActivityKind.MESSAGE and a.attributes.get("subtype") == "file_share"
        ]
        shares = [a for a in slack_activities if a.kind is ActivityKind.FILE_SHARED]
        assert len(posts) == 3
        assert all(post.attributes["files"] == 1 and "bot" not in post.attributes for post in posts)
        assert [share.native_id for share in shares] == [
            "C0JL6CGQ2/1459052866.000012/file/F0VNAKDE2",
            "C0JL6CGQ2/1459105865.000017/file/F0VQ4C4BT",
            "C0JL6CGQ2/1459155174.000025/file/F0VRWTJ6S",
        ]
        assert [share.in_reply_to for share in shares] == [post.native_id for post in posts]
        assert all(share.text is None and share.attributes["filetype"] == "javascript" for share in shares)
        assert [share.actor for share in shares] == [post.actor for post in posts]

    def test_an_edited_message_gives_an_edit_with_its_editor_and_time(self, slack_activities):
        (edit,) = [activity for activity in slack_activities if activity.kind is ActivityKind.MESSAGE_EDITED]
        assert edit.native_id == "C0JL6CGQ2/1458972985.000010/edit/1458981134.000000"
        assert edit.in_reply_to == "C0JL6CGQ2/1458972985.000010"
        assert edit.actor == slack_pseudonym("U0BMQB6JE")
        assert edit.occurred_at == datetime.fromtimestamp(1458981134, tz=UTC)

    def test_a_legacy_file_comment_is_a_post_by_the_commenter(self, slack_activities):
        (comment,) = [activity for activity in slack_activities if activity.attributes.get("subtype") == "file_comment"]
        assert comment.actor == slack_pseudonym("U0BMS113R")
        assert comment.kind is ActivityKind.MESSAGE

    def test_reaction_becomes_a_reaction_activity(self, slack_activities):
        (reaction,) = [activity for activity in slack_activities if activity.kind is ActivityKind.REACTION]
        assert reaction.attributes == {"reaction": "botman"}
        assert reaction.actor == slack_pseudonym("U0BMYT2FL")
        assert reaction.counterpart == slack_pseudonym("B0JL6RASU")  # the bot that posted the message
        assert reaction.in_reply_to == "C0JGLMMNX/1459154014.000018"
        account = opaque_account_id(ID_KEY, "slack", SLACK_INSTANCE, "U0BMYT2FL")
        assert reaction.native_id == f"C0JGLMMNX/1459154014.000018/reaction/botman/{account}"
        assert reaction.text is None

    def test_ids_name_no_account_nor_pseudonym_and_survive_a_pseudonym_key_rotation(
        self, slack_zip, slack_activities, slack_user_ids
    ):
        rotated = slack_export_activities(slack_zip, b"a rotated pseudonym key")
        assert [a.activity_id for a in rotated] == [a.activity_id for a in slack_activities]
        assert [a.actor for a in rotated] != [a.actor for a in slack_activities]
        people = {a.actor for a in slack_activities} | {a.counterpart for a in slack_activities if a.counterpart}
        for activity in slack_activities:
            named = [part for part in people | slack_user_ids if part in activity.native_id]
            assert named == [], f"{activity.native_id} names {named}"

    def test_every_person_is_a_pseudonym(self, slack_activities):
        people = [activity.actor for activity in slack_activities]
        people += [activity.counterpart for activity in slack_activities if activity.counterpart]
        assert all(PSEUDONYM.match(person) for person in people)
        assert len(set(people)) >= 4

    def test_no_slack_user_id_appears_anywhere(self, slack_activities, slack_user_ids):
        assert len(slack_user_ids) == 4
        leaked = {
            match
            for activity in slack_activities
            for match in SLACK_USER_ID.findall(activity.to_bytes().decode("utf-8"))
            if match in slack_user_ids
        }
        assert leaked == set(), f"raw Slack user ids leave the connector: {sorted(leaked)}"

    def test_export_users_resolve_through_the_directory_by_their_email(self, tmp_path, slack_zip):
        path = tmp_path / "export.zip"
        with zipfile.ZipFile(slack_zip) as original, zipfile.ZipFile(path, "w") as copy:
            for name in original.namelist():
                data = original.read(name)
                if name == "users.json":
                    users = json.loads(data)
                    users[0]["profile"]["email"] = "Harry@Example.org"  # U0BMYT2FL
                    data = json.dumps(users).encode()
                copy.writestr(name, data)
        emails = user_emails_from_export(path)
        assert emails == {"U0BMYT2FL": "Harry@Example.org"}
        directory = directory_from_csv("person_id,email,team,valid_from\ne7,harry@example.org,data,2026-01-01\n")
        resolver = IdentityResolver(directory, KEY, "slack", SLACK_INSTANCE, AccountKind.SLACK, emails)
        activities = list(
            activities_from_export(path, SLACK_INSTANCE, resolver, account_ids(ID_KEY, "slack", SLACK_INSTANCE))
        )
        harry = [a for a in activities if a.actor == person_pseudonym(KEY, "e7")]
        assert harry and all(a.actor != slack_pseudonym("U0BMYT2FL") for a in activities)
        assert resolver.resolved == {"U0BMYT2FL"}
        assert len(resolver.unresolved) >= 2  # the others are flagged, with source-scoped pseudonyms

    def test_not_a_zip_is_a_connector_error(self, tmp_path):
        path = tmp_path / "export.zip"
        path.write_text("not a zip", encoding="utf-8")
        with pytest.raises(ConnectorError, match="not a readable Slack export ZIP"):
            slack_export_activities(path, KEY)

    def test_zip_without_channels_is_a_connector_error(self, tmp_path):
        path = tmp_path / "export.zip"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("users.json", "[]")
        with pytest.raises(ConnectorError, match=re.escape("has no channels.json")):
            slack_export_activities(path, KEY)


class TestMediaWiki:
    @pytest.fixture
    def wiki_activities(self, recent_changes):
        activities = [
            activity_from_recentchange(event, pseudonymiser(KEY, "mediawiki", event["server_name"]))
            for event in recent_changes
        ]
        return [activity for activity in activities if activity is not None]

    def test_every_edit_becomes_a_page_edit(self, recent_changes, wiki_activities):
        assert len(recent_changes) == 100
        assert len(wiki_activities) == 100
        assert {activity.kind for activity in wiki_activities} == {ActivityKind.PAGE_EDITED}
        assert {activity.source_instance for activity in wiki_activities} == {"en.wikipedia.org"}

    def test_first_edit_is_mapped_field_for_field(self, recent_changes, wiki_activities):
        event, activity = recent_changes[0], wiki_activities[0]
        assert activity.native_id == f"rev/{event['revision']['new']}"
        assert activity.subject == "EFL Championship"
        assert activity.conversation.kind is ConversationKind.PAGE
        assert activity.conversation.id == "0:EFL Championship"
        assert activity.occurred_at == datetime(2023, 7, 29, 7, 51, 39, tzinfo=UTC)
        assert activity.text == event["comment"]
        assert activity.actor == pseudonym(KEY, "mediawiki", "en.wikipedia.org", "87.12.215.232")
        assert activity.attributes["bytes_changed"] == event["length"]["new"] - event["length"]["old"]

    def test_minor_and_bot_flags(self, wiki_activities):
        assert sum(activity.attributes["minor"] is True for activity in wiki_activities) == 7
        assert sum(activity.attributes["bot"] is True for activity in wiki_activities) == 2

    def test_editors_are_pseudonyms(self, recent_changes, wiki_activities):
        assert all(PSEUDONYM.match(activity.actor) for activity in wiki_activities)
        for event, activity in zip(recent_changes, wiki_activities, strict=True):
            assert f'"{event["user"]}"' not in activity.to_bytes().decode("utf-8")

    def test_new_page_is_a_creation(self, recent_changes):
        event = {**recent_changes[0], "type": "new", "revision": {"new": 1}, "length": {"new": 120}}
        activity = activity_from_recentchange(event, pseudonymiser(KEY, "mediawiki", "en.wikipedia.org"))
        assert activity is not None
        assert activity.kind is ActivityKind.PAGE_CREATED
        assert activity.attributes["bytes_changed"] == 120

    @pytest.mark.parametrize("change_type", ["log", "categorize", "external"])
    def test_other_changes_are_ignored(self, recent_changes, change_type):
        event = {**recent_changes[0], "type": change_type}
        assert activity_from_recentchange(event, pseudonymiser(KEY, "mediawiki", "en.wikipedia.org")) is None


class TestXapi:
    def test_a_voiding_statement_retracts_the_event_of_the_statement_it_voids(self, statements):
        from streams.classify import default_classifier
        from streams.processing import learning_event_for

        original = statements[0]
        voiding = {
            "id": "f5a8b0a2-5d0e-4b1c-9a39-0d1b2c3d4e5f",
            "actor": original["actor"],
            "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
            "object": {"objectType": "StatementRef", "id": original["id"]},
            "timestamp": "2024-03-05T10:00:00Z",
        }
        pseudonymise = pseudonymiser(KEY, "xapi", XAPI_INSTANCE)
        stated = learning_event_for(
            activity_from_statement(original, XAPI_INSTANCE, pseudonymise), default_classifier()
        )
        void = activity_from_statement(voiding, XAPI_INSTANCE, pseudonymise)
        assert (void.kind, void.in_reply_to) == (ActivityKind.ITEM_DELETED, original["id"])
        retraction = learning_event_for(void, default_classifier())
        assert retraction.event_id == stated.event_id  # it replaces the voided statement's event ...
        assert (retraction.category.value, retraction.decided_by) == (
            "none",
            "retraction.deleted",
        )  # ... taking it back

    def test_statements_become_statement_activities(self, statements):
        activities = [
            activity_from_statement(statement, XAPI_INSTANCE, pseudonymiser(KEY, "xapi", XAPI_INSTANCE))
            for statement in statements[:300]
        ]
        assert {activity.kind for activity in activities} == {ActivityKind.STATEMENT}
        for statement, activity in zip(statements, activities, strict=False):
            assert activity.native_id == statement["id"]
            assert activity.attributes["verb"] == statement["verb"]["id"]
            assert activity.attributes["object"] == statement["object"]["id"]
            assert PSEUDONYM.match(activity.actor)
            serialized = activity.to_bytes().decode("utf-8")
            assert statement["actor"]["mbox"] not in serialized
            assert statement["actor"]["name"] not in serialized

    def test_first_statement_is_mapped_field_for_field(self, statements):
        activity = activity_from_statement(statements[0], XAPI_INSTANCE, pseudonymiser(KEY, "xapi", XAPI_INSTANCE))
        assert activity.attributes == {
            "verb": "http://adlnet.gov/expapi/verbs/initialized",
            "object": "https://books.allogy.com/v1/tenant/8/media/600b7164-32a3-41a3-9b4d-da32d22f10e0",
            "object_type": "https://w3id.org/xapi/video/activity-type/video",
        }
        assert activity.conversation.kind is ConversationKind.COURSE
        assert activity.conversation.id == "https://xapinet.org/xapi/tc3/cuf/hemorrhage_control/v1"
        assert activity.subject == "SOFT-T Self (routed)"
        assert activity.occurred_at == datetime(2020, 2, 10, 11, 39, 12, 979000, tzinfo=UTC)
        assert activity.actor == pseudonym(KEY, "xapi", XAPI_INSTANCE, "mbox:mailto:steve@example.org")

    def test_statement_without_context_belongs_to_its_object(self, shared_data):
        statement = json.loads((shared_data / "xapi" / "simple-statement.json").read_text(encoding="utf-8"))
        activity = activity_from_statement(statement, XAPI_INSTANCE, pseudonymiser(KEY, "xapi", XAPI_INSTANCE))
        assert activity.conversation.id == "http://example.com/xapi/activity/simplestatement"
        assert activity.attributes["verb"] == "http://example.com/xapi/verbs#sent-a-statement"
        assert activity.subject == "simple statement"

    def test_actor_without_identifier_is_a_connector_error(self, statements):
        statement = {**statements[0], "actor": {"objectType": "Agent", "name": "Steve Stewart"}}
        with pytest.raises(ConnectorError, match="inverse functional identifier"):
            activity_from_statement(statement, XAPI_INSTANCE, pseudonymiser(KEY, "xapi", XAPI_INSTANCE))

    def test_missing_verb_is_a_connector_error(self, statements):
        statement = {key: value for key, value in statements[0].items() if key != "verb"}
        with pytest.raises(ConnectorError, match=re.escape(statements[0]["id"])):
            activity_from_statement(statement, XAPI_INSTANCE, pseudonymiser(KEY, "xapi", XAPI_INSTANCE))

    def test_account_actor_is_identified(self, statements):
        account = {"homePage": "https://lms.acme.example", "name": "4711"}
        statement = {**statements[0], "actor": {"objectType": "Agent", "account": account}}
        activity = activity_from_statement(statement, XAPI_INSTANCE, pseudonymiser(KEY, "xapi", XAPI_INSTANCE))
        assert activity.actor == pseudonym(KEY, "xapi", XAPI_INSTANCE, "account:https://lms.acme.example|4711")


class TestPseudonym:
    def test_stable_for_the_same_key(self):
        first = pseudonym(KEY, "slack", "acme", "U0BMQB6JE")
        assert first == pseudonym(KEY, "slack", "acme", "U0BMQB6JE")
        assert PSEUDONYM.match(first)

    def test_differs_for_another_key(self):
        assert pseudonym(KEY, "slack", "acme", "U0BMQB6JE") != pseudonym(b"another-key", "slack", "acme", "U0BMQB6JE")

    @pytest.mark.parametrize(
        ("source", "instance", "person"),
        [("mattermost", "acme", "U0BMQB6JE"), ("slack", "globex", "U0BMQB6JE"), ("slack", "acme", "U0BMQB6JF")],
    )
    def test_differs_per_source_instance_and_person(self, source, instance, person):
        assert pseudonym(KEY, source, instance, person) != pseudonym(KEY, "slack", "acme", "U0BMQB6JE")

    def test_pseudonymiser_applies_the_pseudonym(self):
        assert pseudonymiser(KEY, "slack", "acme")("U0BMQB6JE") == pseudonym(KEY, "slack", "acme", "U0BMQB6JE")
