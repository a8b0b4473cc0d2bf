"""Settings from `LEARNSTREAM_` environment variables. Built once in the entry point and passed down.

Nested blocks use `__`: `LEARNSTREAM_KAFKA__BOOTSTRAP_SERVERS`, `LEARNSTREAM_LOADER__BATCH_SIZE`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from learnstream.errors import ConfigError
from schemas.topics import DEFAULT_NAMESPACE, Topics

ENV_PREFIX = "LEARNSTREAM_"
DEFAULT_DATA_DIR = Path("var")
#: A development key: fine for the bundled sample, never for real people. Set LEARNSTREAM_PSEUDONYM_KEY.
DEVELOPMENT_PSEUDONYM_KEY = "learnstream-development-key-not-for-production"
#: The development id key, for the same uses. Set LEARNSTREAM_ID_KEY once and never rotate it.
DEVELOPMENT_ID_KEY = "learnstream-development-id-key-not-for-production"
#: Keys shorter than this are refused outside development: a short key can be guessed.
MIN_KEY_LENGTH = 32


class KafkaSettings(BaseModel):
    """How to reach the Kafka cluster."""

    bootstrap_servers: str = "127.0.0.1:9092"
    client_id: str = "learnstream"
    request_timeout_ms: int = Field(default=30_000, ge=1000)
    connect_timeout_s: float = Field(default=10.0, gt=0, description="How long to wait for a first metadata answer.")
    partitioner_cache_size: int = Field(
        default=65_536, ge=1, description="Conversation keys whose partition hash every producer remembers (LRU)."
    )
    # Security, set once for every client (kafka-python, aiokafka, the faust worker): learnstream/kafka_security.py
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="How clients talk to the brokers: TLS (SSL), SASL, both, or neither."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    sasl_username: str = ""
    sasl_password: SecretStr = SecretStr("")
    ssl_cafile: Path | None = Field(default=None, description="PEM CA certificates (default: the system's).")
    ssl_certfile: Path | None = Field(default=None, description="PEM client certificate, for mutual TLS.")
    ssl_keyfile: Path | None = Field(default=None, description="PEM key of the client certificate.")
    ssl_key_password: SecretStr = SecretStr("")
    ssl_check_hostname: bool = Field(default=True, description="Whether the broker's certificate must name its host.")

    @model_validator(mode="after")
    def _security_is_complete(self) -> Self:
        if self.security_protocol.startswith("SASL") and not (
            self.sasl_username and self.sasl_password.get_secret_value()
        ):
            raise ValueError(
                f"security_protocol {self.security_protocol} needs LEARNSTREAM_KAFKA__SASL_USERNAME and "
                "LEARNSTREAM_KAFKA__SASL_PASSWORD"
            )
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("give LEARNSTREAM_KAFKA__SSL_CERTFILE and LEARNSTREAM_KAFKA__SSL_KEYFILE together")
        return self


class ProducerSettings(BaseModel):
    """The connectors' producer (kafka-python): batches fill up to `batch_bytes` or for `linger_ms`."""

    # at most 1,000,000 bytes: a full batch of incompressible records must stay under the broker's default
    # message.max.bytes (1 MiB + 12)
    batch_bytes: int = Field(
        default=524_288, ge=16_384, le=1_000_000, description="Largest record batch per partition."
    )
    linger_ms: int = Field(default=20, ge=0, description="How long a batch waits to fill (throughput vs latency).")
    compression: str = Field(default="lz4", pattern="^(none|gzip|snappy|lz4|zstd)$")


