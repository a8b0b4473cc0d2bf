"""The classification rules' words, read from data files a platform team can extend.

`data/rules.toml` holds the phrase lists of the rules, `data/subjects.toml` the subjects and the words naming them,
`data/xapi_verbs.toml` the xAPI verb IRIs and the category each one means. Extension files have the same shape;
their lists are added to the shipped ones (a word list can grow, never shrink), their subjects merged in, and
their verbs added or put in place of a shipped verb's category (the last file to name a verb decides it). The
version of a vocabulary is the rules file's `version` and a digest of every list in use, so two workers with
different words never write events under one version.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator
from pydantic_core import ErrorDetails

from learnstream.errors import ConfigError
from schemas.taxonomy import LearningCategory

DATA_DIR = Path(__file__).parent / "data"
RULES_FILE = DATA_DIR / "rules.toml"
SUBJECTS_FILE = DATA_DIR / "subjects.toml"
XAPI_VERBS_FILE = DATA_DIR / "xapi_verbs.toml"

Phrase = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=200)]
SubjectName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9+#.-]{0,63}$")]

# An absolute IRI (RFC 3987): a scheme, a colon, and no spaces, controls or characters an IRI cannot hold; for
# http and https, a host after "//".
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`\x00-\x1f\x7f]+$")
_WEB_IRI = re.compile(r"^https?://[^/?#]+", re.IGNORECASE)


def verb_iri(value: str) -> str:
    """A verb's id as a statement carries it; a ValueError says why anything else is not one."""
    if not _IRI.match(value) or (value.lower().startswith(("http:", "https:")) and not _WEB_IRI.match(value)):
        raise ValueError(
            f"{value!r} is not a verb IRI: name a verb by the full IRI its statements carry, such as "
            '"http://adlnet.gov/expapi/verbs/completed"'
        )
    return value


VerbIri = Annotated[str, AfterValidator(verb_iri)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChatWords(Strict):
    fillers: tuple[Phrase, ...] = ()
    question_words: tuple[Phrase, ...] = ()
    asking_words: tuple[Phrase, ...] = ()
    question_followers: tuple[Phrase, ...] = ()
    auxiliaries: tuple[Phrase, ...] = ()
    imperative_auxiliaries: tuple[Phrase, ...] = ()
    subjects: tuple[Phrase, ...] = ()
    determiners: tuple[Phrase, ...] = ()
    requests: tuple[Phrase, ...] = ()
    backchannels: tuple[Phrase, ...] = ()
    not_questions: tuple[Phrase, ...] = ()
    thanks: tuple[Phrase, ...] = ()
    resolved: tuple[Phrase, ...] = ()
    teaching: tuple[Phrase, ...] = ()
    acknowledging_reactions: tuple[Phrase, ...] = ()
    noise_link_hosts: tuple[Phrase, ...] = ()
    min_answer_chars: int | None = Field(default=None, ge=0)
    max_thanks_chars: int | None = Field(default=None, ge=1)


class WikiWords(Strict):
    reverts: tuple[Phrase, ...] = ()
    housekeeping: tuple[Phrase, ...] = ()
    min_unexplained_bytes: int | None = Field(default=None, ge=0)
    personal_namespaces: tuple[int, ...] = ()
    personal_title_prefixes: tuple[str, ...] = ()


class XapiWords(Strict):
    """xAPI verb IRIs and the learning category each one means (`none` for a verb that is not learning)."""

    verbs: dict[VerbIri, LearningCategory] = {}

    @model_validator(mode="before")
    @classmethod
    def no_word_lists(cls, data: Any) -> Any:
        """The retired word lists matched the last word of a verb's IRI; tell a file that still has them what to do."""
        retired = sorted({"completion_verbs", "engagement_verbs"} & set(data)) if isinstance(data, dict) else []
        if retired:
            raise ValueError(
                f"{' and '.join(retired)} matched the last word of a verb and are no longer read: map each verb's "
                'full IRI to its category in an [xapi.verbs] table, such as "http://adlnet.gov/expapi/verbs/'
                'completed" = "completed"'
            )
        return data


class VocabularyFile(Strict):
    """One file's contents: any of the sections, each list optional."""

    version: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,40}$")
    chat: ChatWords = ChatWords()
    wiki: WikiWords = WikiWords()
    xapi: XapiWords = XapiWords()
    subjects: dict[SubjectName, tuple[Phrase, ...]] = {}


