"""The rules: explicit, named, pure functions of an activity, the compiled vocabulary and the thread's context.

Each rule returns a `Classification` or None (not its kind of activity); the classifier asks them in order and the
first that answers decides. The rule's name travels with the event (`decided_by`), so every figure in the
warehouse can be traced to the rule that produced it.

Chat, in a thread whose root asked:
- a reply by someone other than the asker answers it (`answered`, with the asker as counterpart and the delay
  since the question);
- the asker's own follow-ups are not answers: thanks or "that worked" acknowledge the latest answerer, a new
  question asks, anything else is `none`.
Without thread context (the root is older than the stream's memory), a substantive reply still counts as an
answer, with less confidence.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple

from schemas.activity import Activity, ActivityKind
from schemas.ids import activity_id_for
from schemas.taxonomy import LearningCategory
from streams.classify.questions import QuestionDetector
from streams.classify.vocabulary import Vocabulary, phrase_pattern


class Classification(NamedTuple):
    """A decision: the category, how sure the rule is, which rule decided, and for answers and
    acknowledgements the other person and how long after the question it came. (A named tuple: one is built per
    activity, at under half a frozen dataclass's cost.)"""

    category: LearningCategory
    confidence: float
    rule: str
    counterpart: str | None = None
    response_delay_seconds: float | None = None


#: How sure the xAPI rule is, and which reason it gives, for each kind of category a verb maps to. An informal
#: verb (asked, commented) is the least sure: the statement carries no words to confirm what the verb claims.
XAPI_DECISIONS = {
    LearningCategory.COMPLETED: (0.95, "xapi.completion_verb"),
    LearningCategory.EXPERIENCED: (0.8, "xapi.engagement_verb"),
    LearningCategory.NONE: (0.8, "xapi.navigation_verb"),
}
XAPI_INFORMAL = (0.7, "xapi.informal_verb")


def xapi_decision(category: LearningCategory) -> Classification:
    """The xAPI rule's decision for a verb the vocabulary maps to `category`."""
    confidence, rule = XAPI_DECISIONS.get(category, XAPI_INFORMAL)
    return Classification(category, confidence, rule)


XAPI_UNKNOWN_VERB = Classification(LearningCategory.NONE, 0.5, "xapi.unknown_verb")


class ThreadContext(NamedTuple):
    """What the stream remembers of the conversation an activity belongs to: its root and the latest answer."""

    root_event_id: str
    root_actor: str
    root_category: LearningCategory
    root_at: datetime
    answerer: str | None = None


_CODE = re.compile(r"```.*?```|`[^`]*`", re.DOTALL)
_LINK = re.compile(r"<?https?://[^\s>|]+(?:\|[^>]*)?>?")
_LINK_HOST = re.compile(r"https?://([^\s/>|:?#]+)")
_MENTION = re.compile(r"<@[A-Za-z0-9_]+>:?")
_SECTION_MARKER = re.compile(r"/\*.*?\*/")
_QUOTE = re.compile(r"^(?:>|&gt;).*$", re.MULTILINE)


class Words:
    """The vocabulary compiled for the rules."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        chat, wiki, xapi = vocabulary.chat, vocabulary.wiki, vocabulary.xapi
        self.questions = QuestionDetector(chat)
        self.thanks = re.compile(rf"(?<![\w']){phrase_pattern([*chat.thanks, *chat.resolved])}(?![\w'])")
        self.teaching = re.compile(rf"(?<![\w']){phrase_pattern(chat.teaching)}(?![\w'])")
        self.acknowledging_reactions = frozenset(chat.acknowledging_reactions)
        self.noise_hosts = frozenset(chat.noise_link_hosts)
        self.min_answer_chars = chat.min_answer_chars if chat.min_answer_chars is not None else 20
        self.max_thanks_chars = chat.max_thanks_chars if chat.max_thanks_chars is not None else 200
        self.revert = re.compile(rf"(?<![\w']){phrase_pattern(wiki.reverts)}(?![\w'])", re.IGNORECASE)
        self.housekeeping = re.compile(rf"(?<![\w']){phrase_pattern(wiki.housekeeping)}(?![\w'])", re.IGNORECASE)
        self.min_unexplained_bytes = wiki.min_unexplained_bytes if wiki.min_unexplained_bytes is not None else 50
        self.personal_namespaces = frozenset(wiki.personal_namespaces)
        self.personal_titles = tuple(wiki.personal_title_prefixes)
        self.xapi_verbs = {verb: xapi_decision(category) for verb, category in xapi.verbs.items()}


Rule = Callable[[Activity, Words, ThreadContext | None], Classification | None]
CHAT_KINDS = frozenset({ActivityKind.MESSAGE, ActivityKind.REPLY, ActivityKind.MESSAGE_EDITED})


def prose(text: str | None) -> str:
    """The text a person wrote, without code blocks, quoted lines, links and mentions: what the wording rules
    look at."""
    if not text:
        return ""
    # each expression only where its mark occurs: most texts have no code, quote, link or mention
    if "`" in text:
        text = _CODE.sub(" ", text)
    if ">" in text or "&gt;" in text:
        text = _QUOTE.sub(" ", text)
    if "http" in text:
        text = _LINK.sub(" ", text)
    if "<@" in text:
        text = _MENTION.sub(" ", text)
    return text.strip()


def shares_something(activity: Activity, words: Words) -> bool:
    """A file, or a link to anything but a meeting room, a calendar or a GIF."""
    if int(activity.attributes.get("files", 0)) > 0:
        return True
    text = activity.text or ""
    if "http" not in text:
        return False
    hosts = [host.lower().removeprefix("www.") for host in _LINK_HOST.findall(_CODE.sub(" ", text))]
    return any(not is_noise(host, words.noise_hosts) for host in hosts)


def is_noise(host: str, noise: frozenset[str]) -> bool:
    """Whether a link's host is one of the noise hosts or under one."""
    return host in noise or any(host.endswith("." + domain) for domain in noise)


def is_reply(activity: Activity, thread: ThreadContext | None) -> bool:
    """A reply, or the edit of a message that is not its thread's root."""
    if activity.kind is ActivityKind.MESSAGE_EDITED:
        if thread is None or not activity.in_reply_to:
            return False
        return activity_id_for(activity.source, activity.source_instance, activity.in_reply_to) != thread.root_event_id
    return activity.kind is ActivityKind.REPLY


def personal_page(activity: Activity, words: Words) -> bool:
    """A page in a personal namespace, or whose title or space key (the conversation's start) is personal."""
    if activity.attributes.get("namespace") in words.personal_namespaces:
        return True
    prefixes = words.personal_titles
    return (activity.subject or "").startswith(prefixes) or activity.conversation.id.startswith(prefixes)


def delay_seconds(activity: Activity, thread: ThreadContext) -> float:
    """Seconds from the thread's question to this activity (0 if the clocks disagree)."""
    return max(0.0, (activity.occurred_at - thread.root_at).total_seconds())


# -- rules, in the order the classifier asks them -----------------------------------------------------------------


def bot_activity(activity: Activity, words: Words, thread: ThreadContext | None) -> Classification | None:
    """Bots and integrations do not learn."""
    if activity.attributes.get("bot") is True:
        return Classification(LearningCategory.NONE, 0.95, "bot.ignored")
    return None


def deletion(activity: Activity, words: Words, thread: ThreadContext | None) -> Classification | None:
    """A deleted message, page or comment takes its event back (the event replaces the item's own)."""
    if activity.kind is ActivityKind.ITEM_DELETED:
        return Classification(LearningCategory.NONE, 1.0, "retraction.deleted")
    return None


def xapi_statement(activity: Activity, words: Words, thread: ThreadContext | None) -> Classification | None:
    """An xAPI statement means what the vocabulary maps its verb IRI to; a verb it does not list is `none`.

    The IRI must match exactly, with no trailing slash dropped and http not taken for https: xAPI compares IRIs
    as strings, so `.../verbs/completed/` and `https://adlnet.gov/...` are other verbs than
    `http://adlnet.gov/expapi/verbs/completed`, and folding them would be the guessing the exact table replaces.
    A platform that sends such a variant names it in its vocabulary file; until then its statements are decided
    by `xapi.unknown_verb`, which a query on `decided_by` finds.
    """
    if activity.kind is not ActivityKind.STATEMENT:
        return None
    return words.xapi_verbs.get(str(activity.attributes.get("verb", "")), XAPI_UNKNOWN_VERB)


def wiki_page(activity: Activity, words: Words, thread: ThreadContext | None) -> Classification | None:
    """New pages and substantive edits document knowledge; personal pages, reverts and minor edits do not."""
    if activity.kind not in (ActivityKind.PAGE_CREATED, ActivityKind.PAGE_EDITED):
        return None
    if personal_page(activity, words):
        return Classification(LearningCategory.NONE, 0.8, "wiki.personal_page")
    if activity.kind is ActivityKind.PAGE_CREATED:
        return Classification(LearningCategory.DOCUMENTED, 0.9, "wiki.page_created")
    if words.revert.search(activity.text or ""):
        return Classification(LearningCategory.NONE, 0.8, "wiki.revert")
    if activity.attributes.get("minor") is True:
        return Classification(LearningCategory.NONE, 0.6, "wiki.minor_edit")
    summary = activity.text or ""
    if words.housekeeping.search(summary):
        return Classification(LearningCategory.NONE, 0.7, "wiki.housekeeping")
    changed = activity.attributes.get("bytes_changed")
    unexplained = not _SECTION_MARKER.sub("", summary).strip()
    if unexplained and isinstance(changed, int) and changed < words.min_unexplained_bytes:
        return Classification(LearningCategory.NONE, 0.55, "wiki.small_unexplained_edit")
    return Classification(LearningCategory.DOCUMENTED, 0.75, "wiki.substantive_edit")


def page_comment(activity: Activity, words: Words, thread: ThreadContext | None) -> Classification | None:
    """A comment on a page is discussion of it; its text is not read (only its kind travels)."""
    if activity.kind is ActivityKind.PAGE_COMMENTED:
        return Classification(LearningCategory.NONE, 0.6, "wiki.page_comment")
    return None


def chat_reaction(activity: Activity, words: Words, thread: ThreadContext | None) -> Classification | None:
    """A thumbs-up, a check mark or a thank-you emoji on an answer acknowledges help. With thread context, only
    on a reply in a thread whose root asked: the same emoji on the question agrees with it ("me too"), and
    elsewhere it is applause, not help acknowledged. Without context, any acknowledging reaction counts."""
    if activity.kind is not ActivityKind.REACTION:
        return None
    if str(activity.attributes.get("reaction", "")) not in words.acknowledging_reactions:
        return Classification(LearningCategory.NONE, 0.7, "chat.other_reaction")
    if thread is not None:
        if thread.root_category is not LearningCategory.ASKED:
            return Classification(LearningCategory.NONE, 0.6, "chat.reaction_outside_a_question")
        target = activity_id_for(activity.source, activity.source_instance, activity.in_reply_to or "")
        if target == thread.root_event_id:
            return Classification(LearningCategory.NONE, 0.6, "chat.reaction_on_the_question")
        delay = delay_seconds(activity, thread)
        return Classification(
            LearningCategory.ACKNOWLEDGED, 0.85, "chat.acknowledging_reaction", activity.counterpart, delay
        )
    return Classification(LearningCategory.ACKNOWLEDGED, 0.75, "chat.acknowledging_reaction", activity.counterpart)


def shared_file(activity: Activity, words: Words, thread: ThreadContext | None) -> Classification | None:
    """A file posted into a conversation shares a resource."""
    if activity.kind is ActivityKind.FILE_SHARED:
        return Classification(LearningCategory.SHARED, 0.7, "chat.file_shared")
    return None


def thread_reply(activity: Activity, words: Words, thread: ThreadContext | None) -> Classification | None:
    """Replies in a thread whose root asked: others answer; the asker acknowledges, asks again, or neither."""
    if activity.kind not in CHAT_KINDS or thread is None or thread.root_category is not LearningCategory.ASKED:
        return None
    if not is_reply(activity, thread):
        return None
    text = prose(activity.text).lower()
    if activity.actor != thread.root_actor:
        delay = delay_seconds(activity, thread)
        return Classification(LearningCategory.ANSWERED, 0.85, "chat.reply_to_question", thread.root_actor, delay)
    if words.thanks.search(text) and len(text) < words.max_thanks_chars:
        delay = delay_seconds(activity, thread)
        return Classification(LearningCategory.ACKNOWLEDGED, 0.85, "chat.asker_thanks", thread.answerer, delay)
    if words.questions.signal(text):
        return Classification(LearningCategory.ASKED, 0.6, "chat.asker_follow_up_question")
    return Classification(LearningCategory.NONE, 0.7, "chat.asker_follow_up")


def chat_message(activity: Activity, words: Words, thread: ThreadContext | None) -> Classification | None:
    """Wording rules for chat posts: thanks, questions, teaching offers, shared resources, then answers."""
    if activity.kind not in CHAT_KINDS:
        return None
    text = prose(activity.text).lower()
    reply = is_reply(activity, thread)
    addressed = reply or (activity.text or "").startswith("<@")
    if addressed and len(text) < words.max_thanks_chars and words.thanks.search(text):
        return Classification(LearningCategory.ACKNOWLEDGED, 0.8, "chat.thanks_reply", activity.counterpart)
    signal = words.questions.signal(text)
    if signal is not None:
        return Classification(LearningCategory.ASKED, 0.6 if reply else 0.8, f"chat.question.{signal}")
    if words.teaching.search(text):
        return Classification(LearningCategory.TAUGHT, 0.6, "chat.teaching_offer")
    if shares_something(activity, words):
        return Classification(LearningCategory.SHARED, 0.7, "chat.shared_resource")
    if reply and thread is None and len(text) >= words.min_answer_chars:
        return Classification(LearningCategory.ANSWERED, 0.5, "chat.substantive_reply")
    return Classification(LearningCategory.NONE, 0.6, "chat.no_learning_signal")


#: What each rule's decision means, for `learnstream explain`.
RULE_TEXT = {
    "bot.ignored": "the source marks the author as a bot or integration; bots do not learn",
    "retraction.deleted": "the item was deleted: its event is taken back",
    "xapi.completion_verb": "an xAPI statement whose verb completes (completed, passed, mastered)",
    "xapi.engagement_verb": "an xAPI statement whose verb engages with formal content (attended, launched, played, "
    "answered a quiz item, ...)",
    "xapi.informal_verb": "an xAPI statement whose verb is informal learning (asked, shared, commented, replied)",
    "xapi.navigation_verb": "an xAPI statement whose verb is listed as not learning: navigation or administration "
    "(paused, seeked, viewed, terminated, registered, ...)",
    "xapi.unknown_verb": "an xAPI statement whose verb IRI the vocabulary does not list (it must match exactly)",
    "wiki.personal_page": "a page of a person (User namespace or a personal space), not shared knowledge",
    "wiki.page_created": "a new page documents knowledge",
    "wiki.revert": "the edit summary undoes an earlier edit",
    "wiki.minor_edit": "the editor marked the edit minor",
    "wiki.housekeeping": "the edit summary describes housekeeping (categories, links, spelling, citation upkeep, tags)",
    "wiki.small_unexplained_edit": "no summary (or only a section marker) and the page grew by fewer than 50 bytes",
    "wiki.substantive_edit": "an edit that is neither minor, a revert, housekeeping nor a small unexplained change",
    "wiki.page_comment": "a comment on a page discusses it (its text is not read)",
    "chat.acknowledging_reaction": "a reaction that thanks or approves (+1, check mark, pray, ...) on an answer",
    "chat.other_reaction": "a reaction that does not acknowledge help",
    "chat.reaction_outside_a_question": "an approving reaction in a conversation whose root did not ask: applause",
    "chat.reaction_on_the_question": "an approving reaction on the question itself agrees with it (me too)",
    "chat.file_shared": "a file posted into a conversation",
    "chat.reply_to_question": "a reply by someone other than the asker in a thread whose root asked",
    "chat.asker_thanks": "the asker thanks or confirms that an answer worked",
    "chat.asker_follow_up_question": "the asker asks again in their own thread",
    "chat.asker_follow_up": "the asker's own follow-up is not an answer",
    "chat.thanks_reply": "a short reply (or a message to someone) that thanks or says it worked",
    "chat.question.question_mark": "a sentence ends in a question mark and is not a backchannel or a tone marker",
    "chat.question.question_word": "a sentence opens with a question word that asks (who, whats, when is, how many)",
    "chat.question.yes_no_opening": "a sentence opens with an auxiliary and a subject (do you, is the, can someone)",
    "chat.question.help_request": "a request for help or information (any ideas, does anyone know, pls help)",
    "chat.teaching_offer": "announces a talk, session, office hours, mentoring or a walkthrough",
    "chat.shared_resource": "shares a link (not a meeting room, calendar or GIF) or a file",
    "chat.substantive_reply": "a substantive reply in a thread the worker knows nothing of (no thread context)",
    "chat.no_learning_signal": "no rule found learning in the words",
    "fallback.no_rule": "no rule speaks for this kind of activity",
}

RULES: tuple[Rule, ...] = (
    bot_activity,
    deletion,
    xapi_statement,
    wiki_page,
    page_comment,
    chat_reaction,
    shared_file,
    thread_reply,
    chat_message,
)
FALLBACK = Classification(LearningCategory.NONE, 0.5, "fallback.no_rule")
#: The kinds a rule can answer for (it returns None for any other); a rule not named here may answer for any kind.
#: The classifier asks each activity only the rules of its kind.
RULE_KINDS: dict[Rule, frozenset[ActivityKind]] = {
    deletion: frozenset({ActivityKind.ITEM_DELETED}),
    xapi_statement: frozenset({ActivityKind.STATEMENT}),
    wiki_page: frozenset({ActivityKind.PAGE_CREATED, ActivityKind.PAGE_EDITED}),
    page_comment: frozenset({ActivityKind.PAGE_COMMENTED}),
    chat_reaction: frozenset({ActivityKind.REACTION}),
    shared_file: frozenset({ActivityKind.FILE_SHARED}),
    thread_reply: CHAT_KINDS,
    chat_message: CHAT_KINDS,
}