class TopicSettings(BaseModel):
    """Names and shapes of the topics the project creates."""

    namespace: str = DEFAULT_NAMESPACE
    partitions: int = Field(default=3, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    retention_ms: int = Field(default=7 * 24 * 3600 * 1000, ge=-1)
    raw_retention_ms: int = Field(
        default=7 * 24 * 3600 * 1000,
        ge=-1,
        description="How long <ns>.activity.raw keeps activities, text included: how far back `learnstream "
        "reprocess` can go, and how long message text stays on the broker.",
    )
    dlq_retention_ms: int = Field(default=30 * 24 * 3600 * 1000, ge=-1)
    max_message_bytes: int = Field(
        default=1_048_588, ge=1024, description="Largest record of the raw and event topics (Kafka's default)."
    )
    thread_retention_ms: int = Field(
        default=7 * 24 * 3600 * 1000,
        ge=60_000,
        description="How long the worker remembers a question thread after its latest question or answer (an "
        "answer later than this is not counted as one), and how long <ns>.thread.state keeps it.",
    )

    @property
    def dlq_max_message_bytes(self) -> int:
        """Largest record of the dead-letter topic: room for any record of the other topics, base64 and all."""
        return 2 * self.max_message_bytes

    @property
    def names(self) -> Topics:
        return Topics.in_namespace(self.namespace)


class WorkerSettings(BaseModel):
    """The faust classification worker."""

    app_id: str = "learnstream-worker"
    commit_interval_s: float = Field(default=2.0, gt=0)
    producer_linger_ms: int = Field(
        default=10, ge=0, description="How long the worker's producer waits to fill a batch (throughput vs latency)."
    )
    producer_batch_bytes: int = Field(
        default=524_288,
        ge=16_384,
        le=1_000_000,
        description="Largest record batch per partition (see ProducerSettings).",
    )
    batch_size: int = Field(
        default=1000, ge=1, description="Activities handled together: their sends are acknowledged before any commit."
    )
    batch_within_s: float = Field(
        default=0.1, gt=0, description="How long a batch waits to fill under a trickle (adds to latency)."
    )
    session_timeout_s: float = Field(
        default=30.0, ge=6.0, description="How long a silent worker keeps its partitions before the group moves them."
    )
    thread_max_entries: int = Field(
        default=200_000,
        ge=1,
        description="Question threads the worker remembers at most (about 0.5 KiB each); the least recently active "
        "go first.",
    )
    log_level: str = "info"


class ClassifierSettings(BaseModel):
    """The words the classification rules read."""

    vocabulary_files: list[Path] = Field(
        default_factory=list,
        description="TOML files whose word lists extend the shipped ones (streams/classify/data/*.toml); "
        'a JSON list in the environment: ["/etc/learnstream/words.toml"]',
    )


class HttpSettings(BaseModel):
    """How pull connectors talk to a source's API."""

    timeout_s: float = Field(default=30.0, gt=0, description="Connect and read timeout of one request.")
    max_attempts: int = Field(default=6, ge=1, description="Tries per request before the source counts as down.")
    backoff_base_s: float = Field(default=1.0, gt=0, description="First retry delay; doubles per attempt, jittered.")
    backoff_max_s: float = Field(default=60.0, gt=0, description="Longest wait between tries, Retry-After included.")


class ServeSettings(BaseModel):
    """`learnstream serve`: the one long-running HTTP process."""

    host: str = Field(default="127.0.0.1", description="The address to listen on (0.0.0.0 behind a proxy only).")
    port: int = Field(default=8800, ge=0, le=65535)
    publish_timeout_s: float = Field(
        default=10.0, gt=0, description="How long a request waits for the broker's acknowledgement before a 503."
    )
    shutdown_timeout_s: float = Field(default=10.0, gt=0, description="How long requests in flight get on SIGTERM.")
    linger_ms: int = Field(default=5, ge=0, description="How long the receivers' producer waits to fill a batch.")
    warehouse: bool = Field(
        default=True,
        description="serve answers the trends API and dashboard; with the embedded engine it also owns chDB: it runs "
        "the loader and answers the warehouse commands (trends, erase). false: receivers only (run `learnstream "
        "loader` instead).",
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="Bearer token for the warehouse routes; without one they answer loopback clients only.",
    )


#: What an API token may read: every named query, one named query, the warehouse status.
API_SCOPE = r"^(trends|trends:[a-z][a-z-]{0,63}|status)$"


class ApiToken(BaseModel):
    """A read-only token for the HTTP API: a name for logs (never the token), the secret, and its scopes."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    token: SecretStr = Field(min_length=24, description="At least 24 characters, sent as `Authorization: Bearer`.")
    scopes: tuple[Annotated[str, Field(pattern=API_SCOPE)], ...] = Field(
        default=("trends",),
        min_length=1,
        description="`trends` (every named query), `trends:<query>` (one), `status` (the warehouse status).",
    )


class ApiSettings(BaseModel):
    """The HTTP API and dashboard of `learnstream serve`."""

    tokens: tuple[ApiToken, ...] = Field(
        default=(),
        description='JSON: [{"name": "superset", "token": "...", "scopes": ["trends"]}]. Without any, the API and '
        "the dashboard answer clients on this machine only.",
    )
    cache_max_age_s: int = Field(
        default=30, ge=0, description="How long a client may reuse an answer without asking again (Cache-Control)."
    )
    answer_cache_mb: int = Field(
        default=64,
        ge=0,
        description="Memory for rendered answers kept by their ETag until the trend tables change (0: none).",
    )


class LrsCredential(BaseModel):
    """HTTP Basic credentials of one LMS (or other Learning Record Provider) for the xAPI Statement API."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="The Basic user name; also the authority's.")
    secret: SecretStr = Field(min_length=24, description="The Basic password: at least 24 characters.")
    scopes: tuple[Literal["read", "write"], ...] = Field(
        default=("write",), min_length=1, description="`write` stores Statements, `read` reads them back."
    )
    derive_ids: bool = Field(
        default=False,
        description="Give a Statement sent without an id (and with a timestamp) an id derived from its content, so "
        "one sent again is stored once: for clients that send no ids and re-send (Moodle's logstore_xapi). Off, "
        "every such Statement gets a new id, as the xAPI specification asks.",
    )


class LrsSettings(BaseModel):
    """The xAPI Learning Record Store in `learnstream serve` (under /xapi/)."""

    credentials: tuple[LrsCredential, ...] = Field(
        default=(),
        description='JSON: [{"name": "moodle", "secret": "...", "scopes": ["write"]}]. Without any, the LRS '
        "refuses every Statement request.",
    )
    max_body_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, description="Larger requests get 413.")
    max_page: int = Field(default=500, ge=1, description="Most Statements in one GET answer (`limit` above it, or 0).")
    retention_days: int = Field(
        default=730, ge=0, description="How long stored Statements and attachments are kept (by `stored`; 0: always)."
    )
    authority_home_page: str = Field(
        default="urn:learnstream:lrs",
        description="The homePage of the account in the authority the LRS writes into every Statement it stores.",
    )
    drafting_processes: int = Field(
        default=2,
        ge=0,
        description="Worker processes that parse and validate Statements while serve publishes and stores them "
        "(about one per core; 0: on a thread of serve itself).",
    )


