"""The connector file: instances by type, secrets only by variable name, disjoint slices, paths by the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from learnstream.errors import ConfigError
from producers.connector_config import (
    MediaWikiConfig,
    SlackEventsConfig,
    SlackExportConfig,
    connector_file_from_document,
    load_connector_file,
)

EXAMPLE = """
directory = "hr/people.csv"

[[connectors]]
name = "acme-slack"
type = "slack-events"
workspace = "T0123ABCD"
channels = ["C01", "C02"]
signing_secret_env = "ACME_SLACK_SIGNING_SECRET"

[[connectors]]
name = "acme-slack-support"
type = "slack-events"
workspace = "T0123ABCD"
channels = ["C03"]
include_private = true
signing_secret_env = "ACME_SLACK_SIGNING_SECRET"

[[connectors]]
name = "acme-history"
type = "slack-export"
workspace = "T0123ABCD"
path = "exports/acme.zip"

[[connectors]]
name = "wiki"
type = "mediawiki"
api_url = "https://wiki.example.org/w/api.php"
server_name = "wiki.example.org"
namespaces = [0, 4]
"""


def test_a_full_file_reads_every_instance_with_its_type_and_defaults(tmp_path: Path):
    path = tmp_path / "connectors.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    loaded = load_connector_file(path)
    assert loaded.directory == tmp_path / "hr" / "people.csv"
    slack, support, history, wiki = loaded.connectors
    assert isinstance(slack, SlackEventsConfig) and not slack.include_private and not slack.include_direct
    assert isinstance(support, SlackEventsConfig) and support.include_private
    assert isinstance(history, SlackExportConfig) and history.path == tmp_path / "exports" / "acme.zip"
    assert isinstance(wiki, MediaWikiConfig) and wiki.types == ["edit", "new"] and wiki.backfill_days == 30
    assert loaded.instance("wiki") is wiki


def test_an_unknown_instance_name_lists_the_configured_ones(tmp_path: Path):
    loaded = connector_file_from_document({"connectors": []}, "c.toml", tmp_path)
    with pytest.raises(ConfigError, match="no connector called 'nope'"):
        loaded.instance("nope")


@pytest.mark.parametrize("field", ["signing_secret", "bot_token", "password", "api_key"])
def test_a_secret_written_into_the_file_is_refused_naming_the_field(tmp_path: Path, field: str):
    entry = {"name": "s", "type": "slack-events", "workspace": "T1", "signing_secret_env": "X", field: "hunter2"}
    with pytest.raises(ConfigError, match=f"{field} would put a secret in the file") as caught:
        connector_file_from_document({"connectors": [entry]}, "c.toml", tmp_path)
    assert "hunter2" not in str(caught.value)


def test_overlapping_slices_of_one_source_are_refused(tmp_path: Path):
    first = {
        "name": "a",
        "type": "slack-events",
        "workspace": "T1",
        "channels": ["C1", "C2"],
        "signing_secret_env": "S",
    }
    second = {**first, "name": "b", "channels": ["C2", "C3"]}
    with pytest.raises(ConfigError, match="'a' and 'b' both read slack:T1 C2"):
        connector_file_from_document({"connectors": [first, second]}, "c.toml", tmp_path)


def test_an_instance_reading_everything_overlaps_any_other_of_its_source(tmp_path: Path):
    everything = {"name": "a", "type": "mediawiki", "api_url": "u", "server_name": "w", "namespaces": [0]}
    stream = {"name": "b", "type": "mediawiki-eventstreams", "server_name": "w", "namespaces": [0]}
    with pytest.raises(ConfigError, match="both read mediawiki:w"):
        connector_file_from_document({"connectors": [everything, stream]}, "c.toml", tmp_path)
    disjoint = {**stream, "namespaces": [1]}
    loaded = connector_file_from_document({"connectors": [everything, disjoint]}, "c.toml", tmp_path)
    assert len(loaded.connectors) == 2


def test_names_must_be_unique_and_fit_a_url_path(tmp_path: Path):
    entry = {"name": "dir", "type": "directory"}
    with pytest.raises(ConfigError, match="repeated: dir"):
        connector_file_from_document({"connectors": [entry, entry]}, "c.toml", tmp_path)
    with pytest.raises(ConfigError, match="name"):
        connector_file_from_document({"connectors": [{"name": "Bad Name", "type": "directory"}]}, "c.toml", tmp_path)


def test_unknown_types_and_fields_are_named(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"'x'.*type"):
        connector_file_from_document({"connectors": [{"name": "x", "type": "fax"}]}, "c.toml", tmp_path)
    with pytest.raises(ConfigError, match="colour"):
        entry = {"name": "d", "type": "directory", "colour": "red"}
        connector_file_from_document({"connectors": [entry]}, "c.toml", tmp_path)
    with pytest.raises(ConfigError, match="unknown top-level key"):
        connector_file_from_document({"connector": []}, "c.toml", tmp_path)


def test_a_missing_or_broken_file_is_a_config_error_naming_it(tmp_path: Path):
    with pytest.raises(ConfigError, match="LEARNSTREAM_CONNECTORS_FILE"):
        load_connector_file(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[[connectors]\nname=", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.toml is not readable TOML"):
        load_connector_file(broken)