class Vocabulary(Strict):
    """The merged vocabulary the rules are built from, with its version."""

    version: str
    chat: ChatWords
    wiki: WikiWords
    xapi: XapiWords
    subjects: dict[str, tuple[str, ...]]


def read_vocabulary_file(path: Path) -> VocabularyFile:
    """One vocabulary file, validated; a ConfigError names the file and what is wrong."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the vocabulary file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the vocabulary file {path} is not valid TOML: {exc}") from None
    try:
        return VocabularyFile.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(problem(error) for error in exc.errors())
        raise ConfigError(f"the vocabulary file {path} is not valid: {problems}") from None


def problem(error: ErrorDetails) -> str:
    """One validation error as a reader fixes it: where, what is wrong, and the value found (when it is one)."""
    where = ".".join(str(part) for part in error["loc"]) or "<root>"
    found = error["input"]
    if isinstance(found, str | int | float) and repr(found) not in error["msg"]:
        return f"{where}: {error['msg']} (found {found!r})"
    return f"{where}: {error['msg']}"


def load_vocabulary(extensions: Sequence[Path] = ()) -> Vocabulary:
    """The shipped vocabulary, extended by the given files in order."""
    base = read_vocabulary_file(RULES_FILE)
    if base.version is None:
        raise ConfigError(f"{RULES_FILE} names no version")
    shipped = [base, read_vocabulary_file(SUBJECTS_FILE), read_vocabulary_file(XAPI_VERBS_FILE)]
    return merge(base.version, [*shipped, *(read_vocabulary_file(path) for path in extensions)])


def merge(version: str, files: Sequence[VocabularyFile]) -> Vocabulary:
    """The files' lists joined (first occurrence kept, order kept), tables updated entry by entry and numbers
    set by the last file that sets them."""
    sections: dict[str, dict[str, Any]] = {"chat": {}, "wiki": {}, "xapi": {}}
    subjects: dict[str, tuple[str, ...]] = {}
    for file in files:
        for name, section in sections.items():
            for field, value in getattr(file, name).model_dump(exclude_none=True).items():
                if isinstance(value, tuple):
                    section[field] = joined(section.get(field, ()), value)
                elif isinstance(value, dict):
                    section[field] = {**section.get(field, {}), **value}
                else:
                    section[field] = value
        for subject, words in file.subjects.items():
            subjects[subject] = joined(subjects.get(subject, ()), words)
    content = {**sections, "subjects": subjects}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=list).encode("utf-8")).hexdigest()[:8]
    return Vocabulary(
        version=f"{version}.{digest}",
        chat=ChatWords(**sections["chat"]),
        wiki=WikiWords(**sections["wiki"]),
        xapi=XapiWords(**sections["xapi"]),
        subjects=subjects,
    )


def joined(first: Iterable[str], second: Iterable[str]) -> tuple[str, ...]:
    """Both lists, in order, each entry once."""
    return tuple(dict.fromkeys([*first, *second]))


def phrase_pattern(phrases: Iterable[str]) -> str:
    """A regular expression matching any of the phrases (spaces match any whitespace), as a trie of characters:
    phrases sharing a start share its test, so a text is scanned once however long the list (a plain alternation
    of 150 words cost several times more per text)."""
    trie: dict[str, Any] = {}
    for phrase in set(phrases):
        node = trie
        for char in " ".join(phrase.split()):
            node = node.setdefault(char, {})
        node[""] = {}  # the end of a phrase
    return trie_pattern(trie) if trie else "(?!)"


def trie_pattern(node: dict[str, Any]) -> str:
    """The expression of a trie node: its branches as alternatives, longest first, the end of a phrase last."""
    branches = [
        (r"\s+" if char == " " else re.escape(char)) + trie_pattern(child)
        for char, child in sorted(node.items())
        if char
    ]
    ends = "" in node
    if not branches:
        return ""
    if len(branches) == 1 and not ends:
        return branches[0]
    body = "|".join(branches)
    return f"(?:{body})?" if ends else f"(?:{body})"