class MetricsSettings(BaseModel):
    """Where the processes without a web server of their own answer /metrics, /health and /ready (`serve` answers
    them on its own port). 0 picks a free port (logged at start)."""

    host: str = Field(default="127.0.0.1", description="0.0.0.0 lets a Prometheus on another machine scrape.")
    worker_port: int = Field(default=9101, ge=0, le=65535)
    loader_port: int = Field(default=9102, ge=0, le=65535)
    connector_port: int = Field(default=9103, ge=0, le=65535)


class LoaderSettings(BaseModel):
    """The warehouse loader."""

    group_id: str = "learnstream-loader"
    batch_size: int = Field(default=20_000, ge=1, description="Rows per insert under load.")
    max_wait_s: float = Field(
        default=1.0, ge=0, description="Longest a polled event waits for its batch to fill before it is inserted."
    )
    poll_records: int = Field(default=5000, ge=1, description="Most records taken from Kafka per poll.")
    poll_timeout_s: float = Field(default=1.0, gt=0)
    retry_backoff_s: float = Field(default=2.0, gt=0)
    session_timeout_s: float = Field(
        default=45.0,
        ge=6.0,
        description="How long a silent loader keeps its partitions before the group moves them (after a crash, the "
        "events wait this long unless the restarted loader comes back under the same instance id).",
    )
    instance_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Kafka static membership (group.instance.id): a loader restarted under the same id takes its "
        "partitions back at once, without waiting for the session timeout or a rebalance. Unique per loader "
        "process (a pod's or host's name); two running with one id fence each other.",
    )
    directory_refresh_s: float = Field(
        default=300.0, gt=0, description="How often the loader reloads the people directory into team_memberships."
    )


class WarehouseSettings(BaseModel):
    """The warehouse: retention, the rebuild of the trend tables, privacy and cluster mode."""

    retention_days: int = Field(
        default=730,
        ge=0,
        description="How long learning events (and the trend tables built from them) are kept, counted from when "
        "they happened; older events are not stored. 0 keeps everything (e.g. to load the 2016-2023 sample).",
    )
    rollup_interval_s: float = Field(
        default=30.0,
        gt=0,
        description="How often the loader rebuilds the trend tables of the days whose events changed.",
    )
    rebuild_budget_s: float = Field(
        default=20.0,
        gt=0,
        description="How long one rebuild may run before the loader goes back to loading (the rest stays due).",
    )
    min_group_size: int = Field(
        default=5, ge=2, description="k: a released figure about people counts at least this many distinct people."
    )
    cluster: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$",
        description="A ClickHouse cluster name: DDL ON CLUSTER, Replicated*MergeTree shards, Distributed tables.",
    )


