"""What the Statement API's filters match, taken from a Statement once, when it is stored. Pure.

`agent` matches a Statement whose actor, or whose object when it is an Agent or Group, is that Agent or identified
Group; `related_agents=true` widens it to the authority, instructor, team and the same places in a SubStatement.
`activity` matches the object's Activity id; `related_activities=true` widens it to the context Activities and a
SubStatement's (xAPI 1.0.3 Communication 2.1.3). Agents and identified Groups are the same when they have the same
objectType and inverse functional identifier; that pair is the key matched here.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

IFIS = ("mbox", "mbox_sha1sum", "openid", "account")


def agent_key(agent: Any) -> str | None:
    """`objectType|identifier` of an Agent or identified Group, or None (an anonymous Group, not an agent)."""
    if not isinstance(agent, dict):
        return None
    kind = agent.get("objectType") or "Agent"
    if kind not in ("Agent", "Group"):
        return None
    mbox = agent.get("mbox")
    if isinstance(mbox, str):
        return _mbox_key(kind, mbox)
    if isinstance(agent.get("mbox_sha1sum"), str):
        return f"{kind}|mbox_sha1sum|{agent['mbox_sha1sum'].lower()}"
    if isinstance(agent.get("openid"), str):
        return f"{kind}|openid|{agent['openid']}"
    account = agent.get("account")
    if isinstance(account, dict):
        return f"{kind}|account|{account.get('homePage')}|{account.get('name')}"
    return None


def identifiers(agent: Any) -> Iterator[str]:
    """The identifiers of an Agent or Group and of a Group's members (as `agent_key` writes them): who it names."""
    if not isinstance(agent, dict):
        return
    key = agent_key(agent)
    if key is not None:
        yield key
    for member in agent.get("member") or []:
        yield from identifiers(member)


def actors(statement: dict[str, Any]) -> list[str]:
    """The keys the `agent` filter matches: the actor's, and the object's when it is an Agent or Group."""
    actor = agent_key(statement.get("actor"))
    target = _object_agent(statement.get("object"))
    if target is None or target == actor:
        return [actor] if actor else []
    return sorted({key for key in (actor, target) if key})


def related_agents(statement: dict[str, Any]) -> list[str]:
    """The keys `related_agents=true` matches: actor, object, authority, instructor, team, and a SubStatement's."""
    found = {agent_key(statement.get("authority"))}
    for part in _with_substatement(statement):
        found.add(agent_key(part.get("actor")))
        found.add(_object_agent(part.get("object")))
        context = part.get("context")
        if isinstance(context, dict):
            found.add(agent_key(context.get("instructor")))
            found.add(agent_key(context.get("team")))
    return sorted(key for key in found if key)


def object_activity(statement: dict[str, Any]) -> str:
    """The object's Activity id, or '' when the object is not an Activity."""
    target = statement.get("object")
    if isinstance(target, dict) and target.get("objectType", "Activity") == "Activity":
        return str(target.get("id", ""))
    return ""


def related_activities(statement: dict[str, Any]) -> list[str]:
    """The Activity ids `related_activities=true` matches: the object's, the context's, and a SubStatement's."""
    found: set[str] = set()
    for part in _with_substatement(statement):
        if activity := object_activity(part):
            found.add(activity)
        context = part.get("context")
        if not isinstance(context, dict):
            continue
        for related in (context.get("contextActivities") or {}).values():
            for item in related if isinstance(related, list) else (related,):
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    found.add(item["id"])
    return sorted(found)


def everyone(statement: dict[str, Any]) -> list[str]:
    """Every agent a Statement names, Group members included, anywhere (for erasure): their keys."""
    found: list[str] = []
    for part in _with_substatement(statement):
        _add_identifiers(part.get("actor"), found)
        _add_identifiers(part.get("object"), found)
        context = part.get("context")
        if not isinstance(context, dict):
            continue
        _add_identifiers(context.get("instructor"), found)
        _add_identifiers(context.get("team"), found)
        agents, groups = context.get("contextAgents"), context.get("contextGroups")
        if agents or groups:
            for entry in (agents or []) + (groups or []):
                if isinstance(entry, dict):
                    _add_identifiers(entry.get("agent") or entry.get("group"), found)
    return sorted(set(found))


def _add_identifiers(agent: Any, found: list[str]) -> None:
    """`identifiers(agent)` appended to `found`, without a generator per Group level (a Statement names several)."""
    if not isinstance(agent, dict):
        return
    key = agent_key(agent)
    if key is not None:
        found.append(key)
    members = agent.get("member")
    if members:
        for member in members:
            _add_identifiers(member, found)


@lru_cache(maxsize=4096)  # a Statement names its actor to three filters, and the same actors act again and again
def _mbox_key(kind: str, mbox: str) -> str:
    address, _, domain = mbox.rpartition("@")
    scheme, _, local = address.partition(":")
    return f"{kind}|mbox|{scheme.lower()}:{local}@{domain.lower()}"  # the domain is not case-sensitive


def _object_agent(target: Any) -> str | None:
    if isinstance(target, dict) and target.get("objectType") in ("Agent", "Group"):
        return agent_key(target)
    return None


def _with_substatement(statement: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    target = statement.get("object")
    if isinstance(target, dict) and target.get("objectType") == "SubStatement":
        return (statement, target)
    return (statement,)
