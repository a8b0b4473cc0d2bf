"""The labelled evaluation items of the shared recordings (`../shared/data`), in `learnstream eval`'s format.

The committed labels (`labels/shared-data.dev.jsonl`, and `labels/shared-data.kept-aside.jsonl`: a part split off
before any rule was changed to fit the set, never tuned on; its sha256 is in the README) name their items by
reference only: a Slack message by its
export file, channel and `ts`, a wiki edit by its recentchange `id` (`rc_id`). No text is committed; it is read
from the shared files here, at evaluation time. A reference that is not in its shared file is a ValueError naming
it, so labels and recordings cannot drift apart unnoticed. See `LABELLING.md` for how the labels were decided.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

LABELS_DIR = Path(__file__).resolve().parent / "labels"
#: The committed labels by part: one item per line, references only.
PARTS = {
    "dev": LABELS_DIR / "shared-data.dev.jsonl",
    "kept-aside": LABELS_DIR / "shared-data.kept-aside.jsonl",
}
#: The labels LABELLING.md defines.
CATEGORIES = ("asked", "answered", "acknowledged", "shared", "taught", "documented", "none")
#: Export entries that are not messages anyone wrote (not labelled, not evaluated).
SKIPPED_SUBTYPES = frozenset({"channel_join", "channel_leave"})

_DAY_FILE = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")

MessageKey = tuple[str, str]


def read_labels(*paths: Path) -> list[dict[str, Any]]:
    """The labelled items of labels files (one JSON object per line, blank lines ignored); every part by default."""
    items = []
    for path in paths or tuple(PARTS.values()):
        items.extend(read_labels_file(path))
    return items


def read_labels_file(path: Path) -> list[dict[str, Any]]:
    """The labelled items of one labels file."""
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        item = json.loads(line)
        if not isinstance(item, dict):
            raise ValueError(f"{path}:{number}: a labelled item must be a JSON object")
        items.append(item)
    return items


def export_messages(path: Path) -> dict[MessageKey, dict[str, Any]]:
    """Every message of a Slack export ZIP but joins and leaves, by (channel name, ts), in export order."""
    if not path.is_file():
        raise ValueError(f"shared data file {path} not found")
    messages: dict[MessageKey, dict[str, Any]] = {}
    with zipfile.ZipFile(path) as archive:
        channels = json.loads(archive.read("channels.json"))
        names = sorted(str(channel["name"]) for channel in channels)
        days: dict[str, list[str]] = {}
        for member in archive.namelist():
            pure = PurePosixPath(member)
            if _DAY_FILE.match(pure.name):
                days.setdefault(pure.parent.name, []).append(member)
        for name in names:
            for day in sorted(days.get(name, [])):
                for message in json.loads(archive.read(day)):
                    if isinstance(message, dict) and message.get("subtype") not in SKIPPED_SUBTYPES:
                        messages[(name, str(message["ts"]))] = message
    return messages


def wiki_events(path: Path) -> dict[int, dict[str, Any]]:
    """Every recentchange event of an NDJSON recording, by its `id`, in file order."""
    if not path.is_file():
        raise ValueError(f"shared data file {path} not found")
    events: dict[int, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            event = json.loads(line)
            events[int(event["id"])] = event
    return events


def message_author(message: Mapping[str, Any]) -> str:
    """Who posted a message: the user, else the bot, else (a `file_comment`) the commenter."""
    comment = message.get("comment")
    commenter = comment.get("user") if isinstance(comment, Mapping) else None
    return str(message.get("user") or message.get("bot_id") or commenter or "")


def message_files(message: Mapping[str, Any]) -> int:
    """How many files were posted with a message (`files`, or the older `file` of a `file_share`)."""
    files = message.get("files") or ([message["file"]] if message.get("subtype") == "file_share" else [])
    return sum(1 for file in files if isinstance(file, Mapping) and file.get("id"))


def is_bot(message: Mapping[str, Any]) -> bool:
    """True for a message a bot posted."""
    return message.get("subtype") == "bot_message" or ("bot_id" in message and not message.get("user"))


def load_shared_data_items(shared_data_dir: Path, *labels_files: Path) -> list[dict[str, Any]]:
    """The labelled items with their text read from `shared_data_dir`, in the evaluation format.

    Raises ValueError naming the reference when a labelled message or edit is not in its shared file, when a
    shared file is missing, or when an item is malformed.
    """
    chats: dict[str, dict[MessageKey, dict[str, Any]]] = {}
    wikis: dict[str, dict[int, dict[str, Any]]] = {}
    items = []
    for labelled in read_labels(*labels_files):
        item_id = str(labelled.get("id") or "")
        source = str(labelled.get("source") or "")
        if not item_id or not source:
            raise ValueError(f"labelled item {item_id or '?'} needs an id and a source")
        kind = labelled.get("kind")
        if kind == "chat":
            if source not in chats:
                chats[source] = export_messages(shared_data_dir / source)
            items.append(chat_item(labelled, item_id, chats[source]))
        elif kind == "wiki":
            if source not in wikis:
                wikis[source] = wiki_events(shared_data_dir / source)
            items.append(wiki_item(labelled, item_id, wikis[source]))
        else:
            raise ValueError(f"labelled item {item_id}: kind must be chat or wiki, not {kind!r}")
    return items


def checked_label(entry: Mapping[str, Any], where: str) -> str:
    """An entry's label, which must be one of CATEGORIES."""
    label = entry.get("label")
    if label not in CATEGORIES:
        raise ValueError(f"{where}: label {label!r} is not one of {', '.join(CATEGORIES)}")
    return str(label)