class StatusSettings(BaseModel):
    """`learnstream status`: past these figures the pipeline counts as unhealthy (exit 1). A figure equal to its
    threshold is still healthy."""

    max_lag_messages: int = Field(
        default=10_000, ge=0, description="Most messages a consumer group (worker, loader) may be behind on its topic."
    )
    max_lag_seconds: float = Field(
        default=600.0,
        ge=0,
        description="Longest a group's oldest unconsumed message may have waited (now minus its Kafka timestamp).",
    )
    max_cursor_age_s: float = Field(
        default=3600.0,
        ge=0,
        description="Longest since a connector that follows its source saved its cursor (one-shot imports exempt).",
    )
    max_freshness_s: float = Field(
        default=86_400.0,
        ge=0,
        description="Longest since the warehouse stored its newest learning event (a quiet organisation needs more).",
    )


class Settings(BaseSettings):
    """Everything configurable, read from `LEARNSTREAM_*` variables (and nothing else reads the environment)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="ignore")

    data_dir: Path = DEFAULT_DATA_DIR
    clickhouse_dsn: SecretStr | None = Field(
        default=None,
        description="chdb:///<dir> (embedded, default <data_dir>/warehouse) or http(s)://user:pw@host:8123/db",
    )
    pseudonym_key: SecretStr = SecretStr(DEVELOPMENT_PSEUDONYM_KEY)
    id_key: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_ID_KEY),
        description="the key behind opaque account ids inside activity ids: set once, never rotated",
    )
    development: bool = Field(
        default=False, description="allow the public development keys: for the sample, the demo and the simulator"
    )
    cursor_store: Literal["file", "kafka"] = Field(
        default="file",
        description="where connectors keep cursors: files under <data_dir>/cursors, or the <ns>.connector.state topic",
    )
    connectors_file: Path = Field(
        default=Path("connectors.toml"), description="the connector instances to run (TOML; see the README)"
    )
    progress: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="progress lines of long commands on stderr: auto (in place on a terminal, every 10 s in a log), "
        "always (also the summary of a short run), never",
    )
    kafka: KafkaSettings = KafkaSettings()
    serve: ServeSettings = ServeSettings()
    api: ApiSettings = ApiSettings()
    lrs: LrsSettings = LrsSettings()
    http: HttpSettings = HttpSettings()
    producer: ProducerSettings = ProducerSettings()
    topics: TopicSettings = TopicSettings()
    worker: WorkerSettings = WorkerSettings()
    classifier: ClassifierSettings = ClassifierSettings()
    loader: LoaderSettings = LoaderSettings()
    metrics: MetricsSettings = MetricsSettings()
    warehouse: WarehouseSettings = WarehouseSettings()
    status: StatusSettings = StatusSettings()

    @property
    def warehouse_dsn(self) -> str:
        """The configured DSN, or the embedded chDB engine under the data directory."""
        if self.clickhouse_dsn is not None:
            return self.clickhouse_dsn.get_secret_value()
        return f"chdb://{(self.data_dir / 'warehouse').resolve()}"


def require_secret_keys(settings: Settings) -> None:
    """Refuse to pseudonymise real people with a public or short key, unless development is allowed explicitly.

    Anyone who knows the development key can recompute a pseudonym from a known user id; so anything that reads
    a real source (the connectors, `serve`) calls this before it starts.
    """
    if settings.development:
        return
    keys = [
        ("LEARNSTREAM_PSEUDONYM_KEY", settings.pseudonym_key, DEVELOPMENT_PSEUDONYM_KEY),
        ("LEARNSTREAM_ID_KEY", settings.id_key, DEVELOPMENT_ID_KEY),
    ]
    for variable, key, development_key in keys:
        value = key.get_secret_value()
        if value == development_key:
            raise ConfigError(
                f"{variable} is not set, and the public development key cannot protect real people: set it from "
                "your secret store (LEARNSTREAM_DEVELOPMENT=true allows it for the sample and the demo only)"
            )
        if len(value) < MIN_KEY_LENGTH:
            raise ConfigError(f"{variable} is too short to protect people: use at least {MIN_KEY_LENGTH} characters")


def load_settings() -> Settings:
    """Read settings from the environment, turning validation errors into a ConfigError naming the variables."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{ENV_PREFIX}{'__'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
