"""The connector configuration file (TOML): the instances to run, each with its own settings and its own slice.

```toml
directory = "hr/people.csv"          # the HR export every connector resolves accounts through (optional)

[[connectors]]
name = "acme-slack"                  # the cursor's name and the receiver's URL path: letters, digits, '-'
type = "slack-events"
workspace = "T0123ABCD"
signing_secret_env = "ACME_SLACK_SIGNING_SECRET"   # secrets: the *name* of an environment variable
```

Secrets never sit in the file: a field that holds one names the environment variable to read it from
(`…_env`), and a literal secret is refused. Each instance owns a disjoint slice of its source (a workspace's
channels, a wiki); two instances that would read the same items are refused, so adding instances never double
reads. Direct messages and private channels are excluded unless an instance says otherwise.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from learnstream.errors import ConfigError
from producers.chat.mattermost_config import MattermostApiConfig, MattermostWebhookConfig
from producers.chat.teams_config import TeamsNotificationsConfig, TeamsSubscriptionsConfig
from producers.instance_config import EnvironmentVariable, InstanceConfig
from producers.wiki.confluence_config import ConfluenceCloudConfig, ConfluenceWebhookConfig

#: Field names that would hold a secret if given literally.
_SECRET_WORDS = re.compile(r"(secret|token|password|api_key)$")
ChangeType = Literal["edit", "new"]
CHANGE_TYPES: tuple[ChangeType, ...] = ("edit", "new")


class SlackEventsConfig(InstanceConfig):
    """A Slack app's Events API subscription, posted to `serve` at `/hooks/slack/<name>`."""

    type: Literal["slack-events"]
    workspace: Annotated[str, Field(pattern=r"^[TE][A-Z0-9]+$", description="the team id events carry")]
    channels: list[str] = Field(default_factory=list, description="channel ids to keep; empty keeps every channel")
    include_private: bool = False
    include_direct: bool = False
    signing_secret_env: EnvironmentVariable
    bot_token_env: EnvironmentVariable | None = Field(
        default=None, description="a bot token with users:read and users:read.email, to resolve people by e-mail"
    )
    api_url: str = "https://slack.com/api/"
    max_body_bytes: int = Field(default=1_048_576, ge=1024)

    def slice(self) -> tuple[str, frozenset[str] | None]:
        return f"slack:{self.workspace}", frozenset(self.channels) or None


class SlackExportConfig(InstanceConfig):
    """A Slack workspace export ZIP, imported once for backfill."""

    type: Literal["slack-export"]
    workspace: Annotated[str, Field(pattern=r"^[TE][A-Z0-9]+$")]
    path: Path
    channels: list[str] = Field(default_factory=list, description="channel names to import; empty imports all")
    batch_size: int = Field(default=1000, ge=1)

    def slice(self) -> tuple[str, frozenset[str] | None]:
        return f"slack-export:{self.path}", frozenset(self.channels) or None


class MediaWikiConfig(InstanceConfig):
    """A MediaWiki wiki polled through `list=recentchanges` (and `list=allrevisions` beyond its reach)."""

    type: Literal["mediawiki"]
    api_url: str = Field(description="the wiki's api.php, e.g. https://wiki.example.org/w/api.php")
    server_name: str = Field(description="the wiki's host name: the source instance of its activities")
    namespaces: list[int] = Field(default_factory=lambda: [0])
    types: list[ChangeType] = Field(default_factory=lambda: list(CHANGE_TYPES))
    exclude_bots: bool = False
    backfill_days: int = Field(default=30, ge=0, description="how far back a first run starts")
    poll_interval_s: float = Field(default=30.0, gt=0)
    batch_size: int = Field(default=500, ge=1, le=500, description="the API's page size (rclimit)")
    user_agent: str = "learnstream/0.1 (informal-learning analytics; contact your platform team)"
    token_env: EnvironmentVariable | None = Field(default=None, description="a bearer token for a private wiki")

    def slice(self) -> tuple[str, frozenset[str] | None]:
        return f"mediawiki:{self.server_name}", frozenset(str(namespace) for namespace in self.namespaces)


class EventStreamsConfig(InstanceConfig):
    """Wikimedia EventStreams (`mediawiki.recentchange` over server-sent events), kept for one wiki."""

    type: Literal["mediawiki-eventstreams"]
    stream_url: str = "https://stream.wikimedia.org/v2/stream/recentchange"
    server_name: str
    namespaces: list[int] = Field(default_factory=lambda: [0])
    types: list[ChangeType] = Field(default_factory=lambda: list(CHANGE_TYPES))
    exclude_bots: bool = False
    user_agent: str = "learnstream/0.1 (informal-learning analytics; contact your platform team)"
    poll_interval_s: float = Field(default=1.0, gt=0, description="pause before reconnecting once a read ended")

    def slice(self) -> tuple[str, frozenset[str] | None]:
        # the stream and the API read the same changes: one wiki's namespaces belong to one of them
        return f"mediawiki:{self.server_name}", frozenset(str(namespace) for namespace in self.namespaces)


