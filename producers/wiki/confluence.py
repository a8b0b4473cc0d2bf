"""Confluence content as activities: page versions, comments and removals, whichever way they were read.

The REST API (Cloud polling, and Data Center content read back for an id-only webhook) and Data Center webhook
payloads describe the same things in different shapes; each shape is read into one of three small records
(`PageVersion`, `PageComment`, `Removal`) and those are mapped here, so a page version has the same native id
however it arrived:

- a page version: `page/<id>/v/<number>`, version 1 `page_created`, later ones `page_edited`;
- a comment: `comment/<id>/v/1`, `page_commented`, in the page's conversation and replying to the page's
  creation (or to the comment it answers). A comment's later versions are edits of the comment, not new
  comments, and are not activity;
- a removal (trashed or purged): `page/<id>/deleted` or `comment/<id>/deleted`, `item_deleted`.

The conversation of a page and of its comments is the page: `<space key>:<page id>` (a title changes, an id
does not). Native ids name content only, never an account. Text is the version message (the editor's own note
on the change) and nothing else: page and comment bodies are never read, so no body leaves the connector; a
comment's kind says what it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from producers.pseudonymise import Pseudonymiser
from schemas.activity import Activity, ActivityKind, ConversationKind, ConversationRef, SourceSystem

ContentType = Literal["page", "comment"]
#: Statuses of content that is gone: in the trash, or purged (`deleted`).
REMOVED_STATUSES = frozenset({"trashed", "deleted"})
#: Reads the account of a REST user object (`where` names the field in errors): Cloud's `accountId`
#: (`rest_account`) or Data Center's `userKey` (`dc_account`).
AccountOf = Callable[[object, str], str]


class UnusableContent(ValueError):
    """A Confluence record the mappers cannot use; the message names the field and what is wrong with it."""


@dataclass(frozen=True)
class PageVersion:
    """One version of a page: who saved it, when, and the note they left."""

    page_id: str
    space_key: str
    title: str
    number: int
    when: datetime
    account: str
    message: str = ""
    minor: bool = False


@dataclass(frozen=True)
class PageComment:
    """A comment as created: on which page, by whom, when, and the comment it answers (None: the page)."""

    comment_id: str
    page_id: str
    space_key: str
    page_title: str
    created: datetime
    account: str
    parent_comment_id: str | None = None
    location: str | None = None  # `footer` or `inline` (Cloud)


@dataclass(frozen=True)
class Removal:
    """A page or comment trashed or purged, by whom and when; `page_id` is the page it belongs to."""

    content_type: ContentType
    content_id: str
    page_id: str
    space_key: str
    title: str
    when: datetime
    account: str


def page_version_activity(version: PageVersion, site: str, pseudonymise: Pseudonymiser) -> Activity:
    """A page version: its creation (version 1) or an edit."""
    kind = ActivityKind.PAGE_CREATED if version.number == 1 else ActivityKind.PAGE_EDITED
    return Activity.create(
        source=SourceSystem.CONFLUENCE,
        source_instance=site,
        native_id=f"page/{version.page_id}/v/{version.number}",
        kind=kind,
        occurred_at=version.when,
        actor=pseudonymise(version.account),
        conversation=page_conversation(version.space_key, version.page_id),
        subject=version.title,
        text=version.message,
        attributes={"space": version.space_key, "version": version.number, "minor": version.minor},
    )


def comment_activity(comment: PageComment, site: str, pseudonymise: Pseudonymiser) -> Activity:
    """A comment on a page, answering the page (its creation) or another comment."""
    if comment.parent_comment_id is not None:
        answers = f"comment/{comment.parent_comment_id}/v/1"
    else:
        answers = f"page/{comment.page_id}/v/1"
    attributes: dict[str, str | int | float | bool] = {"space": comment.space_key}
    if comment.location:
        attributes["location"] = comment.location
    return Activity.create(
        source=SourceSystem.CONFLUENCE,
        source_instance=site,
        native_id=f"comment/{comment.comment_id}/v/1",
        kind=ActivityKind.PAGE_COMMENTED,
        occurred_at=comment.created,
        actor=pseudonymise(comment.account),
        conversation=page_conversation(comment.space_key, comment.page_id),
        in_reply_to=answers,
        subject=comment.page_title,
        text="",
        attributes=attributes,
    )


def removal_activity(removal: Removal, site: str, pseudonymise: Pseudonymiser) -> Activity:
    """A page or comment removed; `in_reply_to` names the activity that created it."""
    return Activity.create(
        source=SourceSystem.CONFLUENCE,
        source_instance=site,
        native_id=f"{removal.content_type}/{removal.content_id}/deleted",
        kind=ActivityKind.ITEM_DELETED,
        occurred_at=removal.when,
        actor=pseudonymise(removal.account),
        conversation=page_conversation(removal.space_key, removal.page_id),
        in_reply_to=f"{removal.content_type}/{removal.content_id}/v/1",
        subject=removal.title,
        attributes={"space": removal.space_key, "content_type": removal.content_type},
    )


def page_conversation(space_key: str, page_id: str) -> ConversationRef:
    """The conversation of a page and its comments."""
    return ConversationRef(kind=ConversationKind.PAGE, id=f"{space_key}:{page_id}")


# -- the REST API's content (`expand=space,version,history,container,ancestors`) -------------------------------
#
# Cloud and Data Center answer `/rest/api/content` in the same shape; their user objects differ: Cloud names an
# Atlassian `accountId`, Data Center a `userKey` (and `username`), the key its webhook payloads use.


def rest_page_version(
    page: Mapping[str, Any], version: Mapping[str, Any], account_of: AccountOf | None = None
) -> PageVersion:
    """A version of a page from the REST API: the page (id, title, space) and one of its versions (number,
    when, by, message, minorEdit), from the page's `version` or from `/content/{id}/version`."""
    account_of = account_of or rest_account
    return PageVersion(
        page_id=content_id(page, "id"),
        space_key=text_field(mapping_field(page, "space"), "space.key", "key"),
        title=text_field(page, "title", "title"),
        number=version_number(version),
        when=rest_time(text_field(version, "version.when", "when")),
        account=account_of(version.get("by"), "version.by"),
        message=str(version.get("message") or ""),
        minor=version.get("minorEdit") is True,
    )


