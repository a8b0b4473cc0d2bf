"""The channel types a Slack Events receiver learnt, kept in a file so a restart remembers them.

Reactions carry no channel type, and a `C` channel may be private, so the receiver records a reaction only in a
channel whose type it knows: from `conversations.list` at start (with a bot token) or from a message event there.
Learnt only in memory, a restart forgot them: a reaction acknowledged after a restart, before the next message of
its channel, was treated as possibly private and not recorded, and Slack does not send it again (the fault
suite's serve-kill scenario found it). The file is rewritten whole, atomically, when a channel is learnt or
changes type: once per channel, not per event. Several serve instances each keep their own: give them a bot token.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

logger = logging.getLogger(__name__)


class LearntChannelTypes:
    """The file of one receiver's learnt channel types (`<data dir>/slack/<receiver>.channel-types.json`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.saved: dict[str, str] = {}

    @classmethod
    def for_receiver(cls, data_dir: Path, name: str) -> LearntChannelTypes:
        return cls(data_dir / "slack" / f"{name}.channel-types.json")

    def load(self) -> dict[str, str]:
        """The types saved before (none when there is no file; an unreadable one is logged and ignored)."""
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            logger.warning("learnt Slack channel types not read from %s (%s): learning them again", self.path, exc)
            return {}
        if not isinstance(document, dict):
            return {}
        self.saved = {str(channel): str(kind) for channel, kind in document.items() if isinstance(kind, str)}
        return dict(self.saved)

    def save_if_changed(self, types: Mapping[str, str], channel: str) -> None:
        """Write the types when `channel`'s differs from what the file holds; a failed write is logged (the types
        stay in memory, and the next channel learnt tries again)."""
        if channel not in types or self.saved.get(channel) == types[channel]:
            return
        snapshot = dict(types)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_name(self.path.name + ".partial")
            partial.write_text(json.dumps(snapshot, sort_keys=True), encoding="utf-8")
            partial.replace(self.path)
        except OSError as exc:
            logger.warning("learnt Slack channel types not saved to %s: %s", self.path, exc)
            return
        self.saved = snapshot
