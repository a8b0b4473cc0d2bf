"""The wiki pages a text links to, each as a stable page key `<host>/<page>` (the event's `page_refs`).

Knowledge reuse counts links from conversations to wiki pages, so a page must have one key however it was linked:

- MediaWiki `https://host/wiki/Title` and `https://host/w/index.php?title=Title&…` -> `host/wiki/Title`, the title
  as MediaWiki stores it (percent-decoded, NFC, runs of spaces and underscores as one `_`, first letter upper case);
- Confluence Cloud `https://x.atlassian.net/wiki/spaces/KEY/pages/12345/Title` -> `x.atlassian.net/pages/12345`
  (the page id is stable, the title slug is not);
- Confluence Data Center `https://host/display/KEY/Title` -> `host/display/KEY/Title` (spaces as `+`, as
  Confluence writes them) and `…/pages/viewpage.action?pageId=123` -> `host/pages/123`.

Links are found bare, in Slack's `<url|label>` form and in HTML `href` attributes. Fragments, other query
parameters, ports and user info are dropped. Special pages, user pages and personal spaces are not knowledge pages
(and their keys would name a person), so they are skipped. Runs on every message: a text without "http" costs one
substring test.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import parse_qsl, unquote, unquote_plus, urlsplit

from schemas.learning_event import MAX_PAGE_REF_CHARS, MAX_PAGE_REFS

#: At most this many links of one text are looked at: a text of thousands of links costs bounded time.
MAX_LINKS_EXAMINED = 200

# A URL up to a character that cannot be in one (HTML attribute quotes and markdown brackets end it too), and the
# label of Slack's `<url|label>` form, so that a URL in a label is not read as a second link. Starting with the
# literal "http" lets the engine skip to candidates (half the cost of also matching Slack's `<` before them).
_LINK = re.compile(r"(https?://[^\s<>\"|\[\]{}`\\^]+)(?:\|[^>|\n]*>)?")
_TRAILING = ".,;:!?'\"*"
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*")
_CLOUD_PAGE = re.compile(r"/wiki/spaces/[^/]+/pages/(?:edit-v2/)?([0-9]{1,20})(?:/|$)")
#: `/display/KEY/Title`, also under a context path (`/confluence/display/…`, Cloud's old `/wiki/display/…`).
_DISPLAY = re.compile(r"(?:/[^/]+)?/display/([^/]+)/([^/]+)/?")
_PAGE_ID = re.compile(r"[0-9]{1,20}")
#: Every wiki URL has one of these; most links have none and are not parsed.
_WIKI_MARKS = re.compile(r"/wiki/|/index\.php|/pages/viewpage\.action|/display/")
_WHITESPACE = re.compile(r"\s")  # as str.isspace() sees it: every character the event pattern's \S refuses
# MediaWiki drops the bidi marks from a title (and folds runs of spaces and underscores, below, into one `_`).
_MW_BIDI = re.compile("[\u200e\u200f\u202a-\u202e]")
# What MediaWiki does not allow in a title ($wgLegalTitleChars, controls, a %-escape left after decoding), and the
# decoder's U+FFFD.
_MW_ILLEGAL = re.compile("[<>\\[\\]{}|#\x00-\x1f\x7f\ufffd]|%[0-9A-Fa-f]{2}")
_CONTROL = re.compile("[\x00-\x1f\x7f\ufffd]")
#: Namespaces whose pages are not knowledge pages (`Special:Search`) or are a person's (`User:Jane`), by their
#: canonical English names (a wiki's local names for them, like `Benutzer:`, are not known here).
_MW_SKIPPED_NAMESPACES = ("special:", "media:", "user:", "user_talk:")
#: Canonical namespaces (lower case -> as stored); the first letter after one is upper case too (`help:foo` is
#: stored as `Help:Foo`). `Project:` is not here: MediaWiki stores it under the wiki's own name.
_MW_NAMESPACES = {
    name.lower(): name
    for name in (
        "Talk",
        "File",
        "File_talk",
        "MediaWiki",
        "MediaWiki_talk",
        "Template",
        "Template_talk",
        "Help",
        "Help_talk",
        "Category",
        "Category_talk",
    )
}
_MW_NAMESPACES["image"] = "File"


def page_refs_in(text: str | None) -> tuple[str, ...]:
    """The page keys of the wiki links in a text, de-duplicated in first-seen order, at most MAX_PAGE_REFS."""
    if not text or "http" not in text:  # most messages link nothing: skip the regex
        return ()
    found: dict[str, None] = {}
    for examined, match in enumerate(_LINK.finditer(text)):
        if examined >= MAX_LINKS_EXAMINED:
            break
        url = match.group(1)
        start = match.start()
        wrapped = start > 0 and text[start - 1] == "<"  # Slack's `<url|label>` or `<url>`: no prose to trim
        ref = page_ref(url if wrapped else trim(url))
        if ref is not None:
            found[ref] = None
            if len(found) >= MAX_PAGE_REFS:
                break
    return tuple(found)


def trim(url: str) -> str:
    """A bare URL without the punctuation that ends the sentence around it, and without a closing parenthesis
    it does not open (`(see https://host/wiki/Foo_(bar))`)."""
    url = url.rstrip(_TRAILING)
    while url.endswith(")") and url.count(")") > url.count("("):
        url = url[:-1].rstrip(_TRAILING)
    return url


def page_ref(url: str) -> str | None:
    """The page key of one URL, or None when it is not a link to a wiki page (or is not a URL at all)."""
    if _WIKI_MARKS.search(url) is None:
        return None
    if "&amp;" in url:  # Slack and HTML escape the ampersands of a query
        url = url.replace("&amp;", "&")
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:  # urlsplit rejects some malformed hosts
        return None
    if not _HOST.fullmatch(host):
        return None
    path = parts.path
    # the query forms first: a wiki's script path may be /wiki/ too (`/wiki/index.php?title=…`)
    if path.endswith("/index.php"):
        title = query_value(parts.query, "title")
        return mediawiki_ref(host, title) if title else None
    if path.endswith("/pages/viewpage.action"):
        page_id = query_value(parts.query, "pageId")
        return bounded(f"{host}/pages/{int(page_id)}") if page_id and _PAGE_ID.fullmatch(page_id) else None
    cloud = _CLOUD_PAGE.match(path)
    if cloud is not None:
        return bounded(f"{host}/pages/{int(cloud.group(1))}")
    display = _DISPLAY.fullmatch(path)
    if display is not None:
        return confluence_display_ref(host, display.group(1), display.group(2))
    if path.startswith("/wiki/") and not path.startswith("/wiki/spaces/") and not host.endswith(".atlassian.net"):
        title = unquote(path[len("/wiki/") :])
        return mediawiki_ref(host, title.removeprefix("index.php/"))
    return None


def query_value(query: str, name: str) -> str | None:
    """The first value of a query parameter, decoded (`+` as a space, as PHP and Java read it)."""
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == name:
            return value
    return None


def mediawiki_ref(host: str, title: str) -> str | None:
    """`host/wiki/Title` with the title as MediaWiki stores it, or None for no title or one MediaWiki rejects."""
    stored = mediawiki_title(title)
    if stored is None or stored.lower().startswith(_MW_SKIPPED_NAMESPACES):
        return None
    return bounded(f"{host}/wiki/{stored}")


def mediawiki_title(title: str) -> str | None:
    """A decoded title in MediaWiki's stored form: up to a `#`, NFC, without bidi marks, each run of spaces and
    underscores one `_`, none at either end, a canonical namespace as MediaWiki names it, and the first letter
    upper case ($wgCapitalLinks, the default)."""
    title = title.partition("#")[0]
    if _MW_BIDI.search(title):
        title = _MW_BIDI.sub("", title)
    # str.split() folds each run of whitespace (str.isspace) and drops it at either end, at a third of a regex's cost
    title = "_".join(unicodedata.normalize("NFC", title).replace("_", " ").split())
    if not title or _MW_ILLEGAL.search(title):
        return None
    namespace, colon, name = title.partition(":")
    canonical = _MW_NAMESPACES.get(namespace.lower().strip("_")) if colon else None
    if canonical is not None:
        name = name.lstrip("_")
        return f"{canonical}:{upper_first(name)}" if name else None
    return upper_first(title)


def upper_first(title: str) -> str:
    """The title with its first letter upper case; a letter whose upper case is two letters (ß) stays as it is,
    as on Wikimedia's wikis."""
    first = title[:1].upper()
    return first + title[1:] if len(first) == 1 else title


def confluence_display_ref(host: str, space_key: str, slug: str) -> str | None:
    """`host/display/KEY/Title+Words` of a Data Center display link; None for a personal space (`~name`)."""
    key = unquote_plus(space_key).strip()
    title = "+".join(unquote_plus(slug).split())
    if not key or not title or key.startswith("~") or "/" in key or _CONTROL.search(key + title):
        return None
    return bounded(f"{host}/display/{key}/{title}")


def bounded(ref: str) -> str | None:
    """The key if it fits the event's limit and has no whitespace; a cut key would name another page."""
    if len(ref) > MAX_PAGE_REF_CHARS or _WHITESPACE.search(ref):
        return None
    return ref