def rest_comment(comment: Mapping[str, Any], account_of: AccountOf | None = None) -> PageComment:
    """A comment from the REST API: its page is the `container`, the comment it answers the last comment among
    its `ancestors`, its author and time the `history`'s creation."""
    account_of = account_of or rest_account
    container = mapping_field(comment, "container")
    if container.get("type") not in ("page", "blogpost"):
        raise UnusableContent(f"container.type is {describe(container.get('type'))}, expected page")
    history = mapping_field(comment, "history")
    ancestors = comment.get("ancestors")
    parents = [a for a in ancestors if isinstance(a, Mapping) and a.get("type") == "comment"] if ancestors else []
    extensions = comment.get("extensions")
    location = extensions.get("location") if isinstance(extensions, Mapping) else None
    return PageComment(
        comment_id=content_id(comment, "id"),
        page_id=content_id(container, "id", "container.id"),
        space_key=text_field(mapping_field(comment, "space"), "space.key", "key"),
        page_title=text_field(container, "container.title", "title"),
        created=rest_time(text_field(history, "history.createdDate", "createdDate")),
        account=account_of(history.get("createdBy"), "history.createdBy"),
        parent_comment_id=content_id(parents[-1], "id", "ancestors.id") if parents else None,
        location=location if isinstance(location, str) else None,
    )


