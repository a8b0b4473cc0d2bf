"""The OpenAPI 3.1 description of the HTTP API, made from the named queries themselves. Pure.

Each named query is its own path (`/api/v1/trends/activity`, …) with its dimensions and measures as the schema of
its rows, so a client generator or a BI connector sees exactly what each answers; the filters are the parameters
`learnstream trends` takes, under the same names.
"""

from __future__ import annotations

from typing import Any

from warehouse.queries import QUERIES, Granularity, TrendQuery
from warehouse.requests import DEFAULT_PERIODS, LISTS

API_PREFIX = "/api/v1"
#: Measures that are shares or durations (numbers); every other measure counts something (integers).
DECIMALS = frozenset({"change_pct", "formal_share", "unanswered_rate", "median_wait_s", "p90_wait_s", "share"})

ERROR = {"$ref": "#/components/schemas/Error"}
FILTER_TEXT = {
    "team": "Only these teams (repeatable); `(unresolved)` is the people the directory does not know.",
    "department": "Only these departments (repeatable).",
    "topic": "Only events tagged with these topics (repeatable).",
    "source": "Only these sources (repeatable): slack, mediawiki, confluence, mattermost, teams, xapi, moodle.",
}


def _parameters(query: TrendQuery) -> list[dict[str, Any]]:
    defaults = ", ".join(f"{periods} {granularity.value}s" for granularity, periods in DEFAULT_PERIODS.items())
    parameters: list[dict[str, Any]] = [
        {
            "name": "since",
            "in": "query",
            "description": f"First day, widened to the start of its period. Default: the last periods ({defaults}).",
            "schema": {"type": "string", "format": "date"},
        },
        {
            "name": "until",
            "in": "query",
            "description": "Last day, widened to the end of its period. Default: today (UTC).",
            "schema": {"type": "string", "format": "date"},
        },
        {
            "name": "last",
            "in": "query",
            "description": "How many periods back to start, when `since` is not given.",
            "schema": {"type": "integer", "minimum": 1},
        },
        {
            "name": "granularity",
            "in": "query",
            "description": "The period; weeks start on Monday.",
            "schema": {"type": "string", "enum": [item.value for item in Granularity], "default": "week"},
        },
    ]
    for name in LISTS:
        if name in query.filters:
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "description": FILTER_TEXT[name],
                    "style": "form",
                    "explode": True,
                    "schema": {"type": "array", "items": {"type": "string", "minLength": 1}},
                }
            )
    parameters += [
        {
            "name": "classifier_version",
            "in": "query",
            "description": "Read this classifier version instead of the active one.",
            "schema": {"type": "string"},
        },
        {
            "name": "format",
            "in": "query",
            "description": "json (default) or csv; `Accept: text/csv` asks for CSV too.",
            "schema": {"type": "string", "enum": ["json", "csv"]},
        },
    ]
    return parameters


def _row_schema(query: TrendQuery) -> dict[str, Any]:
    properties: dict[str, Any] = {name: {"type": "string"} for name in query.dims}
    for name in query.measures:
        kind = "number" if name in DECIMALS else "integer"
        properties[name] = {"type": [kind, "null"], "description": "null when withheld (see `withheld`)"}
    properties["withheld"] = {
        "type": "array",
        "items": {"type": "string", "enum": list(query.measures)},
        "description": "The measures of this row withheld: about fewer than k people, or giving such a figure away.",
    }
    return {"type": "object", "properties": properties, "required": [*query.dims, *query.measures, "withheld"]}


def _answer_schema(query: TrendQuery) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "query": {"const": query.name},
            "title": {"type": "string"},
            "since": {"type": "string", "format": "date"},
            "until": {"type": "string", "format": "date"},
            "granularity": {"type": "string"},
            "filters": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            "classifier_version": {"type": "string"},
            "min_group_size": {"type": "integer", "description": "k: figures about fewer people are withheld"},
            "dimensions": {"type": "array", "items": {"type": "string"}},
            "measures": {"type": "array", "items": {"type": "string"}},
            "rows": {"type": "array", "items": _row_schema(query)},
        },
        "required": ["query", "since", "until", "granularity", "classifier_version", "min_group_size", "rows"],
    }


def _errors(*statuses: str) -> dict[str, Any]:
    text = {
        "304": "Not modified: the answer for this ETag still holds (send If-None-Match).",
        "400": "A parameter is wrong; `parameter` names it.",
        "401": "No API token, or one that is not configured.",
        "403": "The token lacks the scope, or the API answers this machine only.",
        "404": "No such query.",
        "503": "The warehouse cannot be reached.",
    }
    answers: dict[str, Any] = {}
    for status in statuses:
        answers[status] = {"description": text[status]}
        if status != "304":
            answers[status]["content"] = {"application/json": {"schema": ERROR}}
    return answers


def openapi_document(version: str) -> dict[str, Any]:
    """The OpenAPI document of the API; `version` is learnstream's."""
    paths: dict[str, Any] = {}
    for query in QUERIES.values():
        paths[f"{API_PREFIX}/trends/{query.name}"] = {
            "get": {
                "operationId": f"trend_{query.name.replace('-', '_')}",
                "summary": query.title,
                "description": f"Dimensions: {', '.join(query.dims)}; measures: {', '.join(query.measures)}. "
                "Every figure about fewer than k people is null and named in `withheld`. Needs the scope "
                f"`trends` or `trends:{query.name}`.",
                "tags": ["trends"],
                "parameters": _parameters(query),
                "responses": {
                    "200": {
                        "description": "The answer, with ETag, Last-Modified, Cache-Control and Server-Timing "
                        "(whether serve had it kept, and how long it took to make).",
                        "content": {
                            "application/json": {"schema": _answer_schema(query)},
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    **_errors("304", "400", "401", "403", "503"),
                },
            }
        }
    paths[f"{API_PREFIX}/queries"] = {
        "get": {
            "operationId": "list_queries",
            "summary": "The named queries this token may read, with their dimensions, measures and filters",
            "tags": ["trends"],
            "responses": {
                "200": {
                    "description": "The queries",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QueryList"}}},
                },
                **_errors("401", "403"),
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "learnstream trends API",
            "version": version,
            "description": "The named trend queries of learnstream, read-only, with every figure about fewer than "
            "k people withheld (as in `learnstream trends`).",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from LEARNSTREAM_API__TOKENS (none on this machine while none is set)",
                }
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}, "parameter": {"type": "string"}},
                    "required": ["error"],
                },
                "QueryList": {
                    "type": "object",
                    "properties": {
                        "queries": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "name": {"type": "string"},
                                    "title": {"type": "string"},
                                    "dimensions": {"type": "array", "items": {"type": "string"}},
                                    "measures": {"type": "array", "items": {"type": "string"}},
                                    "filters": {"type": "array", "items": {"type": "string"}},
                                    "path": {"type": "string"},
                                },
                            },
                        }
                    },
                },
            },
        },
    }


def query_list(names: list[str]) -> dict[str, Any]:
    """The `/api/v1/queries` answer for the queries a client may read."""
    return {
        "queries": [
            {
                "name": query.name,
                "title": query.title,
                "dimensions": list(query.dims),
                "measures": list(query.measures),
                "filters": sorted(query.filters),
                "path": f"{API_PREFIX}/trends/{query.name}",
            }
            for query in QUERIES.values()
            if query.name in names
        ]
    }
