"""The connector-file settings of the two Mattermost connector types: outgoing webhooks and the REST API poller.

Secrets are never in the file: `token_env` names the environment variable holding the webhook's token or the
API's personal access (or bot) token.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from producers.instance_config import EnvironmentVariable, InstanceConfig

#: Mattermost ids (users, teams, channels, posts) are 26 lower-case letters and digits.
MattermostId = Annotated[str, Field(pattern=r"^[a-z0-9]{26}$")]
HostName = Annotated[str, Field(pattern=r"^[A-Za-z0-9.-]+(:[0-9]+)?$", description="the server's host name")]


class MattermostWebhookConfig(InstanceConfig):
    """A Mattermost outgoing webhook, posted to `serve` at `/hooks/mattermost/<name>` (public channels only)."""

    type: Literal["mattermost-webhook"]
    server: HostName
    team_id: MattermostId = Field(description="the team the webhook belongs to; posts of another team are set aside")
    token_env: EnvironmentVariable = Field(description="the variable holding the webhook's token (Mattermost shows it)")
    max_body_bytes: int = Field(default=262_144, ge=1024)

    def slice(self) -> tuple[str, frozenset[str] | None]:
        # Mattermost, not this file, chooses the channels a webhook hears: each webhook claims only itself
        return f"mattermost:{self.server}", frozenset({f"webhook:{self.name}"})


class MattermostApiConfig(InstanceConfig):
    """Channels of a Mattermost server polled through the REST API v4: posts, replies, edits, deletions, reactions."""

    type: Literal["mattermost-api"]
    server: HostName
    api_url: str = Field(description="the API root, e.g. https://chat.example.org/api/v4/")
    token_env: EnvironmentVariable = Field(description="the variable holding a personal access or bot token")
    channels: list[MattermostId] = Field(min_length=1, description="the channel ids this instance reads")
    backfill_days: int = Field(default=30, ge=0, description="how far back a first run starts")
    poll_interval_s: float = Field(default=30.0, gt=0)
    batch_size: int = Field(default=200, ge=1, le=200, description="posts per page (the server caps per_page at 200)")

    def slice(self) -> tuple[str, frozenset[str] | None]:
        return f"mattermost:{self.server}", frozenset(self.channels)
