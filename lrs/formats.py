"""The `format` of GET /statements (xAPI 1.0.3 Communication 2.1.3): `exact` as stored, `ids` reduced to what
identifies Agents, Groups, Activities and the Verb, `canonical` with one language in each language map of the
Verb and the Activities, chosen by the request's Accept-Language (RFC 2616 14.4, map by map). This LRS keeps no
canonical definitions apart from the Statements, so the canonical ones are those each Statement carries. Pure.
"""

from __future__ import annotations

from typing import Any

from lrs.index import IFIS

COMPONENT_LISTS = ("choices", "scale", "source", "target", "steps")


def in_format(statement: dict[str, Any], output: str, accept_language: str = "") -> dict[str, Any]:
    """A stored Statement as `output` (exact, ids or canonical) asks."""
    if output == "ids":
        return _ids(statement)
    if output == "canonical":
        return _canonical(statement, accepted_languages(accept_language))
    return statement


def accepted_languages(header: str) -> list[str]:
    """The language ranges of an Accept-Language header, most wanted first (q=0 left out)."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        tag, _, parameters = item.strip().partition(";")
        quality = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, position, tag.strip().lower()))
    return [tag for _, _, tag in sorted(ranked)]


def one_language(language_map: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
    """The entry of a language map the ranges choose (a range matches its tag and the tags it prefixes, `*`
    anything); the first entry when none matches, so that exactly one language is returned."""
    if len(language_map) <= 1:
        return language_map
    for wanted_range in wanted:
        for tag, value in language_map.items():
            lowered = tag.lower()
            if wanted_range in ("*", lowered) or lowered.startswith(wanted_range + "-"):
                return {tag: value}
    first = next(iter(language_map))
    return {first: language_map[first]}


def _canonical(statement: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
    result = dict(statement)
    verb = result.get("verb")
    if isinstance(verb, dict) and isinstance(verb.get("display"), dict):
        result["verb"] = {**verb, "display": one_language(verb["display"], wanted)}
    target = result.get("object")
    if isinstance(target, dict):
        if target.get("objectType") == "SubStatement":
            result["object"] = _canonical(target, wanted)
        else:
            result["object"] = _activity(target, wanted)
    context = result.get("context")
    if isinstance(context, dict) and isinstance(context.get("contextActivities"), dict):
        result["context"] = {
            **context,
            "contextActivities": {
                kind: [_activity(item, wanted) for item in items]
                if isinstance(items, list)
                else _activity(items, wanted)
                for kind, items in context["contextActivities"].items()
            },
        }
    return result


def _activity(activity: Any, wanted: list[str]) -> Any:
    if not isinstance(activity, dict) or activity.get("objectType", "Activity") != "Activity":
        return activity
    definition = activity.get("definition")
    if not isinstance(definition, dict):
        return activity
    chosen = dict(definition)
    for key in ("name", "description"):
        if isinstance(chosen.get(key), dict):
            chosen[key] = one_language(chosen[key], wanted)
    for key in COMPONENT_LISTS:
        if isinstance(chosen.get(key), list):
            chosen[key] = [
                {**item, "description": one_language(item["description"], wanted)}
                if isinstance(item, dict) and isinstance(item.get("description"), dict)
                else item
                for item in chosen[key]
            ]
    return {**activity, "definition": chosen}


def _ids(statement: dict[str, Any]) -> dict[str, Any]:
    reduced = dict(statement)
    for key in ("actor", "object", "authority"):
        if isinstance(reduced.get(key), dict):
            reduced[key] = _identified(reduced[key])
    if isinstance(reduced.get("verb"), dict):
        reduced["verb"] = {"id": reduced["verb"]["id"]}
    return reduced


def _identified(target: dict[str, Any]) -> dict[str, Any]:
    kind = target.get("objectType", "Activity")
    if kind == "Activity":
        return {"id": target["id"]} if "id" in target else target
    if kind in ("Agent", "Group"):
        kept = {key: value for key, value in target.items() if key in (*IFIS, "objectType")}
        if kind == "Group" and not any(key in target for key in IFIS):
            kept["member"] = [_identified(member) for member in target.get("member") or []]
        return kept
    if kind == "SubStatement":
        return _ids(target)
    return target