def rest_removal(content: Mapping[str, Any], account_of: AccountOf | None = None) -> Removal:
    """Trashed content from the REST API; the last version's author and time stand for the removal's (the API
    keeps no record of who trashed it)."""
    account_of = account_of or rest_account
    kind = content.get("type")
    if kind not in ("page", "comment"):
        raise UnusableContent(f"type is {describe(kind)}, expected page or comment")
    version = mapping_field(content, "version")
    page = mapping_field(content, "container") if kind == "comment" else content
    return Removal(
        content_type=kind,
        content_id=content_id(content, "id"),
        page_id=content_id(page, "id", "container.id" if kind == "comment" else "id"),
        space_key=text_field(mapping_field(content, "space"), "space.key", "key"),
        title=text_field(page, "title", "title"),
        when=rest_time(text_field(version, "version.when", "when")),
        account=account_of(version.get("by"), "version.by"),
    )


def rest_account(user: object, where: str) -> str:
    """The Atlassian account id of a REST user object; anonymous users and apps without one are unusable."""
    if not isinstance(user, Mapping):
        raise UnusableContent(f"{where} is {describe(user)}, expected a user")
    account = user.get("accountId")
    if not isinstance(account, str) or not account:
        raise UnusableContent(f"{where}.accountId is {describe(account)} (user type {user.get('type')!r})")
    return account


def dc_account(user: object, where: str) -> str:
    """The user key of a Data Center REST user object: the key webhook payloads name people by (Data Center has
    no Atlassian account ids); anonymous users have none and are unusable."""
    if not isinstance(user, Mapping):
        raise UnusableContent(f"{where} is {describe(user)}, expected a user")
    key = user.get("userKey")
    if not isinstance(key, str) or not key:
        raise UnusableContent(f"{where}.userKey is {describe(key)} (user type {user.get('type')!r})")
    return key


def dc_first_version(page: Mapping[str, Any]) -> PageVersion:
    """Version 1 of a page read back from the Data Center REST API after it changed again: its creation, from the
    `history` (no message, as a `page_created` payload has none)."""
    history = mapping_field(page, "history")
    return PageVersion(
        page_id=content_id(page, "id"),
        space_key=text_field(mapping_field(page, "space"), "space.key", "key"),
        title=text_field(page, "title", "title"),
        number=1,
        when=rest_time(text_field(history, "history.createdDate", "createdDate")),
        account=dc_account(history.get("createdBy"), "history.createdBy"),
    )


def dc_removal(content_type: ContentType, content: Mapping[str, Any], user_key: object, timestamp: object) -> Removal:
    """A removal announced by an id-only `page_trashed` / `page_removed` / `comment_removed` event, its content read
    back from the Data Center REST API: where it was from the content, who and when from the event, as
    `webhook_removal` takes them from a full payload."""
    page = mapping_field(content, "container") if content_type == "comment" else content
    return Removal(
        content_type=content_type,
        content_id=content_id(content, "id"),
        page_id=content_id(page, "id", "container.id" if content_type == "comment" else "id"),
        space_key=text_field(mapping_field(content, "space"), "space.key", "key"),
        title=text_field(page, "title", "title"),
        when=epoch_ms(timestamp, "timestamp"),
        account=webhook_account(None, user_key),
    )


def rest_time(value: str) -> datetime:
    """A REST timestamp (`2024-03-05T09:30:00.000Z`) as an aware datetime in UTC."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UnusableContent(f"timestamp {value!r} is not ISO 8601") from None
    if moment.tzinfo is None:
        raise UnusableContent(f"timestamp {value!r} has no time zone")
    return moment.astimezone(UTC)


# -- Data Center webhook payloads (`page` / `comment` objects with flat fields, times in epoch milliseconds) ----


def webhook_page_version(page: Mapping[str, Any], user_key: object) -> PageVersion:
    """The version a `page_created` / `page_updated` payload describes; its saver is `lastModifierKey`
    (`creatorKey` for the first version), else the event's `userKey`."""
    number = version_number(page)
    account = page.get("creatorKey") if number == 1 else page.get("lastModifierKey")
    return PageVersion(
        page_id=content_id(page, "id", "page.id"),
        space_key=text_field(page, "page.spaceKey", "spaceKey"),
        title=text_field(page, "page.title", "title"),
        number=number,
        when=epoch_ms(page.get("modificationDate") if number > 1 else page.get("creationDate"), "page dates"),
        account=webhook_account(account, user_key),
    )


