"""xAPI Statement validation as a Learning Record Store must apply it (xAPI 1.0.3 Data 2.2-2.4 and 4, xAPI 2.0).

Pure functions over parsed JSON: `statement_violations` lists everything wrong with one Statement, for the
version the client sent in X-Experience-API-Version; `batch_violations` does the same for a request body and
adds duplicate ids. An empty list means the LRS must accept the Statement as far as its content goes (whether a
voided target exists or is itself a voiding Statement is for the store to decide).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from learnstream.errors import BadParameter
from lrs.iso8601 import is_duration, timestamp_problem
from lrs.language_tags import is_language_tag

#: The verb of a voiding Statement, whose object is a StatementRef to the Statement it voids (Data 2.3.2).
VOIDED = "http://adlnet.gov/expapi/verbs/voided"

#: The usageType of the attachment that carries a Statement's JSON web signature (Data 2.6).
SIGNATURE = "http://adlnet.gov/expapi/attachments/signature"

IFIS = ("mbox", "mbox_sha1sum", "openid", "account")
#: The interaction component lists each interactionType supports (Data 2.4.4.1, Interaction Components).
COMPONENT_LISTS: dict[str, frozenset[str]] = {
    "choice": frozenset({"choices"}),
    "sequencing": frozenset({"choices"}),
    "likert": frozenset({"scale"}),
    "matching": frozenset({"source", "target"}),
    "performance": frozenset({"steps"}),
}
ALL_COMPONENT_LISTS = ("choices", "scale", "source", "target", "steps")
INTERACTION_TYPES = frozenset({*COMPONENT_LISTS, "true-false", "fill-in", "long-fill-in", "numeric", "other"})
CONTEXT_ACTIVITY_TYPES = ("parent", "grouping", "category", "other")

_STATEMENT_KEYS = frozenset(
    {"id", "actor", "verb", "object", "result", "context", "timestamp", "stored", "authority", "version", "attachments"}
)
_NOT_IN_SUBSTATEMENT = ("id", "stored", "version", "authority")
_SUBSTATEMENT_KEYS = (_STATEMENT_KEYS - set(_NOT_IN_SUBSTATEMENT)) | {"objectType"}
_SUBSTATEMENT_CHECKED_KEYS = _SUBSTATEMENT_KEYS | set(_NOT_IN_SUBSTATEMENT)  # those get their own rule, not unknown-key
_AGENT_KEYS = frozenset({"objectType", "name", *IFIS})
_GROUP_KEYS = _AGENT_KEYS | {"member"}
_DEFINITION_KEYS = frozenset(
    {"name", "description", "type", "moreInfo", "extensions", "interactionType", "correctResponsesPattern"}
).union(ALL_COMPONENT_LISTS)
_CONTEXT_KEYS = frozenset(
    {"registration", "instructor", "team", "contextActivities", "revision", "platform", "language", "statement"}
).union({"extensions"})
_CONTEXT_KEYS_2_0 = _CONTEXT_KEYS | {"contextAgents", "contextGroups"}
_ATTACHMENT_KEYS = frozenset({"usageType", "display", "description", "contentType", "length", "sha2", "fileUrl"})
_VERB_KEYS = frozenset({"id", "display"})
_ACTIVITY_KEYS = frozenset({"objectType", "id", "definition"})
_STATEMENT_REF_KEYS = frozenset({"objectType", "id"})
_ACCOUNT_KEYS = frozenset({"homePage", "name"})
_COMPONENT_KEYS = frozenset({"id", "description"})
_RESULT_KEYS = frozenset({"score", "success", "completion", "response", "duration", "extensions"})
_SCORE_KEYS = frozenset({"scaled", "raw", "min", "max"})
_CONTEXT_ACTIVITIES_KEYS = frozenset(CONTEXT_ACTIVITY_TYPES)
_CONTEXT_AGENT_KEYS = {member: frozenset({"objectType", member, "relevantTypes"}) for member in ("agent", "group")}
_AGENT_OR_GROUP_KEYS = frozenset({*IFIS, "member"})  # an object with one of these is an Agent or a Group

# RFC 3987: a scheme, then something without spaces, controls or the characters IRIs exclude, where "%" starts two
# hex digits; at most one "#" (the fragment).
_IRI_CHAR = r"""(?:[^\x00-\x20\x7f-\x9f<>"{}|\\^`%#]|%[0-9A-Fa-f]{2})"""
_IRI = re.compile(rf"[A-Za-z][A-Za-z0-9+.\-]*:(?!\Z){_IRI_CHAR}*(?:#{_IRI_CHAR}*)?")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_MAILTO = re.compile(r"(?i:mailto):[^@\s]+@[^@\s]+")  # a scheme is case-insensitive (RFC 3986)
_SHA1 = re.compile(r"[0-9a-fA-F]{40}")
_SHA2 = re.compile(r"[0-9a-fA-F]{56}|[0-9a-fA-F]{64}|[0-9a-fA-F]{96}|[0-9a-fA-F]{128}")  # SHA-224/256/384/512
_MEDIA_TYPE = re.compile(r"[\w!#$&^.+-]+/[\w!#$&^.+-]+(?:\s*;.*)?", re.ASCII)  # RFC 2046 type/subtype;params
_VERSION_1_0 = re.compile(r"1\.0(?:\.\d+)?")
_VERSION_2_0 = re.compile(r"(?:1|2)\.0(?:\.\d+)?")


@dataclass(frozen=True)
class Violation:
    """One way a Statement breaks the xAPI spec: where (a property path), which rule, and a sentence saying why."""

    path: str
    rule: str
    message: str


def statement_violations(statement: object, version: str = "1.0.3") -> list[Violation]:
    """Everything wrong with one Statement under the rules of `version` (X-Experience-API-Version); [] if valid."""
    check = _StatementCheck(version)
    check.statement(statement)
    return check.found


def batch_violations(body: object, version: str) -> list[tuple[int, Violation]]:
    """The violations of a PUT/POST body (one Statement, index 0, or a list), by index, with duplicate ids."""
    if not isinstance(body, list):
        return [(0, violation) for violation in statement_violations(body, version)]
    found: list[tuple[int, Violation]] = []
    first_index: dict[str, int] = {}
    for index, statement in enumerate(body):
        found.extend((index, violation) for violation in statement_violations(statement, version))
        statement_id = statement.get("id") if isinstance(statement, dict) else None
        if isinstance(statement_id, str) and _UUID.fullmatch(statement_id):
            key = statement_id.lower()  # UUIDs compare by value; hex case does not matter
            if key in first_index:
                message = f"id {statement_id} is already used by Statement {first_index[key]} of this batch."
                found.append((index, Violation("id", "duplicate-id", message)))
            else:
                first_index[key] = index
    return found


def voided_statement_id(statement: object) -> str | None:
    """The id a voiding Statement points at, or None for any other Statement (or one too broken to tell)."""
    if not isinstance(statement, dict):
        return None
    verb, target = statement.get("verb"), statement.get("object")
    if not (isinstance(verb, dict) and verb.get("id") == VOIDED and isinstance(target, dict)):
        return None
    target_id = target.get("id")
    return target_id if target.get("objectType") == "StatementRef" and isinstance(target_id, str) else None


@lru_cache(maxsize=64)
def is_2_0(version: str) -> bool:
    """Whether an X-Experience-API-Version value asks for the 2.0 rules (True) or the 1.0 rules (False)."""
    if _VERSION_1_0.fullmatch(version):
        return False
    if version == "2.0" or (version.startswith("2.0.") and version[4:].isdigit()):
        return True
    raise BadParameter("X-Experience-API-Version", f"{version!r} is not a supported xAPI version; send 1.0.3 or 2.0.0")


def _join(path: str, key: object) -> str:
    """The path of a property inside the object at `path`."""
    return f"{path}.{key}" if path else str(key)


def _is_number(value: object) -> bool:
    """A JSON number: not a boolean (Python's bool is an int), not NaN or infinite."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) or math.isfinite(value)


# Verb ids, activity ids and types and extension keys repeat from Statement to Statement, so the answers for the
# short ones are kept (4096 of at most 512 characters: a few MB at worst).
_REMEMBERED_IRI_LENGTH = 512


def _is_iri(value: str) -> bool:
    """Best-effort absolute IRI check (Data 2.2 allows it): a scheme, something after it, no forbidden characters."""
    if len(value) <= _REMEMBERED_IRI_LENGTH:
        return _is_remembered_iri(value)
    return _IRI.fullmatch(value) is not None


@lru_cache(maxsize=4096)
def _is_remembered_iri(value: str) -> bool:
    """`_is_iri` for a value of at most _REMEMBERED_IRI_LENGTH characters, remembered."""
    return _IRI.fullmatch(value) is not None


def _matches(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    """A test that the whole of a string matches `pattern`."""
    return lambda text: pattern.fullmatch(text) is not None


_is_media_type = _matches(_MEDIA_TYPE)
_is_sha2 = _matches(_SHA2)


def _object_type(value: object) -> str | None:
    """The objectType a Statement's object declares, "Activity" when it declares none."""
    if not isinstance(value, dict):
        return None
    declared = value.get("objectType", "Activity")
    return declared if isinstance(declared, str) else None


class _StatementCheck:
    """Walks one Statement and collects its violations; one method per kind of xAPI object."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.v2 = is_2_0(version)
        self.found: list[Violation] = []

    def add(self, path: str, rule: str, message: str) -> None:
        """Record one violation."""
        self.found.append(Violation(path, rule, message))

    # --- shapes shared by every object ---------------------------------------------------------------------------

    def fields(
        self, value: object, path: str, kind: str, allowed: frozenset[str], required: tuple[str, ...] = ()
    ) -> dict[str, Any] | None:
        """The known, non-null properties of a JSON object; reports unknown keys, nulls and missing properties.

        When nothing is wrong with the keys and values this is `value` itself, so callers must not change it.
        """
        if not isinstance(value, dict):
            self.add(path, "type", f"{kind} must be a JSON object, not {type(value).__name__}.")
            return None
        present: dict[str, Any]
        if allowed.issuperset(value) and None not in value.values():
            present = value  # the common case: no unknown keys, no nulls
        else:
            present = {}
            for key, item in value.items():
                if key not in allowed:
                    message = f"{key!r} is not a property of {kind} in xAPI {self.version}."
                    self.add(_join(path, key), "unknown-key", message)
                elif item is None:
                    self.add(_join(path, key), "null", f"{key} must not be null.")
                else:
                    present[key] = item
        for key in required:
            if key not in value:
                self.add(_join(path, key), "required", f"{kind} must have the property {key}.")
        return present

    def string(self, value: object, path: str) -> bool:
        """Report a value that is not a JSON string."""
        if isinstance(value, str):
            return True
        self.add(path, "type", f"{path} must be a string, not {type(value).__name__}.")
        return False

    def array(self, value: object, path: str) -> list[Any]:
        """The items of a JSON array, reporting anything else (then no items)."""
        if isinstance(value, list):
            return value
        self.add(path, "type", f"{path} must be an array, not {type(value).__name__}.")
        return []

    def formatted(self, value: object, path: str, valid: Callable[[str], bool], rule: str, message: str) -> None:
        """A string in a particular format (IRI, UUID, duration...); `message` says which."""
        if self.string(value, path) and not valid(str(value)):
            self.add(path, rule, message)

    def iri(self, value: object, path: str, rule: str = "iri") -> None:
        """An absolute IRI (rule "iri") or IRL (rule "irl"): a string with a scheme such as http:."""
        if not isinstance(value, str):
            self.string(value, path)  # reports the type
        elif not _is_iri(value):
            self.add(path, rule, f"{path} must be an absolute {rule.upper()} with a scheme.")

    def uuid(self, value: object, path: str) -> None:
        """A UUID in the standard string form 8-4-4-4-12 hex digits (RFC 4122; any version, any case)."""
        if not isinstance(value, str):
            self.string(value, path)  # reports the type
        elif not _UUID.fullmatch(value):
            self.add(path, "uuid", f"{path} must be a UUID such as fd41c918-b88b-4b20-a0a5-a4c32391aaa0.")

    def timestamp(self, value: object, path: str) -> None:
        """An ISO 8601 timestamp; xAPI 2.0 also wants its time zone."""
        if not isinstance(value, str):
            self.string(value, path)  # reports the type
        elif problem := timestamp_problem(value, zone_required=self.v2):
            self.add(path, "timestamp", f"{path} {value!r} {problem}.")

    def language_map(self, value: object, path: str) -> None:
        """An object from RFC 5646 language tags to strings."""
        if not isinstance(value, dict):
            self.add(path, "type", f"{path} must be a language map (an object of language tag to string).")
            return
        for tag, text in value.items():
            if isinstance(text, str) and is_language_tag(str(tag)):
                continue  # the common case: nothing to report, so no path to build
            where = _join(path, tag)
            if not is_language_tag(str(tag)):
                self.add(where, "language-tag", f"{tag!r} in {path} is not an RFC 5646 language tag such as en-US.")
            if text is None:
                self.add(where, "null", f"{where} must not be null.")
            else:
                self.string(text, where)

    def extensions(self, value: object, path: str) -> None:
        """An object whose keys are IRIs; its values are anything, null included (Data 4.1)."""
        if not isinstance(value, dict):
            self.add(path, "type", f"{path} must be an object of IRI to any JSON value.")
            return
        for key in value:
            if not _is_iri(str(key)):
                self.add(_join(path, key), "extension-key", f"extension key {key!r} must be an absolute IRI.")

    # --- the Statement ------------------------------------------------------------------------------------------

    def statement(self, value: object) -> None:
        """A Statement (Data 2.4): actor, verb and object, and the optional properties the LRS may receive."""
        present = self.fields(value, "", "a Statement", _STATEMENT_KEYS, ("actor", "verb", "object"))
        if present is None:
            return
        if "id" in present:
            self.uuid(present["id"], "id")
        if "stored" in present:
            self.timestamp(present["stored"], "stored")
        if "version" in present:
            self.statement_version(present["version"], "version")
        if "authority" in present:
            self.authority(present["authority"], "authority")
        self.statement_body(present, "")

    def substatement(self, value: dict[str, Any], path: str) -> None:
        """A SubStatement (Data 2.4.4.3): a Statement without id, stored, version or authority, and not nested."""
        present = self.fields(value, path, "a SubStatement", _SUBSTATEMENT_CHECKED_KEYS, ("actor", "verb", "object"))
        if present is None:
            return
        present = dict(present)  # a copy: `fields` may return `value` itself, and this drops a nested SubStatement
        for key in _NOT_IN_SUBSTATEMENT:
            if key in present:
                self.add(f"{path}.{key}", "substatement", f"a SubStatement must not have {key}.")
        if _object_type(present.get("object")) == "SubStatement":
            self.add(f"{path}.object", "substatement", "a SubStatement must not contain a SubStatement.")
            present.pop("object")
        self.statement_body(present, path)

    def statement_body(self, present: dict[str, Any], path: str) -> None:
        """What a Statement and a SubStatement share: actor, verb, object, result, context, timestamp, attachments."""
        prefix = f"{path}." if path else ""  # "" for the Statement, e.g. "object." for a SubStatement
        if "actor" in present:
            self.actor(present["actor"], f"{prefix}actor")
        if "verb" in present:
            self.verb(present["verb"], f"{prefix}verb")
        if "object" in present:
            self.statement_object(present["object"], f"{prefix}object")
        if "result" in present:
            self.result(present["result"], f"{prefix}result")
        if "context" in present:
            self.context(present["context"], f"{prefix}context", _object_type(present.get("object")))
        if "timestamp" in present:
            self.timestamp(present["timestamp"], f"{prefix}timestamp")
        if "attachments" in present:
            for index, attachment in enumerate(self.array(present["attachments"], f"{prefix}attachments")):
                self.attachment(attachment, f"{prefix}attachments[{index}]")
        verb = present.get("verb")
        voiding = isinstance(verb, dict) and verb.get("id") == VOIDED
        if voiding and _object_type(present.get("object")) != "StatementRef":
            self.add(f"{prefix}object", "voiding", "a voiding Statement's object must be a StatementRef.")

    def statement_version(self, value: object, path: str) -> None:
        """The version property: 1.0 or 1.0.x; under xAPI 2.0 also 2.0 or 2.0.x (Data 2.4.10)."""
        pattern = _VERSION_2_0 if self.v2 else _VERSION_1_0
        if self.string(value, path) and not pattern.fullmatch(str(value)):
            accepted = "1.0.x or 2.0.x" if self.v2 else "1.0.x"
            self.add(path, "version", f"version {value!r} is not accepted; it must be {accepted}.")

    # --- Agents and Groups --------------------------------------------------------------------------------------

    def actor(self, value: object, path: str) -> None:
        """An Agent or a Group; objectType may be left out for an Agent."""
        object_type = value.get("objectType", "Agent") if isinstance(value, dict) else None
        if object_type == "Group":
            self.group(value, path)
        elif object_type == "Agent" or object_type is None:
            self.agent(value, path)
        else:
            self.add(
                f"{path}.objectType",
                "object-type",
                f"an actor's objectType is Agent or Group, not {object_type!r}.",
            )

    def agent(self, value: object, path: str) -> None:
        """An Agent: exactly one inverse functional identifier, an optional name."""
        present = self.fields(value, path, "an Agent", _AGENT_KEYS)
        if present is None:
            return
        if present.get("objectType", "Agent") != "Agent":
            self.add(f"{path}.objectType", "object-type", "an Agent's objectType must be Agent.")
        if "name" in present:
            self.string(present["name"], f"{path}.name")
        ifis = [ifi for ifi in IFIS if ifi in present]
        if len(ifis) != 1:
            found = ", ".join(ifis) or "none"
            self.add(path, "one-ifi", f"an Agent needs exactly one of mbox, mbox_sha1sum, openid, account ({found}).")
        for ifi in ifis:
            self.ifi(ifi, present[ifi], f"{path}.{ifi}")

    def group(self, value: object, path: str) -> None:
        """A Group: identified by one IFI, or anonymous with members; members are Agents."""
        present = self.fields(value, path, "a Group", _GROUP_KEYS, ("objectType",))
        if present is None:
            return
        if "objectType" in present and present["objectType"] != "Group":
            self.add(f"{path}.objectType", "object-type", "a Group's objectType must be Group.")
        if "name" in present:
            self.string(present["name"], f"{path}.name")
        ifis = [ifi for ifi in IFIS if ifi in present]
        if len(ifis) > 1:
            self.add(path, "one-ifi", f"an identified Group has exactly one IFI, not {', '.join(ifis)}.")
        for ifi in ifis:
            self.ifi(ifi, present[ifi], f"{path}.{ifi}")
        if not ifis and "member" not in present:
            self.add(f"{path}.member", "required", "an anonymous Group (no IFI) must list its members.")
        if "member" in present:
            members = self.array(present["member"], f"{path}.member")
            if not ifis and not members and isinstance(present["member"], list):
                self.add(f"{path}.member", "empty", "an anonymous Group must have at least one member.")
            for index, member in enumerate(members):
                self.member(member, f"{path}.member[{index}]")

    def member(self, value: object, path: str) -> None:
        """A Group member: an Agent, never a Group."""
        if isinstance(value, dict) and value.get("objectType") == "Group":
            self.add(path, "member", "a Group's members must be Agents, not Groups.")
        else:
            self.agent(value, path)

    def ifi(self, ifi: str, value: object, path: str) -> None:
        """One inverse functional identifier (Data 2.4.2.3)."""
        if ifi == "account":
            self.account(value, path)
        elif not self.string(value, path):
            return
        elif ifi == "mbox" and not (_MAILTO.fullmatch(str(value)) and _is_iri(str(value))):
            self.add(path, "mailto", f"mbox must be a mailto IRI such as mailto:user@example.com, not {value!r}.")
        elif ifi == "mbox_sha1sum" and not _SHA1.fullmatch(str(value)):
            self.add(path, "sha1sum", "mbox_sha1sum must be the 40 hex digits of a SHA-1 hash.")
        elif ifi == "openid" and not (_is_iri(str(value)) and str(value).isascii()):
            self.add(path, "iri", f"openid must be an absolute URI, not {value!r}.")

    def account(self, value: object, path: str) -> None:
        """An account: homePage (an IRL) and name, both required."""
        present = self.fields(value, path, "an account", _ACCOUNT_KEYS, ("homePage", "name"))
        if present is None:
            return
        if "homePage" in present:
            self.iri(present["homePage"], f"{path}.homePage", "irl")
        if "name" in present:
            self.string(present["name"], f"{path}.name")

    def authority(self, value: object, path: str) -> None:
        """An Agent, or for 3-legged OAuth an anonymous Group of two Agents (Data 2.4.9)."""
        self.actor(value, path)
        if isinstance(value, dict) and value.get("objectType") == "Group":
            members = value.get("member")
            if not isinstance(members, list) or len(members) != 2 or any(ifi in value for ifi in IFIS):
                self.add(path, "authority", "a Group as authority must be anonymous with exactly two Agents (OAuth).")

    # --- Verb and Object ----------------------------------------------------------------------------------------

    def verb(self, value: object, path: str) -> None:
        """A Verb: an IRI id and an optional display language map."""
        present = self.fields(value, path, "a Verb", _VERB_KEYS, ("id",))
        if present is None:
            return
        if "id" in present:
            self.iri(present["id"], f"{path}.id")
        if "display" in present:
            self.language_map(present["display"], f"{path}.display")

    def statement_object(self, value: object, path: str) -> None:
        """The object of a Statement: an Activity, Agent, Group, StatementRef or SubStatement."""
        if not isinstance(value, dict):
            self.add(path, "type", f"{path} must be a JSON object.")
            return
        object_type = value.get("objectType", "Activity")
        if "objectType" not in value and not _AGENT_OR_GROUP_KEYS.isdisjoint(value):
            self.add(f"{path}.objectType", "object-type", "an Agent or Group as object must give its objectType.")
        elif object_type == "Activity":
            self.activity(value, path)
        elif object_type == "Agent":
            self.agent(value, path)
        elif object_type == "Group":
            self.group(value, path)
        elif object_type == "StatementRef":
            self.statement_ref(value, path)
        elif object_type == "SubStatement":
            self.substatement(value, path)
        else:
            kinds = "Activity, Agent, Group, StatementRef or SubStatement"
            self.add(f"{path}.objectType", "object-type", f"objectType {object_type!r} is not one of {kinds}.")

    def statement_ref(self, value: object, path: str) -> None:
        """A StatementRef: objectType StatementRef and the UUID of a Statement."""
        present = self.fields(value, path, "a StatementRef", _STATEMENT_REF_KEYS, ("objectType", "id"))
        if present is None:
            return
        if "objectType" in present and present["objectType"] != "StatementRef":
            self.add(f"{path}.objectType", "object-type", "a Statement reference's objectType is StatementRef.")
        if "id" in present:
            self.uuid(present["id"], f"{path}.id")

    def activity(self, value: object, path: str) -> None:
        """An Activity: an IRI id and an optional definition."""
        present = self.fields(value, path, "an Activity", _ACTIVITY_KEYS, ("id",))
        if present is None:
            return
        if "objectType" in present and present["objectType"] != "Activity":
            self.add(f"{path}.objectType", "object-type", "an Activity's objectType must be Activity.")
        if "id" in present:
            self.iri(present["id"], f"{path}.id")
        if "definition" in present:
            self.definition(present["definition"], f"{path}.definition")

    def definition(self, value: object, path: str) -> None:
        """An Activity definition: names, type, moreInfo, extensions and the interaction properties."""
        present = self.fields(value, path, "an Activity definition", _DEFINITION_KEYS)
        if present is None:
            return
        for key in ("name", "description"):
            if key in present:
                self.language_map(present[key], f"{path}.{key}")
        if "type" in present:
            self.iri(present["type"], f"{path}.type")
        if "moreInfo" in present:
            self.iri(present["moreInfo"], f"{path}.moreInfo", "irl")
        if "extensions" in present:
            self.extensions(present["extensions"], f"{path}.extensions")
        self.interaction(present, path)

    def interaction(self, definition: dict[str, Any], path: str) -> None:
        """interactionType, correctResponsesPattern and the component lists the interactionType supports."""
        interaction_type = definition.get("interactionType")
        known_type = isinstance(interaction_type, str) and interaction_type in INTERACTION_TYPES
        if interaction_type is not None and not known_type:
            message = f"interactionType must be one of {', '.join(sorted(INTERACTION_TYPES))}."
            self.add(f"{path}.interactionType", "interaction-type", message)
            return
        if "correctResponsesPattern" in definition:
            where = f"{path}.correctResponsesPattern"
            if interaction_type is None:
                self.add(where, "interaction-type", "correctResponsesPattern needs an interactionType.")
            for index, pattern in enumerate(self.array(definition["correctResponsesPattern"], where)):
                self.string(pattern, f"{where}[{index}]")
        supported = COMPONENT_LISTS.get(str(interaction_type), frozenset())
        for key in ALL_COMPONENT_LISTS:
            if key not in definition:
                continue
            where = f"{path}.{key}"
            if interaction_type is None:
                self.add(where, "interaction-type", f"{key} needs an interactionType.")
            elif key not in supported:  # the spec lets an LRS refuse these (MAY); they cannot mean anything
                message = f"interactionType {interaction_type} takes no {key} list."
                self.add(where, "interaction-components", message)
            self.components(definition[key], where)

    def components(self, value: object, path: str) -> None:
        """A list of interaction components, each an id (unique within the list) and an optional description."""
        seen: set[str] = set()
        for index, component in enumerate(self.array(value, path)):
            where = f"{path}[{index}]"
            present = self.fields(component, where, "an interaction component", _COMPONENT_KEYS, ("id",))
            if present is None:
                continue
            if "id" in present and self.string(present["id"], f"{where}.id"):
                if present["id"] in seen:
                    self.add(f"{where}.id", "interaction-components", f"id {present['id']!r} repeats in {path}.")
                seen.add(present["id"])
            if "description" in present:
                self.language_map(present["description"], f"{where}.description")

    # --- Result, Context, Attachments ---------------------------------------------------------------------------

    def result(self, value: object, path: str) -> None:
        """A Result: score, success, completion, response, duration, extensions."""
        present = self.fields(value, path, "a Result", _RESULT_KEYS)
        if present is None:
            return
        if "score" in present:
            self.score(present["score"], f"{path}.score")
        for key in ("success", "completion"):
            if key in present and not isinstance(present[key], bool):
                self.add(f"{path}.{key}", "type", f"{key} must be true or false, not {present[key]!r}.")
        if "response" in present:
            self.string(present["response"], f"{path}.response")
        if "duration" in present:
            message = "duration must be an ISO 8601 duration such as PT1H30M or P4W."
            self.formatted(present["duration"], f"{path}.duration", is_duration, "duration", message)
        if "extensions" in present:
            self.extensions(present["extensions"], f"{path}.extensions")

    def score(self, value: object, path: str) -> None:
        """A Score: scaled in [-1, 1], min below max, raw between them (Data 2.4.5.1)."""
        present = self.fields(value, path, "a Score", _SCORE_KEYS)
        if present is None:
            return
        numbers: dict[str, float] = {}
        for key, number in present.items():
            if _is_number(number):
                numbers[key] = number
            else:
                self.add(f"{path}.{key}", "type", f"score {key} must be a finite number, not {number!r}.")
        scaled, raw, low, high = (numbers.get(key) for key in ("scaled", "raw", "min", "max"))
        if scaled is not None and not -1 <= scaled <= 1:
            self.add(f"{path}.scaled", "score-range", f"scaled {scaled} is outside -1 to 1.")
        if low is not None and high is not None and low >= high:
            self.add(f"{path}.min", "score-range", f"min {low} must be less than max {high}.")
        if raw is not None and low is not None and raw < low:
            self.add(f"{path}.raw", "score-range", f"raw {raw} is below min {low}.")
        if raw is not None and high is not None and raw > high:
            self.add(f"{path}.raw", "score-range", f"raw {raw} is above max {high}.")

    def context(self, value: object, path: str, object_type: str | None) -> None:
        """A Context (Data 2.4.6); revision and platform only about an Activity; 2.0 adds contextAgents/Groups."""
        present = self.fields(value, path, "a Context", _CONTEXT_KEYS_2_0 if self.v2 else _CONTEXT_KEYS)
        if present is None:
            return
        if "registration" in present:
            self.uuid(present["registration"], f"{path}.registration")
        if "instructor" in present:
            self.actor(present["instructor"], f"{path}.instructor")
        if "team" in present:
            self.team(present["team"], f"{path}.team")
        if "contextActivities" in present:
            self.context_activities(present["contextActivities"], f"{path}.contextActivities")
        for key in ("revision", "platform"):
            if key in present and self.string(present[key], f"{path}.{key}") and object_type != "Activity":
                self.add(
                    f"{path}.{key}", "activity-only", f"context {key} is only allowed when the object is an Activity."
                )
        if "language" in present:
            message = "language must be an RFC 5646 language tag such as en-US."
            self.formatted(present["language"], f"{path}.language", is_language_tag, "language-tag", message)
        if "statement" in present:
            self.statement_ref(present["statement"], f"{path}.statement")
        if "extensions" in present:
            self.extensions(present["extensions"], f"{path}.extensions")
        if "contextAgents" in present:
            self.context_agents(present["contextAgents"], f"{path}.contextAgents", "contextAgent", "agent")
        if "contextGroups" in present:
            self.context_agents(present["contextGroups"], f"{path}.contextGroups", "contextGroup", "group")

    def team(self, value: object, path: str) -> None:
        """A Group where only a Group will do (context team, contextGroups group)."""
        if not isinstance(value, dict):
            self.add(path, "type", f"{path} must be a Group object.")
        elif value.get("objectType") == "Group":
            self.group(value, path)
        else:
            self.add(f"{path}.objectType", "object-type", f"{path} must be a Group (objectType Group).")

    def context_activities(self, value: object, path: str) -> None:
        """parent, grouping, category, other: each an Activity or a list of them (a single one is accepted)."""
        present = self.fields(value, path, "contextActivities", _CONTEXT_ACTIVITIES_KEYS)
        if present is None:
            return
        if not value:
            self.add(path, "empty", "contextActivities must not be empty; leave it out instead.")
        for key, activities in present.items():
            where = f"{path}.{key}"
            if isinstance(activities, list):
                for index, activity in enumerate(activities):
                    self.activity(activity, f"{where}[{index}]")
            else:
                self.activity(activities, where)

    def context_agents(self, value: object, path: str, object_type: str, member_key: str) -> None:
        """xAPI 2.0 contextAgents or contextGroups: objectType, the Agent or Group, optional relevantTypes."""
        for index, entry in enumerate(self.array(value, path)):
            where = f"{path}[{index}]"
            keys = _CONTEXT_AGENT_KEYS[member_key]
            present = self.fields(entry, where, f"a {object_type}", keys, ("objectType", member_key))
            if present is None:
                continue
            if "objectType" in present and present["objectType"] != object_type:
                self.add(f"{where}.objectType", "object-type", f"objectType must be {object_type}.")
            if member_key == "agent" and "agent" in present:
                self.agent(present["agent"], f"{where}.agent")
            elif member_key == "group" and "group" in present:
                self.team(present["group"], f"{where}.group")
            if "relevantTypes" in present:
                self.relevant_types(present["relevantTypes"], f"{where}.relevantTypes")

    def relevant_types(self, value: object, path: str) -> None:
        """A non-empty list of Activity type IRIs."""
        types = self.array(value, path)
        if not types and isinstance(value, list):
            self.add(path, "empty", "relevantTypes must list at least one IRI; leave it out instead.")
        for index, iri in enumerate(types):
            self.iri(iri, f"{path}[{index}]")

    def attachment(self, value: object, path: str) -> None:
        """Attachment metadata (Data 2.4.11): usageType, display, contentType, length, sha2 are required."""
        required = ("usageType", "display", "contentType", "length", "sha2")
        present = self.fields(value, path, "an Attachment", _ATTACHMENT_KEYS, required)
        if present is None:
            return
        if "usageType" in present:
            self.iri(present["usageType"], f"{path}.usageType")
        for key in ("display", "description"):
            if key in present:
                self.language_map(present[key], f"{path}.{key}")
        if "contentType" in present:
            message = "contentType must be an Internet media type such as text/plain."
            self.formatted(present["contentType"], f"{path}.contentType", _is_media_type, "content-type", message)
        length = present.get("length")
        if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length < 0):
            self.add(f"{path}.length", "length", f"length must be a whole number of octets, not {length!r}.")
        if "sha2" in present:
            message = "sha2 must be the hex digits of a SHA-224, SHA-256, SHA-384 or SHA-512 hash."
            self.formatted(present["sha2"], f"{path}.sha2", _is_sha2, "sha2", message)
        if "fileUrl" in present:
            self.iri(present["fileUrl"], f"{path}.fileUrl", "irl")
        content_type = present.get("contentType")
        if present.get("usageType") == SIGNATURE and str(content_type).lower() != "application/octet-stream":
            message = "a signature attachment (JWS) must have the contentType application/octet-stream."
            self.add(f"{path}.contentType", "signature", message)
