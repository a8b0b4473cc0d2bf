"""Wiki links in a text as stable page keys: every URL shape, the wrappers chat tools put around links, the limits."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from schemas.learning_event import MAX_PAGE_REF_CHARS, MAX_PAGE_REFS, PageRef
from streams.classify.page_refs import MAX_LINKS_EXAMINED, page_ref, page_refs_in

PAGE_REF = TypeAdapter(PageRef)
WIKI = "wiki.acme.example"
CLOUD = "acme.atlassian.net"
DC = "confluence.acme.example"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # MediaWiki article path
        (f"https://{WIKI}/wiki/Kafka_consumer_groups", f"{WIKI}/wiki/Kafka_consumer_groups"),
        (f"https://{WIKI}/wiki/kafka_consumer_groups", f"{WIKI}/wiki/Kafka_consumer_groups"),
        (f"https://{WIKI}/wiki/Kafka%20consumer%20groups", f"{WIKI}/wiki/Kafka_consumer_groups"),
        (f"https://{WIKI}/wiki/_Kafka__consumer_%20groups_", f"{WIKI}/wiki/Kafka_consumer_groups"),
        (f"https://{WIKI}/wiki/Kafka_consumer_groups#Rebalancing", f"{WIKI}/wiki/Kafka_consumer_groups"),
        (f"https://{WIKI}/wiki/Kafka_consumer_groups?action=history", f"{WIKI}/wiki/Kafka_consumer_groups"),
        (f"http://{WIKI.upper()}:8080/wiki/Kafka", f"{WIKI}/wiki/Kafka"),
        (f"https://{WIKI}/wiki/C%2B%2B", f"{WIKI}/wiki/C++"),
        (f"https://{WIKI}/wiki/C++", f"{WIKI}/wiki/C++"),  # a plus in a path is a plus
        (f"https://{WIKI}/wiki/%C3%BCber_uns", f"{WIKI}/wiki/Über_uns"),
        (f"https://{WIKI}/wiki/%C3%9Fstra%C3%9Fe", f"{WIKI}/wiki/ßstraße"),  # ß has no one-letter upper case
        (f"https://{WIKI}/wiki/help:getting%20started", f"{WIKI}/wiki/Help:Getting_started"),
        (f"https://{WIKI}/wiki/Image:Diagram.png", f"{WIKI}/wiki/File:Diagram.png"),
        (f"https://{WIKI}/wiki/Talk:Kafka", f"{WIKI}/wiki/Talk:Kafka"),
        (f"https://{WIKI}/wiki/Runbook:deploy", f"{WIKI}/wiki/Runbook:deploy"),  # not a namespace we know
        ("https://en.wikipedia.org/wiki/Apache_Kafka", "en.wikipedia.org/wiki/Apache_Kafka"),
        # MediaWiki script path
        (f"https://{WIKI}/w/index.php?title=Kafka_consumer_groups", f"{WIKI}/wiki/Kafka_consumer_groups"),
        (f"https://{WIKI}/w/index.php?title=kafka+consumer+groups&action=edit", f"{WIKI}/wiki/Kafka_consumer_groups"),
        (f"https://{WIKI}/w/index.php?diff=12&oldid=11&title=Kafka%20groups#top", f"{WIKI}/wiki/Kafka_groups"),
        (f"https://{WIKI}/w/index.php?title=Kafka&amp;oldid=11", f"{WIKI}/wiki/Kafka"),
        (f"https://{WIKI}/wiki/index.php?title=Kafka", f"{WIKI}/wiki/Kafka"),
        # Confluence Cloud: the page id, not the title slug
        (f"https://{CLOUD}/wiki/spaces/ENG/pages/12345/Release+checklist", f"{CLOUD}/pages/12345"),
        (f"https://{CLOUD}/wiki/spaces/ENG/pages/12345/Renamed+page?focusedCommentId=9#c", f"{CLOUD}/pages/12345"),
        (f"https://{CLOUD}/wiki/spaces/ENG/pages/12345", f"{CLOUD}/pages/12345"),
        (f"https://{CLOUD}/wiki/spaces/ENG/pages/edit-v2/12345", f"{CLOUD}/pages/12345"),
        (f"https://{CLOUD}/wiki/pages/viewpage.action?pageId=12345", f"{CLOUD}/pages/12345"),
        # Confluence Data Center
        (f"https://{DC}/display/ENG/Release+checklist", f"{DC}/display/ENG/Release+checklist"),
        (f"https://{DC}/display/ENG/Release%20checklist#Steps", f"{DC}/display/ENG/Release+checklist"),
        (f"https://{DC}/confluence/display/ENG/Release+checklist", f"{DC}/display/ENG/Release+checklist"),
        (f"https://{DC}/pages/viewpage.action?pageId=98765", f"{DC}/pages/98765"),
        (f"https://{DC}/pages/viewpage.action?spaceKey=ENG&pageId=098765", f"{DC}/pages/98765"),
        (f"https://{DC}/confluence/pages/viewpage.action?pageId=98765", f"{DC}/pages/98765"),
    ],
)
def test_wiki_url_becomes_its_page_key(url, expected):
    assert page_ref(url) == expected
    assert page_refs_in(f"have a look at {url} please") == (expected,)
    PAGE_REF.validate_python(expected)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/",
        "https://github.com/acme/app/wiki/Setup",  # a GitHub wiki is not at /wiki/
        "https://docs.python.org/3/library/re.html",
        "https://meet.google.com/abc-defg-hij",
        f"https://{WIKI}/wiki/",
        f"https://{WIKI}/w/index.php?curid=42",
        f"https://{WIKI}/w/index.php",
        f"https://{WIKI}/wiki/Special:Search?search=kafka",
        f"https://{WIKI}/wiki/User:Jane_Doe",
        f"https://{WIKI}/wiki/User_talk:Jane_Doe",
        f"https://{WIKI}/wiki/A%5BB%5D",  # brackets are not allowed in a title
        f"https://{WIKI}/wiki/%FF%FE",  # not UTF-8
        f"https://{WIKI}/wiki/100%2525",  # still escaped after decoding
        f"https://{CLOUD}/wiki/spaces/ENG/overview",
        f"https://{CLOUD}/wiki/home",
        f"https://{CLOUD}/wiki/x/AbCd",  # a tiny link names no page id we can read
        f"https://{DC}/display/~jane/Notes",  # a personal space is a person's
        f"https://{DC}/display/%7Ejane/Notes",
        f"https://{DC}/display/ENG",  # a space's home, not a page
        f"https://{DC}/pages/viewpage.action?pageId=abc",
        f"https://{DC}/pages/viewpage.action",
    ],
)
def test_other_urls_are_not_page_refs(url):
    assert page_ref(url) is None
    assert page_refs_in(f"see {url}") == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Slack wraps links, with or without a label; a URL in the label is not a second link
        (f"<https://{WIKI}/wiki/Kafka|the Kafka page>", (f"{WIKI}/wiki/Kafka",)),
        (f"<https://{WIKI}/wiki/Kafka>", (f"{WIKI}/wiki/Kafka",)),
        (f"<https://{WIKI}/wiki/Kafka|https://{WIKI}/wiki/Other>", (f"{WIKI}/wiki/Kafka",)),
        (f"<https://{WIKI}/w/index.php?title=Kafka&amp;action=edit|edit it>", (f"{WIKI}/wiki/Kafka",)),
        # HTML anchors (Mattermost, Teams), either quote
        (f'<p>read <a href="https://{WIKI}/wiki/Kafka">this</a></p>', (f"{WIKI}/wiki/Kafka",)),
        (f"<a href='https://{DC}/display/ENG/Runbook'>runbook</a>", (f"{DC}/display/ENG/Runbook",)),
        (f'<a href="https://{WIKI}/w/index.php?title=Kafka&amp;oldid=3">x</a>', (f"{WIKI}/wiki/Kafka",)),
        # markdown and prose around bare links
        (f"[the page](https://{WIKI}/wiki/Kafka)", (f"{WIKI}/wiki/Kafka",)),
        (f"(see https://{WIKI}/wiki/Foo_(bar))", (f"{WIKI}/wiki/Foo_(bar)",)),
        (f"It is on https://{WIKI}/wiki/Kafka. Or https://{WIKI}/wiki/Kafka_Streams, maybe?", None),
        (f'"https://{WIKI}/wiki/Kafka"', (f"{WIKI}/wiki/Kafka",)),
        (f"**https://{WIKI}/wiki/Kafka**", (f"{WIKI}/wiki/Kafka",)),
        # duplicates, in every spelling, keep the first place
        (
            f"https://{WIKI}/wiki/B then https://{WIKI}/wiki/A and <https://{WIKI}/wiki/b|b> and "
            f"https://{WIKI}/w/index.php?title=A&action=history",
            (f"{WIKI}/wiki/B", f"{WIKI}/wiki/A"),
        ),
        # mixed with links that are not wiki pages
        (
            f"https://example.com/x https://{CLOUD}/wiki/spaces/X/pages/7/T https://meet.google.com/a",
            (f"{CLOUD}/pages/7",),
        ),
        ("no links here at all", ()),
        ("", ()),
        (None, ()),
        ("http without a URL, and http://", ()),
    ],
)
def test_links_in_text(text, expected):
    if expected is None:
        expected = (f"{WIKI}/wiki/Kafka", f"{WIKI}/wiki/Kafka_Streams")
    assert page_refs_in(text) == expected


def test_at_most_max_page_refs_in_first_seen_order():
    text = " ".join(f"https://{WIKI}/wiki/Page_{number}" for number in range(MAX_PAGE_REFS + 5))
    refs = page_refs_in(text)
    assert refs == tuple(f"{WIKI}/wiki/Page_{number}" for number in range(MAX_PAGE_REFS))


def test_links_past_the_examined_limit_are_not_read():
    text = "https://example.com/x " * MAX_LINKS_EXAMINED + f"https://{WIKI}/wiki/Kafka"
    assert page_refs_in(text) == ()
    assert page_refs_in(text.replace("https://example.com/x ", "", 1)) == (f"{WIKI}/wiki/Kafka",)


def test_a_key_longer_than_the_limit_is_left_out_not_cut():
    long_title = "A" * MAX_PAGE_REF_CHARS
    assert page_refs_in(f"https://{WIKI}/wiki/{long_title} https://{WIKI}/wiki/Kafka") == (f"{WIKI}/wiki/Kafka",)


@pytest.mark.parametrize(
    "text",
    [
        "http://[::1/wiki/Kafka",
        "https://[fe80::1]/wiki/Kafka",
        "https://exa_mple.com/wiki/Kafka",
        "https://-bad-.example/wiki/Kafka",
        "https://bücher.example/wiki/Kafka",
        "https://a..b/wiki/Kafka",
        "https:///wiki/Kafka",
        "https://:80/wiki/Kafka",
        "https://host:99999999/wiki/Kafka",
        f"https://{WIKI}/wiki/%",
        f"https://{WIKI}/wiki/%E2%80%8E",  # only a bidi mark
        f"https://{WIKI}/wiki/Tab%09here",
        f"https://{WIKI}/w/index.php?title=%00",
        f"https://{DC}/display/%20/%20",
        f"https://{DC}/display/ENG/%0A",
        f"https://{DC}/pages/viewpage.action?pageId={'9' * 30}",
        "<https://|>",
        '<a href="https://">x</a>',
        "https://" + "a" * 10_000,
        "http" * 10_000,
        "https://x/" * 5_000,
    ],
)
def test_malformed_links_do_not_crash_and_give_valid_keys(text):
    for ref in page_refs_in(text):
        PAGE_REF.validate_python(ref)  # whatever is found, the event accepts it


def test_a_host_with_a_port_or_user_info_keeps_only_the_host():
    assert page_refs_in(f"https://bot:secret@{WIKI}:8443/wiki/Kafka") == (f"{WIKI}/wiki/Kafka",)


def test_links_in_a_markdown_table_are_each_read():
    text = f"|https://{WIKI}/wiki/A|https://{WIKI}/wiki/B|\n|---|---|\n|x > y|z|"
    assert page_refs_in(text) == (f"{WIKI}/wiki/A", f"{WIKI}/wiki/B")
