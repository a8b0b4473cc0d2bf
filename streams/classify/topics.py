"""Topic tagging: hashtags and a small vocabulary of workplace subjects, found in subject and text."""

from __future__ import annotations

import re
import unicodedata

# ASCII only: with re.IGNORECASE alone, [a-z] also matches the dotless i (U+0131) and the long s (U+017F),
# which are not valid topics.
_HASHTAG = re.compile(r"(?<![\w&])#([a-z][a-z0-9+.-]{1,40})\b", re.IGNORECASE | re.ASCII)

#: Term -> topic. A first vocabulary; taxonomies per organisation come with topic configuration later.
VOCABULARY: dict[str, str] = {
    "python": "python",
    "java": "java",
    "javascript": "javascript",
    "typescript": "typescript",
    "kafka": "kafka",
    "docker": "docker",
    "kubernetes": "kubernetes",
    "k8s": "kubernetes",
    "sql": "sql",
    "clickhouse": "clickhouse",
    "git": "git",
    "aws": "cloud",
    "azure": "cloud",
    "gcp": "cloud",
    "security": "security",
    "testing": "testing",
    "pytest": "testing",
    "onboarding": "onboarding",
    "api": "api",
    "design": "design",
    "accessibility": "accessibility",
    "privacy": "privacy",
    "machine learning": "machine-learning",
    "ml": "machine-learning",
}
# Matched against the lower-cased text: the same terms as re.IGNORECASE finds, at under half the cost
# (a Turkish dotted capital I lowers to "i" and a combining dot, which still ends a word).
_TERMS = re.compile(r"\b(" + "|".join(re.escape(term) for term in sorted(VOCABULARY, key=len, reverse=True)) + r")\b")
MAX_TOPICS = 8


def term_key(term: str) -> str:
    """A matched term as a vocabulary key: lower case without combining marks (Turkish capital dotted I -> i)."""
    decomposed = unicodedata.normalize("NFKD", term.lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def tag_topics(*texts: str | None) -> tuple[str, ...]:
    """Sorted, de-duplicated topics found in the given texts (at most MAX_TOPICS)."""
    found: set[str] = set()
    for text in texts:
        if not text:
            continue
        if "#" in text:  # most texts have no hashtag: skip the regex
            found.update(tag.lower() for tag in _HASHTAG.findall(text))
        found.update(topic for term in _TERMS.findall(text.lower()) if (topic := VOCABULARY.get(term_key(term))))
    return tuple(sorted(found)[:MAX_TOPICS])
