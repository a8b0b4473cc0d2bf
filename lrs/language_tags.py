"""Well-formed RFC 5646 language tags, the keys of xAPI language maps (xAPI 1.0.3 Data 2.2 and 4.2).

The check follows the ABNF of RFC 5646 section 2.1 (case-insensitive) plus the two rules of section 2.2 that need
no registry: a variant and an extension singleton may each appear only once. Whether a subtag is registered with
IANA is not checked; the spec asks an LRS for at least "the sequence of token lengths".
"""

from __future__ import annotations

import re
from functools import lru_cache

_LANGTAG = re.compile(
    r"""
    (?P<language>
        [a-z]{2,3}(?:-[a-z]{3}){0,3}     # ISO 639 code and up to three extended language subtags
      | [a-z]{4}                         # reserved for future use
      | [a-z]{5,8}                       # registered language subtag
    )
    (?:-[a-z]{4})?                       # script, e.g. Hant
    (?:-(?:[a-z]{2}|[0-9]{3}))?          # region, e.g. US or 419
    (?P<variants>(?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*)
    (?P<extensions>(?:-[0-9a-wyz](?:-[a-z0-9]{2,8})+)*)
    (?:-x(?:-[a-z0-9]{1,8})+)?           # private use
    """,
    re.VERBOSE | re.IGNORECASE,
)

_PRIVATE_USE = re.compile(r"x(?:-[a-z0-9]{1,8})+", re.IGNORECASE)

# Tags registered before RFC 4646 that the grammar above does not produce (RFC 5646 section 2.1, "grandfathered").
_GRANDFATHERED = frozenset(
    {
        "en-gb-oed",
        "i-ami",
        "i-bnn",
        "i-default",
        "i-enochian",
        "i-hak",
        "i-klingon",
        "i-lux",
        "i-mingo",
        "i-navajo",
        "i-pwn",
        "i-tao",
        "i-tay",
        "i-tsu",
        "sgn-be-fr",
        "sgn-be-nl",
        "sgn-ch-de",
        "art-lojban",
        "cel-gaulish",
        "no-bok",
        "no-nyn",
        "zh-guoyu",
        "zh-hakka",
        "zh-min",
        "zh-min-nan",
        "zh-xiang",
    }
)


# A few tags (en, en-US) make up nearly all of the language maps in real traffic, so the answers for short ones are
# kept (1024 of at most 64 characters).
_REMEMBERED_LENGTH = 64


def is_language_tag(tag: str) -> bool:
    """Whether `tag` is a well-formed RFC 5646 language tag such as en, en-US, zh-Hant-TW or x-klingon."""
    return _is_remembered_tag(tag) if len(tag) <= _REMEMBERED_LENGTH else _is_well_formed(tag)


@lru_cache(maxsize=1024)
def _is_remembered_tag(tag: str) -> bool:
    """`is_language_tag` for a tag of at most _REMEMBERED_LENGTH characters, remembered."""
    return _is_well_formed(tag)


def _is_well_formed(tag: str) -> bool:
    """The RFC 5646 grammar and the rules of its section 2.2 that need no registry."""
    if tag.lower() in _GRANDFATHERED or _PRIVATE_USE.fullmatch(tag):
        return True
    match = _LANGTAG.fullmatch(tag)
    if match is None:
        return False
    variants = match["variants"].lower().split("-")[1:]
    singletons = [subtag for subtag in match["extensions"].lower().split("-") if len(subtag) == 1]
    return len(set(variants)) == len(variants) and len(set(singletons)) == len(singletons)
