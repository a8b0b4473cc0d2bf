"""The first rule set: a handful of explicit, named rules; the first that matches decides.

Each rule is a pure function `Activity -> Classification | None`. The rule's name travels with the event
(`decided_by`), so every figure in the warehouse can be traced to the rule that produced it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from schemas.activity import Activity, ActivityKind
from schemas.taxonomy import LearningCategory

CLASSIFIER_VERSION = "rules-1"


@dataclass(frozen=True)
class Classification:
    """A decision: the category, how sure the rule is, and which rule decided."""

    category: LearningCategory
    confidence: float
    rule: str


Rule = Callable[[Activity], Classification | None]

_CODE = re.compile(r"```.*?```|`[^`]*`", re.DOTALL)
_LINK = re.compile(r"<?https?://[^\s>|]+(?:\|[^>]*)?>?")
_MENTION = re.compile(r"<@[A-Za-z0-9_]+>:?")
_QUESTION_MARK = re.compile(r"\?(\s|$)")
_QUESTION_START = re.compile(
    r"^\s*(how|what|why|where|when|which|who|does anyone|anyone know|is there|are there|can (someone|anyone|you|i)|"
    r"could (someone|anyone|you)|do you know|any idea)\b",
    re.IGNORECASE,
)
_THANKS = re.compile(r"\b(thanks|thank you|thx|ty|cheers|much appreciated|that helped|that worked)\b", re.IGNORECASE)
_TEACHING = re.compile(
    r"\b(workshop|lunch and learn|lunch & learn|brown bag|walkthrough|walk-through|tutorial session|office hours|"
    r"i'll (show|present|demo)|i will (show|present|demo)|pairing session|knowledge sharing session)\b",
    re.IGNORECASE,
)
_REVERT = re.compile(r"\b(revert(ed)?|undid|undo|rv|rvv)\b", re.IGNORECASE)

ACKNOWLEDGING_REACTIONS = frozenset(
    {"+1", "thumbsup", "pray", "raised_hands", "white_check_mark", "heavy_check_mark", "bulb", "tada", "clap", "100"}
)
XAPI_COMPLETION_VERBS = frozenset({"completed", "passed", "mastered"})
XAPI_LEARNING_VERBS = frozenset(
    {
        "attempted",
        "initialized",
        "launched",
        "played",
        "interacted",
        "experienced",
        "attended",
        "progressed",
        "submit",
        "answered",
        "responded",
        "start",
        "failed",
        "commented",
        "asked",
    }
)
MIN_ANSWER_CHARS = 20


def prose(text: str | None) -> str:
    """The text a person wrote, without code blocks, links and mentions: what the wording rules look at."""
    if not text:
        return ""
    return _MENTION.sub(" ", _LINK.sub(" ", _CODE.sub(" ", text))).strip()


def has_link(activity: Activity) -> bool:
    return bool(activity.text and _LINK.search(activity.text)) or int(activity.attributes.get("files", 0)) > 0


def bot_activity(activity: Activity) -> Classification | None:
    """Bots and integrations do not learn."""
    if activity.attributes.get("bot") is True:
        return Classification(LearningCategory.NONE, 0.95, "bot.ignored")
    return None


def xapi_statement(activity: Activity) -> Classification | None:
    """Formal learning from xAPI: completion verbs complete, engagement verbs experience, navigation is none."""
    if activity.kind is not ActivityKind.STATEMENT:
        return None
    verb = str(activity.attributes.get("verb", "")).rstrip("/").rsplit("/", 1)[-1].lower()
    if verb in XAPI_COMPLETION_VERBS:
        return Classification(LearningCategory.COMPLETED, 0.95, "xapi.completion_verb")
    if verb in XAPI_LEARNING_VERBS:
        return Classification(LearningCategory.EXPERIENCED, 0.8, "xapi.engagement_verb")
    return Classification(LearningCategory.NONE, 0.8, "xapi.navigation_verb")


def wiki_page(activity: Activity) -> Classification | None:
    """New pages document knowledge; substantive edits improve it; reverts and minor edits do not count."""
    if activity.kind is ActivityKind.PAGE_CREATED:
        return Classification(LearningCategory.DOCUMENTED, 0.9, "wiki.page_created")
    if activity.kind is not ActivityKind.PAGE_EDITED:
        return None
    if _REVERT.search(activity.text or ""):
        return Classification(LearningCategory.NONE, 0.8, "wiki.revert")
    if activity.attributes.get("minor") is True:
        return Classification(LearningCategory.NONE, 0.6, "wiki.minor_edit")
    return Classification(LearningCategory.DOCUMENTED, 0.75, "wiki.substantive_edit")


def chat_reaction(activity: Activity) -> Classification | None:
    """A thumbs-up, a check mark or a thank-you emoji acknowledges help."""
    if activity.kind is not ActivityKind.REACTION:
        return None
    if str(activity.attributes.get("reaction", "")) in ACKNOWLEDGING_REACTIONS:
        return Classification(LearningCategory.ACKNOWLEDGED, 0.85, "chat.acknowledging_reaction")
    return Classification(LearningCategory.NONE, 0.7, "chat.other_reaction")


def shared_file(activity: Activity) -> Classification | None:
    """A file posted into a conversation shares a resource."""
    if activity.kind is ActivityKind.FILE_SHARED:
        return Classification(LearningCategory.SHARED, 0.7, "chat.file_shared")
    return None


def chat_message(activity: Activity) -> Classification | None:
    """Wording rules for chat posts: thanks, questions, teaching offers, shared resources, then answers."""
    if activity.kind not in (ActivityKind.MESSAGE, ActivityKind.REPLY):
        return None
    words = prose(activity.text)
    is_reply = activity.kind is ActivityKind.REPLY
    if is_reply and _THANKS.search(words) and len(words) < 200:
        return Classification(LearningCategory.ACKNOWLEDGED, 0.8, "chat.thanks_reply")
    if _QUESTION_MARK.search(words) or _QUESTION_START.search(words):
        return Classification(LearningCategory.ASKED, 0.6 if is_reply else 0.75, "chat.question")
    if _TEACHING.search(words):
        return Classification(LearningCategory.TAUGHT, 0.6, "chat.teaching_offer")
    if has_link(activity):
        return Classification(LearningCategory.SHARED, 0.7, "chat.shared_resource")
    if is_reply and len(words) >= MIN_ANSWER_CHARS:
        return Classification(LearningCategory.ANSWERED, 0.6, "chat.substantive_reply")
    return Classification(LearningCategory.NONE, 0.6, "chat.no_learning_signal")


#: Edits, deletions and page comments have no rule yet and fall back to `none`: an edit must replace its message's
#: event and a deletion retract it (reprocessing and retraction), not add a second event.
RULES: tuple[Rule, ...] = (bot_activity, xapi_statement, wiki_page, chat_reaction, shared_file, chat_message)


def classify_activity(activity: Activity, rules: tuple[Rule, ...] = RULES) -> Classification:
    """The first matching rule's decision, or `none` when no rule speaks for this activity."""
    for rule in rules:
        decision = rule(activity)
        if decision is not None:
            return decision
    return Classification(LearningCategory.NONE, 0.5, "fallback.no_rule")
