"""The registry of connector types: each instance of the connector file becomes its pull source or receiver here.

Everything an instance needs beyond its own settings comes from one `ConnectorContext`: the pseudonym and id
keys (never the development keys outside development), the people directory, secrets read from the
environment variables the file names, the HTTP settings and the clock. The CLI, `serve`, the simulator and the
tests all build connectors through `build_pull` and `build_receivers`, so they are assembled the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from learnstream.errors import ConfigError, ServiceUnavailable
from learnstream.settings import Settings, require_secret_keys
from producers.chat.mattermost import MattermostScope
from producers.chat.mattermost_api import MattermostPosts
from producers.chat.mattermost_config import MattermostApiConfig, MattermostWebhookConfig
from producers.chat.mattermost_webhook import MattermostWebhookReceiver
from producers.chat.slack_api import SlackApi
from producers.chat.slack_channel_types import LearntChannelTypes
from producers.chat.slack_events import ChannelFilter, SlackEventsReceiver
from producers.chat.slack_export import SlackExportImport, user_emails_from_export
from producers.chat.slack_messages import SlackScope
from producers.chat.teams_config import TeamsGraphAccess, TeamsNotificationsConfig, TeamsSubscriptionsConfig
from producers.chat.teams_fetcher import TeamsNotificationFetcher
from producers.chat.teams_graph import GraphClient, GraphCredentials
from producers.chat.teams_messages import TeamsMessages
from producers.chat.teams_notifications import TeamsLifecycleReceiver, TeamsNotificationReceiver
from producers.chat.teams_subscriptions import TeamsSubscriptions
from producers.connector_config import (
    ConnectorConfig,
    ConnectorFile,
    DirectoryConfig,
    EventStreamsConfig,
    FileReplayConfig,
    MediaWikiConfig,
    SlackEventsConfig,
    SlackExportConfig,
)
from producers.contracts import CheckReport, PullSource, PushReceiver
from producers.directory import AccountKind, Directory, DirectorySnapshot, load_directory
from producers.file_replay import FileReplay
from producers.http_client import SourceHttpClient
from producers.identity import IdentityResolver
from producers.pending import KafkaPendingQueue
from producers.pseudonymise import account_ids
from producers.rate_limit import RateLimit
from producers.wiki.confluence_cloud import ConfluencePolling, basic_auth
from producers.wiki.confluence_config import ConfluenceCloudConfig, ConfluenceWebhookConfig
from producers.wiki.confluence_webhook import ConfluenceWebhookReceiver, DataCenterContent
from producers.wiki.eventstreams import EventStreamsSource
from producers.wiki.recentchanges import RecentChangesSource
from schemas.activity import SourceSystem

logger = logging.getLogger(__name__)


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class ConnectorContext:
    """What every connector instance is built with, besides its own configuration."""

    settings: Settings
    directory: Directory
    directory_path: Path | None
    environment: Mapping[str, str]
    now: Callable[[], datetime] = utc_now

    @classmethod
    def load(cls, settings: Settings, connectors: ConnectorFile, environment: Mapping[str, str]) -> ConnectorContext:
        """The context for a connector file: refuses the development keys (outside development), reads the directory."""
        require_secret_keys(settings)
        if connectors.directory is None:
            logger.warning("the connector file names no directory export: every account gets a source-scoped pseudonym")
            return cls(settings, Directory([]), None, environment)
        return cls(settings, load_directory(connectors.directory), connectors.directory, environment)

    @property
    def pseudonym_key(self) -> bytes:
        return self.settings.pseudonym_key.get_secret_value().encode("utf-8")

    @property
    def id_key(self) -> bytes:
        return self.settings.id_key.get_secret_value().encode("utf-8")

    def secret(self, instance: str, variable: str) -> str:
        """A secret from the environment variable the connector file names; a ConfigError naming it if unset."""
        value = self.environment.get(variable, "")
        if not value:
            raise ConfigError(f"connector {instance!r} needs the environment variable {variable}, which is not set")
        return value

    def resolver(
        self, source: SourceSystem, instance: str, kind: AccountKind, emails: Mapping[str, str] | None = None
    ) -> IdentityResolver:
        """Identity resolution for one source instance through the directory (and the source's e-mails)."""
        return IdentityResolver(self.directory, self.pseudonym_key, source.value, instance, kind, emails)

    def http_client(
        self, source: str, base_url: str, headers: Mapping[str, str], credentials_setting: str | None
    ) -> SourceHttpClient:
        """The shared HTTP client for one source's API."""
        return SourceHttpClient(source, base_url, self.settings.http, headers, credentials_setting)


def build_slack_events(config: SlackEventsConfig, context: ConnectorContext) -> SlackEventsReceiver:
    """The Events API receiver; with a bot token, users' e-mails from `users.list` resolve people too."""
    secret = context.secret(config.name, config.signing_secret_env).encode("utf-8")
    api = None
    emails: dict[str, str] = {}
    channel_types: dict[str, str] = {}
    if config.bot_token_env is not None:
        token = context.secret(config.name, config.bot_token_env)
        client = context.http_client(
            "slack", config.api_url, {"Authorization": f"Bearer {token}"}, config.bot_token_env
        )
        api = SlackApi(client, config.bot_token_env)
        try:
            emails = api.user_emails()
            channel_types = api.channel_types()
        except ServiceUnavailable as exc:  # the receiver still works, with HR-listed accounts and learnt channels
            logger.warning("%s: cannot list Slack users or channels now (%s)", config.name, exc)
    resolver = context.resolver(SourceSystem.SLACK, config.workspace, AccountKind.SLACK, emails)
    scope = SlackScope(config.workspace, resolver, account_ids(context.id_key, "slack", config.workspace))
    keep = ChannelFilter(frozenset(config.channels), config.include_private, config.include_direct)

    def check_users() -> CheckReport:
        assert api is not None
        team = api.team_id()
        if team != config.workspace:
            raise ConfigError(
                f"the token of {config.bot_token_env} belongs to workspace {team}, not {config.workspace}"
            )
        users = [str(user["id"]) for user in api.users() if user.get("id") and not user.get("is_bot")]
        checker = context.resolver(SourceSystem.SLACK, config.workspace, AccountKind.SLACK, api.user_emails())
        unresolved = sum(not checker.is_resolved(user) for user in users)
        return CheckReport([f"token works for workspace {team}"], len(users), unresolved)

    return SlackEventsReceiver(
        config.name,
        config.workspace,
        secret,
        scope,
        keep,
        config.max_body_bytes,
        check_users if api is not None else None,
        context.now,
        channel_types,
        LearntChannelTypes.for_receiver(context.settings.data_dir, config.name),
    )


def build_slack_export(config: SlackExportConfig, context: ConnectorContext) -> SlackExportImport:
    """The export import, resolving people through the directory and the export's `users.json` e-mails."""
    resolver = context.resolver(
        SourceSystem.SLACK, config.workspace, AccountKind.SLACK, user_emails_from_export(config.path)
    )
    scope = SlackScope(config.workspace, resolver, account_ids(context.id_key, "slack", config.workspace))
    return SlackExportImport(config.name, config.path, scope, config.channels, config.batch_size, resolver, context.now)


def build_mediawiki(config: MediaWikiConfig, context: ConnectorContext) -> RecentChangesSource:
    """The recent-changes poller of one wiki, resolving editors by their wiki user names."""
    headers = {"User-Agent": config.user_agent}
    if config.token_env is not None:
        headers["Authorization"] = f"Bearer {context.secret(config.name, config.token_env)}"
    http = context.http_client("mediawiki", config.api_url, headers, config.token_env)
    return RecentChangesSource(
        config.name,
        config.api_url,
        config.server_name,
        http,
        context.resolver(SourceSystem.MEDIAWIKI, config.server_name, AccountKind.WIKI),
        namespaces=config.namespaces,
        types=config.types,
        exclude_bots=config.exclude_bots,
        batch_size=config.batch_size,
        backfill_days=config.backfill_days,
        now=context.now,
    )


def build_eventstreams(config: EventStreamsConfig, context: ConnectorContext) -> EventStreamsSource:
    """The EventStreams reader for one wiki."""
    return EventStreamsSource(
        config.name,
        config.stream_url,
        config.server_name,
        context.resolver(SourceSystem.MEDIAWIKI, config.server_name, AccountKind.WIKI),
        context.settings.http,
        namespaces=config.namespaces,
        types=config.types,
        exclude_bots=config.exclude_bots,
        headers={"User-Agent": config.user_agent},
        now=context.now,
    )


def build_mattermost_webhook(config: MattermostWebhookConfig, context: ConnectorContext) -> MattermostWebhookReceiver:
    """A Mattermost outgoing webhook's receiver; posters resolve by their user id through the directory."""
    token = context.secret(config.name, config.token_env).encode("utf-8")
    resolver = context.resolver(SourceSystem.MATTERMOST, config.server, AccountKind.MATTERMOST)
    scope = MattermostScope(config.server, resolver, account_ids(context.id_key, "mattermost", config.server))
    return MattermostWebhookReceiver(
        config.name, config.server, config.team_id, token, scope, config.max_body_bytes, context.now
    )


def build_mattermost_api(config: MattermostApiConfig, context: ConnectorContext) -> MattermostPosts:
    """The Mattermost REST poller of the instance's channels (by user id, else the user's e-mail)."""
    headers = {"Authorization": f"Bearer {context.secret(config.name, config.token_env)}"}
    http = context.http_client("mattermost", config.api_url, headers, config.token_env)
    return MattermostPosts(
        config.name,
        config.server,
        config.channels,
        http,
        context.resolver(SourceSystem.MATTERMOST, config.server, AccountKind.MATTERMOST),
        account_ids(context.id_key, "mattermost", config.server),
        batch_size=config.batch_size,
        backfill_days=config.backfill_days,
        now=context.now,
    )


def build_confluence_cloud(config: ConfluenceCloudConfig, context: ConnectorContext) -> ConfluencePolling:
    """The Confluence Cloud poller of the instance's spaces (Basic e-mail:API token)."""
    headers = basic_auth(config.email, context.secret(config.name, config.api_token_env))
    http = context.http_client("confluence", config.url, headers, config.api_token_env)
    return ConfluencePolling(
        config.name,
        config.site,
        http,
        context.resolver(SourceSystem.CONFLUENCE, config.site, AccountKind.CONFLUENCE),
        config.spaces,
        overlap_minutes=config.overlap_minutes,
        batch_size=config.batch_size,
        backfill_days=config.backfill_days,
        time_zone=ZoneInfo(config.cql_time_zone),
        now=context.now,
    )


def build_confluence_webhook(config: ConfluenceWebhookConfig, context: ConnectorContext) -> ConfluenceWebhookReceiver:
    """The Confluence Data Center webhook receiver (X-Hub-Signature); people by user key through the directory.
    With `api_url` and `token_env`, id-only payloads are read back with the personal access token (Bearer)."""
    secret = context.secret(config.name, config.secret_env).encode("utf-8")
    resolver = context.resolver(SourceSystem.CONFLUENCE, config.site, AccountKind.CONFLUENCE)
    datacenter = None
    if config.api_url is not None and config.token_env is not None:
        headers = {
            "Authorization": f"Bearer {context.secret(config.name, config.token_env)}",
            "Accept": "application/json",
        }
        http = context.http_client("confluence", config.api_url, headers, config.token_env)
        datacenter = DataCenterContent(http, config.token_env)
    return ConfluenceWebhookReceiver(
        config.name, config.site, secret, resolver, config.spaces, config.max_body_bytes, context.now, datacenter
    )


def graph_client(config: TeamsGraphAccess, context: ConnectorContext) -> GraphClient:
    """A Graph client with the app registration's client credentials (the secret from the environment)."""
    credentials = GraphCredentials(
        config.tenant_id,
        config.client_id,
        context.secret(config.name, config.client_secret_env),
        config.token_url,
        config.client_secret_env,
    )
    http = context.http_client("teams", config.graph_url, {}, config.client_secret_env)
    return GraphClient(http, credentials, context.now)


def teams_messages(config: TeamsNotificationsConfig, context: ConnectorContext, rate: RateLimit) -> TeamsMessages:
    """The Graph side of a teams-notifications instance; people by Entra ID object id, else their e-mail."""
    return TeamsMessages(
        config.name,
        config.tenant_id,
        graph_client(config, context),
        context.resolver(SourceSystem.TEAMS, config.tenant_id, AccountKind.TEAMS),
        account_ids(context.id_key, "teams", config.tenant_id),
        context.now,
        rate,
    )


def build_teams_notifications(config: TeamsNotificationsConfig, context: ConnectorContext) -> list[PushReceiver]:
    """The receive half: Graph's change notifications, queued on the pending topic, at `/hooks/teams/<name>`, and
    its lifecycle notifications at `.../lifecycle`."""
    notifications = TeamsNotificationReceiver(
        teams_messages(config, context, RateLimit(None)),
        context.secret(config.name, config.client_state_env),
        config.max_body_bytes,
        context.now,
    )
    return [notifications, TeamsLifecycleReceiver(notifications)]


def build_teams_fetcher(config: TeamsNotificationsConfig, context: ConnectorContext) -> TeamsNotificationFetcher:
    """The fetch half (`connect run <name>`): the queued notifications' messages, fetched through Graph at the
    instance's rate."""
    settings = context.settings
    queue = KafkaPendingQueue(settings.kafka, settings.topics.names.connector_pending, config.name)
    messages = teams_messages(config, context, RateLimit(config.fetch_rate_per_s))
    return TeamsNotificationFetcher(messages, queue, config.batch_size)


def build_teams_subscriptions(config: TeamsSubscriptionsConfig, context: ConnectorContext) -> TeamsSubscriptions:
    """The keeper of the Graph subscriptions that feed a teams-notifications receiver."""
    return TeamsSubscriptions(
        config.name,
        graph_client(config, context),
        config.resources,
        config.notification_url,
        context.secret(config.name, config.client_state_env),
        context.resolver(SourceSystem.TEAMS, config.tenant_id, AccountKind.TEAMS),
        renew_margin=timedelta(minutes=config.renew_margin_minutes),
        now=context.now,
    )


def build_directory(config: DirectoryConfig, context: ConnectorContext) -> DirectorySnapshot:
    """The directory connector for the instance's export (or the file's)."""
    path = config.path or context.directory_path
    if path is None:
        raise ConfigError(f"connector {config.name!r}: give `path`, or name the export at the file's top (directory)")
    return DirectorySnapshot(path, context.pseudonym_key, config.name)


def build_file_replay(config: FileReplayConfig, context: ConnectorContext) -> FileReplay:
    """A JSONL replay under the instance's name."""
    return FileReplay(config.path, name=config.name)


PULL_BUILDERS: dict[str, Callable[[Any, ConnectorContext], PullSource[Any]]] = {
    "slack-export": build_slack_export,
    "mediawiki": build_mediawiki,
    "mediawiki-eventstreams": build_eventstreams,
    "mattermost-api": build_mattermost_api,
    "confluence-cloud": build_confluence_cloud,
    "teams-subscriptions": build_teams_subscriptions,
    "teams-notifications": build_teams_fetcher,  # its fetch half; serve runs its receive half
    "directory": build_directory,
    "file-replay": build_file_replay,
}
PUSH_BUILDERS: dict[str, Callable[[Any, ConnectorContext], PushReceiver | list[PushReceiver]]] = {
    "slack-events": build_slack_events,
    "mattermost-webhook": build_mattermost_webhook,
    "confluence-webhook": build_confluence_webhook,
    "teams-notifications": build_teams_notifications,
}


def is_receiver(config: ConnectorConfig) -> bool:
    """Whether an instance has a push receiver (mounted in `serve`)."""
    return config.type in PUSH_BUILDERS


def is_pull(config: ConnectorConfig) -> bool:
    """Whether an instance has a pull source (`connect run`); teams-notifications has both halves."""
    return config.type in PULL_BUILDERS


def build_pull(config: ConnectorConfig, context: ConnectorContext) -> PullSource[Any]:
    """The pull source of an instance; a ConfigError if the instance is only a receiver."""
    if config.type not in PULL_BUILDERS:
        raise ConfigError(f"connector {config.name!r} ({config.type}) is a receiver: `learnstream serve` runs it")
    return PULL_BUILDERS[config.type](config, context)


def build_receivers(config: ConnectorConfig, context: ConnectorContext) -> list[PushReceiver]:
    """The receivers of an instance (most have one; Teams has its lifecycle path too); a ConfigError if the
    instance is only a pull source."""
    if config.type not in PUSH_BUILDERS:
        raise ConfigError(f"connector {config.name!r} ({config.type}) polls: run it with `learnstream connect run`")
    built = PUSH_BUILDERS[config.type](config, context)
    return built if isinstance(built, list) else [built]


def poll_interval_s(config: ConnectorConfig) -> float | None:
    """How often a pull instance polls when following live; None for one-shot sources (an export, a file)."""
    interval = getattr(config, "poll_interval_s", None)
    return float(interval) if interval is not None else None
