"""The API's pure parts: who may read what, the ETag, the output format, and the OpenAPI description."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from pydantic import SecretStr

from learnstream.errors import BadParameter
from learnstream.settings import ApiToken
from server.api_access import check_access, query_scopes
from server.api_routes import answer_etag, chosen_output, matches
from server.openapi import API_PREFIX, openapi_document, query_list
from warehouse.queries import QUERIES, Filters, Granularity
from warehouse.versions import Revision

READER = ApiToken(name="superset", token=SecretStr("r" * 32), scopes=("trends",))
ONE = ApiToken(name="activity-only", token=SecretStr("o" * 32), scopes=("trends:activity",))
STATUS_ONLY = ApiToken(name="monitor", token=SecretStr("s" * 32), scopes=("status",))
ADMIN = SecretStr("a" * 32)
TOKENS = (READER, ONE, STATUS_ONLY)


def bearer(token: ApiToken | SecretStr) -> str:
    secret = token.token if isinstance(token, ApiToken) else token
    return f"Bearer {secret.get_secret_value()}"


class TestAccess:
    def test_without_tokens_only_this_machine_reads(self) -> None:
        assert check_access(None, "127.0.0.1", (), None, query_scopes("activity")).allowed
        assert check_access(None, "::1", (), None, query_scopes("activity")).allowed
        remote = check_access(None, "10.1.2.3", (), None, query_scopes("activity"))
        assert (remote.allowed, remote.status) == (False, 403)
        assert "LEARNSTREAM_API__TOKENS" in remote.message

    def test_with_tokens_every_request_needs_one_even_from_this_machine(self) -> None:
        missing = check_access(None, "127.0.0.1", TOKENS, None, query_scopes("activity"))
        assert (missing.allowed, missing.status) == (False, 401)
        wrong = check_access("Bearer " + "x" * 32, "127.0.0.1", TOKENS, None, query_scopes("activity"))
        assert (wrong.allowed, wrong.status) == (False, 401)
        basic = check_access("Basic abc", "10.0.0.1", TOKENS, None, query_scopes("activity"))
        assert basic.status == 401

    def test_scopes_decide_what_a_token_reads(self) -> None:
        assert check_access(bearer(READER), "10.0.0.1", TOKENS, None, query_scopes("knowledge-flow")).allowed
        assert check_access(bearer(ONE), "10.0.0.1", TOKENS, None, query_scopes("activity")).allowed
        refused = check_access(bearer(ONE), "10.0.0.1", TOKENS, None, query_scopes("knowledge-flow"))
        assert (refused.allowed, refused.status, refused.client) == (False, 403, "activity-only")
        assert "trends:knowledge-flow" in refused.message
        assert check_access(bearer(STATUS_ONLY), "10.0.0.1", TOKENS, None, ("status",)).allowed
        assert check_access(bearer(STATUS_ONLY), "10.0.0.1", TOKENS, None, query_scopes("activity")).status == 403

    def test_the_admin_token_reads_everything_and_alone_also_closes_the_api(self) -> None:
        assert check_access(bearer(ADMIN), "10.0.0.1", TOKENS, ADMIN, query_scopes("topics")).allowed
        assert check_access(bearer(ADMIN), "10.0.0.1", (), ADMIN, ("status",)).allowed
        assert check_access(None, "127.0.0.1", (), ADMIN, query_scopes("topics")).status == 401

    def test_token_settings_refuse_short_secrets_and_unknown_scopes(self) -> None:
        with pytest.raises(ValueError):
            ApiToken(name="bi", token=SecretStr("short"))
        with pytest.raises(ValueError):
            ApiToken(name="bi", token=SecretStr("x" * 32), scopes=("write",))


class TestAnswers:
    FILTERS = Filters(date(2026, 3, 2), date(2026, 3, 29), Granularity.WEEK, teams=("platform",))
    REVISION = Revision("rules-1", datetime(2026, 3, 30, 8, tzinfo=UTC))

    def test_the_etag_follows_everything_the_answer_depends_on(self) -> None:
        tag = answer_etag("activity", self.FILTERS, self.REVISION, 5, "json")
        assert tag == answer_etag("activity", self.FILTERS, self.REVISION, 5, "json")
        assert tag.startswith('"') and tag.endswith('"')
        others = {
            answer_etag("topics", self.FILTERS, self.REVISION, 5, "json"),
            answer_etag("activity", Filters(date(2026, 3, 2), date(2026, 3, 29)), self.REVISION, 5, "json"),
            answer_etag("activity", self.FILTERS, Revision("rules-2", self.REVISION.rebuilt_at), 5, "json"),
            answer_etag("activity", self.FILTERS, Revision("rules-1", datetime(2026, 3, 31, tzinfo=UTC)), 5, "json"),
            answer_etag("activity", self.FILTERS, Revision("rules-1", None), 5, "json"),
            answer_etag("activity", self.FILTERS, self.REVISION, 7, "json"),
            answer_etag("activity", self.FILTERS, self.REVISION, 5, "csv"),
        }
        assert tag not in others and len(others) == 7

    def test_if_none_match_names_a_tag_or_any(self) -> None:
        assert matches('"abc"', '"abc"')
        assert matches('"x", W/"abc"', '"abc"')
        assert matches("*", '"abc"')
        assert not matches('"abd"', '"abc"') and not matches(None, '"abc"')

    def test_the_output_is_the_format_parameter_else_what_the_client_accepts(self) -> None:
        assert chosen_output(None, "") == "json"
        assert chosen_output(None, "text/csv") == "csv"
        assert chosen_output(None, "application/json, text/csv") == "json"
        assert chosen_output("csv", "application/json") == "csv"
        with pytest.raises(BadParameter) as raised:
            chosen_output("xml", "")
        assert raised.value.parameter == "format"


class TestOpenApi:
    def test_the_description_is_valid_openapi_with_a_path_per_query(self) -> None:
        document = openapi_document("0.1.0")
        validate(document)  # raises with the rule broken
        for name, query in QUERIES.items():
            operation = document["paths"][f"{API_PREFIX}/trends/{name}"]["get"]
            names = {parameter["name"] for parameter in operation["parameters"]}
            assert {"since", "until", "last", "granularity", "format", "classifier_version"} <= names
            assert set(query.filters) <= names
            rows = operation["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["rows"]
            assert set(rows["items"]["required"]) == {*query.dims, *query.measures, "withheld"}

    def test_a_row_schema_accepts_released_and_withheld_rows_and_refuses_others(self) -> None:
        schema = openapi_document("0.1.0")["paths"][f"{API_PREFIX}/trends/knowledge-flow"]["get"]
        rows = schema["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["rows"]
        validator = Draft202012Validator(rows)
        validator.validate([{"asker_team": "a", "answerer_team": "b", "answers": 7, "withheld": []}])
        validator.validate([{"asker_team": "a", "answerer_team": "b", "answers": None, "withheld": ["answers"]}])
        assert not validator.is_valid([{"asker_team": "a", "answerer_team": "b", "answers": "7", "withheld": []}])

    def test_the_query_list_has_only_the_queries_asked_for(self) -> None:
        listed = query_list(["activity", "topics"])["queries"]
        assert [query["name"] for query in listed] == ["activity", "topics"]
        assert listed[0]["path"] == f"{API_PREFIX}/trends/activity"
