"""The connector file's Confluence instances: Cloud polled through its REST API, Data Center through webhooks.

```toml
[[connectors]]
name = "acme-confluence"
type = "confluence-cloud"
site = "acme.atlassian.net"
email = "learnstream-bot@acme.example"
api_token_env = "ACME_CONFLUENCE_API_TOKEN"     # an Atlassian API token for that account
spaces = ["ENG", "OPS"]

[[connectors]]
name = "corp-wiki"
type = "confluence-webhook"                     # Data Center posts to serve at /hooks/confluence/corp-wiki
site = "wiki.corp.example"
secret_env = "CORP_WIKI_WEBHOOK_SECRET"
spaces = ["HR"]
api_url = "https://wiki.corp.example"           # optional, with token_env: id-only payloads (Confluence 8+) are
token_env = "CORP_WIKI_TOKEN"                   # read back through the REST API with a personal access token
```

Both read `confluence:<site>`; each instance owns its spaces, so two instances never read one space twice.
"""

from __future__ import annotations

from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from producers.instance_config import EnvironmentVariable, InstanceConfig

Host = Annotated[str, Field(pattern=r"^[A-Za-z0-9.-]+(:[0-9]+)?$", description="the site's host name")]
#: A space key: letters and digits; personal spaces start with `~`.
SpaceKey = Annotated[str, Field(pattern=r"^~?[A-Za-z0-9_]+$")]


class ConfluenceCloudConfig(InstanceConfig):
    """A Confluence Cloud site polled with CQL `lastmodified` windows, with Basic e-mail:API-token auth."""

    type: Literal["confluence-cloud"]
    site: Host = Field(description="the site's host name (acme.atlassian.net): the source instance")
    base_url: str | None = Field(default=None, description="default https://<site>; the API is under /wiki")
    email: str = Field(min_length=3, description="the Atlassian account the API token belongs to")
    api_token_env: EnvironmentVariable
    spaces: list[SpaceKey] = Field(min_length=1, description="the space keys this instance reads")
    backfill_days: int = Field(default=30, ge=0, description="how far back a first run starts")
    poll_interval_s: float = Field(default=60.0, gt=0)
    overlap_minutes: int = Field(
        default=2, ge=0, le=60, description="minutes re-read before the last one read (search index lag)"
    )
    batch_size: int = Field(default=50, ge=1, le=100, description="results per search request (`limit`)")
    cql_time_zone: str = Field(
        default="UTC", description="the site's default time zone: CQL reads its dates in it, not in UTC"
    )

    @field_validator("cql_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from None
        return value

    @property
    def url(self) -> str:
        """Where the site answers (without `/wiki`)."""
        return (self.base_url or f"https://{self.site}").rstrip("/")

    def slice(self) -> tuple[str, frozenset[str] | None]:
        return f"confluence:{self.site}", frozenset(self.spaces)


class ConfluenceWebhookConfig(InstanceConfig):
    """A Confluence Data Center webhook posting to `serve` at `/hooks/confluence/<name>`, signed with a secret;
    with `api_url` and `token_env`, id-only payloads are read back through the Data Center REST API."""

    type: Literal["confluence-webhook"]
    site: Host = Field(description="the Data Center base URL's host name: the source instance")
    secret_env: EnvironmentVariable
    spaces: list[SpaceKey] = Field(default_factory=list, description="space keys to keep; empty keeps all")
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    api_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s?#]+$",
        description="the Data Center base URL, with its context path if any (https://corp.example/confluence): "
        "id-only payloads are read back from its REST API",
    )
    token_env: EnvironmentVariable | None = Field(
        default=None, description="a Data Center personal access token (sent as Bearer) that can view the spaces"
    )

    @model_validator(mode="after")
    def _call_back_complete(self) -> ConfluenceWebhookConfig:
        if (self.api_url is None) != (self.token_env is None):
            raise ValueError(
                "api_url and token_env go together: give both to read id-only payloads back from Data Center, "
                "or neither"
            )
        return self

    def slice(self) -> tuple[str, frozenset[str] | None]:
        return f"confluence:{self.site}", frozenset(self.spaces) or None