def chat_item(
    labelled: Mapping[str, Any], item_id: str, messages: Mapping[MessageKey, Mapping[str, Any]]
) -> dict[str, Any]:
    """A thread item: each referenced message's author, text, files and bot flag, with its label."""
    channel = str(labelled.get("channel") or "")
    refs = labelled.get("messages")
    if not isinstance(refs, list) or not refs:
        raise ValueError(f"labelled item {item_id}: messages must be a non-empty list")
    out = []
    root_ts = ""
    for position, ref in enumerate(refs):
        ts = str(ref.get("ts") or "") if isinstance(ref, dict) else ""
        where = f"labelled item {item_id} message {position} (channel {channel!r}, ts {ts!r})"
        message = messages.get((channel, ts))
        if message is None:
            raise ValueError(f"{where} is not in {labelled['source']}")
        if position == 0:
            root_ts = ts
        elif str(message.get("thread_ts") or "") != root_ts:
            raise ValueError(f"{where} is not a reply in the thread of {root_ts} in {labelled['source']}")
        out.append(
            {
                "author": message_author(message),
                "text": str(message.get("text") or ""),
                "label": checked_label(ref, where),
                "files": message_files(message),
                "bot": is_bot(message),
            }
        )
    return {
        "id": item_id,
        "source": labelled["source"],
        "licence": labelled.get("licence", ""),
        "kind": "chat",
        "messages": out,
    }


def bytes_changed(event: Mapping[str, Any]) -> dict[str, int]:
    """How many bytes the edit added (negative: removed), as the MediaWiki connector reads `length`; nothing when
    the event does not say."""
    length = event.get("length")
    if not isinstance(length, Mapping) or not isinstance(length.get("new"), int):
        return {}
    old = length.get("old")
    return {"bytes_changed": int(length["new"]) - (int(old) if isinstance(old, int) else 0)}


def wiki_item(labelled: Mapping[str, Any], item_id: str, events: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """A page item: each referenced edit's author, comment and flags, with its label (one page per item)."""
    refs = labelled.get("edits")
    if not isinstance(refs, list) or not refs:
        raise ValueError(f"labelled item {item_id}: edits must be a non-empty list")
    edits = []
    page: tuple[str, int] | None = None
    for position, ref in enumerate(refs):
        rc_id = ref.get("rc_id") if isinstance(ref, dict) else None
        where = f"labelled item {item_id} edit {position} (rc_id {rc_id!r})"
        event = events.get(rc_id) if isinstance(rc_id, int) else None
        if event is None:
            raise ValueError(f"{where} is not in {labelled['source']}")
        this_page = (str(event["title"]), int(event.get("namespace") or 0))
        if page is not None and this_page != page:
            raise ValueError(f"{where} is on another page than the item's first edit")
        page = this_page
        edits.append(
            {
                "author": str(event.get("user") or ""),
                "comment": str(event.get("comment") or ""),
                "label": checked_label(ref, where),
                "minor": bool(event.get("minor")),
                "bot": bool(event.get("bot")),
                "new_page": event.get("type") == "new",
                **bytes_changed(event),
            }
        )
    assert page is not None
    return {
        "id": item_id,
        "source": labelled["source"],
        "licence": labelled.get("licence", ""),
        "kind": "wiki",
        "title": page[0],
        "namespace": page[1],
        "edits": edits,
    }
