"""The one exception hierarchy of learnstream. Library errors are mapped to these at the boundary.

LearnstreamError                 anything learnstream raises on purpose; `str()` says what to do
├── ConfigError                  a setting is missing or malformed (names the LEARNSTREAM_ variable)
├── UsageError                   a command or query was asked for something it cannot do (names the option)
│   └── BadParameter             one request parameter is wrong (`.parameter` names it, for an API's 400)
├── ServiceUnavailable           a service we depend on cannot be reached
│   ├── BrokerUnavailable        Kafka
│   ├── WarehouseUnavailable     ClickHouse (server or embedded engine)
│   └── SourceUnavailable        a source's API (Slack, a wiki, ...) kept failing after retries
├── WarehouseError               a warehouse statement failed
│   └── MigrationError           a migration is inconsistent or failed
├── ConnectorError               a source could not be read
└── RequestRejected              a pushed request was refused (bad signature, malformed body): its HTTP status
"""

from __future__ import annotations


class LearnstreamError(Exception):
    """Base of every error learnstream raises on purpose; the message says what happened and what to do."""

    exit_code = 1


class ConfigError(LearnstreamError):
    """A setting is missing or malformed; the message names the environment variable to fix."""

    exit_code = 2


class UsageError(LearnstreamError):
    """A command or query was asked for something it cannot do: an unknown query, a filter it does not take."""

    exit_code = 2


class BadParameter(UsageError):
    """One parameter of a request is wrong; `parameter` names it and the message says why ("parameter X: …")."""

    def __init__(self, parameter: str, reason: str) -> None:
        super().__init__(f"parameter {parameter}: {reason}")
        self.parameter = parameter


class ServiceUnavailable(LearnstreamError):
    """A service learnstream depends on cannot be reached."""

    exit_code = 3


class BrokerUnavailable(ServiceUnavailable):
    """The Kafka cluster cannot be reached at the configured bootstrap servers."""


class WarehouseUnavailable(ServiceUnavailable):
    """The ClickHouse server or the embedded chDB engine cannot be opened."""


class SourceUnavailable(ServiceUnavailable):
    """A source's API kept answering with errors worth retrying (or not at all) until the retries ran out."""


class WarehouseError(LearnstreamError):
    """A warehouse statement (DDL, insert, query) failed."""


class MigrationError(WarehouseError):
    """A migration is inconsistent with what the warehouse recorded, or failed to apply."""


class ConnectorError(LearnstreamError):
    """A source could not be read (missing file, unreadable cursor, bad source format)."""


class NothingToLoad(LearnstreamError):
    """The loader was asked to wait for a first learning event and none arrived in time."""


class RequestRejected(LearnstreamError):
    """A request pushed to a receiver was refused; `status` is the HTTP answer (401 bad signature, 400, 413)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
