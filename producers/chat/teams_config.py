"""The connector-file settings of the two Teams connector types: the change notifications (received in `serve`,
fetched by `connect run`) and the subscriptions keeper (`connect run`), which keeps Graph's subscriptions pointed at
the receivers alive.

Secrets are never in the file: `client_secret_env` names the variable holding the app registration's client secret,
`client_state_env` the one holding the `clientState` shared with Graph (at most 128 characters).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from producers.chat.teams_graph import GRAPH_URL, token_endpoint_of
from producers.instance_config import NAME_PATTERN, EnvironmentVariable, InstanceConfig

#: Entra ids (tenants, app registrations) are GUIDs.
Guid = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")]


class TeamsGraphAccess(InstanceConfig):
    """What both Teams types need to call Graph as the app: tenant, client id and where the secrets are."""

    tenant_id: Guid
    client_id: Guid = Field(description="the application (client) id of the app registration")
    client_secret_env: EnvironmentVariable = Field(description="the variable holding the app's client secret")
    client_state_env: EnvironmentVariable = Field(description="the variable holding the clientState shared with Graph")
    token_endpoint: str | None = Field(default=None, description="default: the tenant's v2.0 token endpoint")
    graph_url: str = Field(default=GRAPH_URL, description="the Graph root, ending in /")

    @property
    def token_url(self) -> str:
        """The token endpoint: as configured, else login.microsoftonline.com's for the tenant."""
        return self.token_endpoint or token_endpoint_of(self.tenant_id)


class TeamsNotificationsConfig(TeamsGraphAccess):
    """Graph change notifications for Teams messages, posted to `serve` at `/hooks/teams/<name>` (and lifecycle
    notifications at `/hooks/teams/<name>/lifecycle`) and queued there; `connect run <name>` fetches each changed
    message through Graph."""

    type: Literal["teams-notifications"]
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    fetch_rate_per_s: float = Field(
        default=15.0, gt=0, description="message GETs a second at most (Graph allows an app about 20 per tenant)"
    )
    batch_size: int = Field(default=200, ge=1, le=10_000, description="queued notifications fetched per batch")
    poll_interval_s: float = Field(default=2.0, gt=0, description="how often the fetch half looks for new ones")

    def slice(self) -> tuple[str, frozenset[str] | None]:
        # the subscriptions, not this receiver, choose the channels: the receiver claims only itself
        return f"teams:{self.tenant_id}", frozenset({f"receiver:{self.name}"})


class TeamsSubscriptionsConfig(TeamsGraphAccess):
    """The Graph subscriptions of a list of Teams resources, created and renewed before they expire."""

    type: Literal["teams-subscriptions"]
    notification_url: str = Field(
        pattern=r"^(https://|http://(127\.0\.0\.1|localhost)[:/])",
        description="the public HTTPS URL of serve's /hooks/teams/<receiver name> (plain HTTP on the loopback only)",
    )
    receiver: Annotated[str, Field(pattern=NAME_PATTERN)] = Field(
        description="the name of the teams-notifications instance the notifications go to"
    )
    resources: list[str] = Field(
        min_length=1,
        description="Graph resources, e.g. /teams/{team-id}/channels/{channel-id}/messages or /teams/getAllMessages",
    )
    renew_margin_minutes: int = Field(default=720, ge=5, le=4000, description="renew a subscription this long ahead")
    poll_interval_s: float = Field(default=300.0, gt=0)

    def slice(self) -> tuple[str, frozenset[str] | None]:
        return f"teams:{self.tenant_id}", frozenset(self.resources)