class DirectoryConfig(InstanceConfig):
    """The people directory: the HR export published to `<ns>.directory` whenever it changed."""

    type: Literal["directory"]
    path: Path | None = Field(default=None, description="the export; default: the file's top-level `directory`")
    poll_interval_s: float = Field(default=300.0, gt=0)

    def slice(self) -> tuple[str, frozenset[str] | None]:
        return "directory", None


class FileReplayConfig(InstanceConfig):
    """A JSONL file of activities, replayed onto the raw topic."""

    type: Literal["file-replay"]
    path: Path

    def slice(self) -> tuple[str, frozenset[str] | None]:
        return f"file:{self.path}", None


ConnectorConfig = Annotated[
    SlackEventsConfig
    | SlackExportConfig
    | MediaWikiConfig
    | EventStreamsConfig
    | DirectoryConfig
    | FileReplayConfig
    | MattermostWebhookConfig
    | MattermostApiConfig
    | ConfluenceCloudConfig
    | ConfluenceWebhookConfig
    | TeamsNotificationsConfig
    | TeamsSubscriptionsConfig,
    Field(discriminator="type"),
]
_CONNECTOR = TypeAdapter(ConnectorConfig)


class ConnectorFile(BaseModel):
    """The whole file: the directory export every connector resolves people through, and the instances."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    directory: Path | None = None
    connectors: list[ConnectorConfig] = Field(default_factory=list)

    def instance(self, name: str) -> ConnectorConfig:
        """The instance called `name`; a ConfigError listing the names there are otherwise."""
        for config in self.connectors:
            if config.name == name:
                return config
        known = ", ".join(config.name for config in self.connectors) or "none"
        raise ConfigError(f"no connector called {name!r} in the connector file (configured: {known})")


def load_connector_file(path: Path) -> ConnectorFile:
    """Read and check a connector file; every problem is a ConfigError naming the file and the instance."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"no connector file at {path}: write one (see the README, 'Connecting your tools') or set "
            "LEARNSTREAM_CONNECTORS_FILE"
        ) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"connector file {path} is not readable TOML: {exc}") from exc
    return connector_file_from_document(document, str(path), path.parent)


def connector_file_from_document(document: dict[str, Any], origin: str, base: Path) -> ConnectorFile:
    """The checked configuration from a parsed document; relative paths are relative to the file's folder."""
    entries = document.get("connectors", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{origin}: `connectors` must be an array of tables ([[connectors]])")
    connectors = [connector_from_entry(entry, index, origin) for index, entry in enumerate(entries)]
    names = [config.name for config in connectors]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ConfigError(f"{origin}: connector names must be unique; repeated: {', '.join(duplicated)}")
    check_disjoint_slices(connectors, origin)
    directory = document.get("directory")
    if directory is not None and not isinstance(directory, str):
        raise ConfigError(f"{origin}: `directory` must be the path of the HR export")
    unknown = sorted(set(document) - {"connectors", "directory"})
    if unknown:
        raise ConfigError(f"{origin}: unknown top-level key(s) {', '.join(unknown)}")
    return ConnectorFile(
        directory=resolve(base, Path(directory)) if directory else None,
        connectors=[with_resolved_paths(config, base) for config in connectors],
    )


def connector_from_entry(entry: Any, index: int, origin: str) -> ConnectorConfig:
    """One `[[connectors]]` table as its type's configuration, refusing secrets written into the file."""
    if not isinstance(entry, dict):
        raise ConfigError(f"{origin}: connector {index} is not a table")
    where = f"{origin}: connector {entry.get('name', index)!r}"
    literal_secrets = sorted(key for key in entry if _SECRET_WORDS.search(key))
    if literal_secrets:
        raise ConfigError(
            f"{where}: {', '.join(literal_secrets)} would put a secret in the file; secrets come from the "
            f'environment: name the variable instead ({literal_secrets[0]}_env = "MY_VARIABLE")'
        )
    try:
        return _CONNECTOR.validate_python(entry)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigError(f"{where}: {problems}") from exc


def check_disjoint_slices(connectors: list[ConnectorConfig], origin: str) -> None:
    """Refuse two instances that would read the same items of one source (they would publish everything twice)."""
    claimed: dict[str, list[tuple[str, frozenset[str] | None]]] = {}
    for config in connectors:
        source, items = config.slice()
        for other_name, other_items in claimed.get(source, []):
            if items is None or other_items is None or items & other_items:
                raise ConfigError(
                    f"{origin}: connectors {other_name!r} and {config.name!r} both read {source}"
                    f"{'' if items is None or other_items is None else ' ' + ', '.join(sorted(items & other_items))}"
                    "; give each instance a disjoint slice (channels, namespaces) so nothing is read twice"
                )
        claimed.setdefault(source, []).append((config.name, items))


def resolve(base: Path, path: Path) -> Path:
    """A path from the file, relative to the file's folder unless absolute."""
    return path if path.is_absolute() else base / path


def with_resolved_paths(config: ConnectorConfig, base: Path) -> ConnectorConfig:
    """The instance with its file paths made relative to the connector file's folder."""
    path = getattr(config, "path", None)
    if isinstance(path, Path):
        return config.model_copy(update={"path": resolve(base, path)})
    return config
