"""Subjects of learning: hashtags, and the vocabulary's subjects found by their words.

Words are looked for in the activity's text and in the sources' own tags: its subject, which is a channel's name,
a page's title or a course's name (`kafka-help` reads as "kafka help"). An event may have several subjects.
"Topics" names Kafka topics elsewhere (`schemas/topics.py`); the event's field keeps its schema name `topics`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence

from streams.classify.vocabulary import phrase_pattern

# ASCII only: with re.IGNORECASE alone, [a-z] also matches the dotless i (U+0131) and the long s (U+017F),
# which are not valid subjects.
_HASHTAG = re.compile(r"(?<![\w&])#([a-z][a-z0-9+.-]{1,40})\b", re.IGNORECASE | re.ASCII)
MAX_SUBJECTS = 8
#: Source tags whose subjects are remembered: channel, page and course names recur in nearly every activity.
MAX_REMEMBERED_TAGS = 4096


def tag_words(tag: str) -> str:
    """A source tag's words: its separators as spaces (`kafka-help` -> `kafka help`). A run of separators becomes a
    run of spaces, which the words' pattern reads as one (its spaces match any whitespace); `str.replace` is a
    fifth of the cost of a regex or `str.translate` on a tag."""
    return tag.replace("-", " ").replace("_", " ")


def term_key(term: str) -> str:
    """A matched word as a vocabulary key: lower case, single spaces, without combining marks (Turkish capital
    dotted I -> i)."""
    decomposed = unicodedata.normalize("NFKD", " ".join(term.lower().split()))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


class SubjectTagger:
    """The subjects of a vocabulary (subject -> the words naming it), compiled once."""

    def __init__(self, subjects: Mapping[str, Sequence[str]]) -> None:
        self.by_word = {term_key(word): subject for subject, words in subjects.items() for word in words}
        # matched against the lower-cased text: the same words as re.IGNORECASE finds, at under half the cost
        # (a Turkish dotted capital I lowers to "i" and a combining dot, which still ends a word)
        self._words = re.compile(rf"(?<![\w/]){phrase_pattern(self.by_word)}(?![\w/])")
        # the subjects of a tag alone (most activities have no text), at most MAX_REMEMBERED_TAGS of them
        self._of_tag: dict[str, tuple[str, ...]] = {}

    def tag(self, text: str | None, tag: str | None = None) -> tuple[str, ...]:
        """Sorted, de-duplicated subjects of a text and of a source tag (at most MAX_SUBJECTS)."""
        if not tag:
            return self.subjects_in(text) if text else ()
        if text:
            return self.subjects_in(f"{text}\n{tag_words(tag)}")
        subjects = self._of_tag.get(tag)
        if subjects is None:
            if len(self._of_tag) >= MAX_REMEMBERED_TAGS:
                self._of_tag.clear()
            subjects = self._of_tag[tag] = self.subjects_in(tag_words(tag))
        return subjects

    def subjects_in(self, text: str) -> tuple[str, ...]:
        """Sorted, de-duplicated subjects of a text (at most MAX_SUBJECTS)."""
        words = self.by_word
        found = {words.get(word) or words.get(term_key(word), "") for word in self._words.findall(text.lower())}
        if "#" in text:  # most texts have no hashtag: skip the regex
            found.update(hashtag.lower() for hashtag in _HASHTAG.findall(text))
        found.discard("")
        return tuple(sorted(found)[:MAX_SUBJECTS]) if found else ()