def webhook_comment(comment: Mapping[str, Any], user_key: object) -> PageComment:
    """A `comment_created` payload's comment; its page is `parent`, the comment it answers `inReplyTo`."""
    page = mapping_field(comment, "parent")
    reply_to = comment.get("inReplyTo")
    return PageComment(
        comment_id=content_id(comment, "id", "comment.id"),
        page_id=content_id(page, "id", "comment.parent.id"),
        space_key=text_field(comment, "comment.spaceKey", "spaceKey"),
        page_title=text_field(page, "comment.parent.title", "title"),
        created=epoch_ms(comment.get("creationDate"), "comment.creationDate"),
        account=webhook_account(comment.get("creatorKey"), user_key),
        parent_comment_id=content_id(reply_to, "id", "comment.inReplyTo.id") if isinstance(reply_to, Mapping) else None,
    )


def webhook_removal(
    content_type: ContentType, content: Mapping[str, Any], user_key: object, timestamp: object
) -> Removal:
    """A `page_removed` / `page_trashed` / `comment_removed` payload: the event's user removed it at its time."""
    page = mapping_field(content, "parent") if content_type == "comment" else content
    return Removal(
        content_type=content_type,
        content_id=content_id(content, "id", f"{content_type}.id"),
        page_id=content_id(page, "id", f"{content_type}.parent.id" if content_type == "comment" else "page.id"),
        space_key=text_field(content, f"{content_type}.spaceKey", "spaceKey"),
        title=text_field(page, "title", "title"),
        when=epoch_ms(timestamp, "timestamp"),
        account=webhook_account(None, user_key),
    )


def webhook_account(account: object, user_key: object) -> str:
    """The user key that did it: the content's own field when set, else the event's `userKey`."""
    for candidate in (account, user_key):
        if isinstance(candidate, str) and candidate:
            return candidate
    raise UnusableContent("no user key (creatorKey / lastModifierKey / userKey empty: an anonymous user?)")


def epoch_ms(value: object, where: str) -> datetime:
    """An epoch time in milliseconds as an aware datetime."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise UnusableContent(f"{where} is {describe(value)}, expected epoch milliseconds")
    return datetime.fromtimestamp(value / 1000, tz=UTC)


# -- fields ------------------------------------------------------------------------------------------------------


def mapping_field(record: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """A field that must be an object."""
    value = record.get(name)
    if not isinstance(value, Mapping):
        raise UnusableContent(f"{name} is {describe(value)}, expected an object")
    return value


def text_field(record: Mapping[str, Any], where: str, name: str) -> str:
    """A field that must be non-empty text."""
    value = record.get(name)
    if not isinstance(value, str) or not value:
        raise UnusableContent(f"{where} is {describe(value)}, expected text")
    return value


def content_id(record: Mapping[str, Any], name: str, where: str | None = None) -> str:
    """A content id: digits, given as text (REST) or as a number (webhooks)."""
    value = record.get(name)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    if isinstance(value, str) and value.isdigit():
        return value
    raise UnusableContent(f"{where or name} is {describe(value)}, expected a content id")


def version_number(record: Mapping[str, Any]) -> int:
    """A version number: a positive integer (`number` in the REST API, `version` in webhooks)."""
    value = record.get("number", record.get("version"))
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UnusableContent(f"version number is {describe(value)}, expected a positive integer")
    return value


def describe(value: object) -> str:
    """A value for an error message: missing, or its type and a short repr."""
    if value is None:
        return "missing"
    return f"{type(value).__name__} {value!r:.40}"
