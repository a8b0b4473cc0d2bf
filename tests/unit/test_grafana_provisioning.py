"""Grafana provisioning and the BI user, without Docker or Grafana: the files agree with each other and with the
views of warehouse/bi.py.

The YAML is read with PyYAML (a dev dependency); tests/integration/test_grafana_panels.py runs every panel's SQL
on the engine.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import yaml

from warehouse.bi import VIEWS

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "clickhouse.yaml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "learnstream.yaml"
DASHBOARD = GRAFANA / "dashboards" / "learnstream-trends.json"
BI_USER_XML = ROOT / "deploy" / "clickhouse" / "users.d" / "learnstream-bi.xml"
COMPOSE = ROOT / "docker-compose.yml"
PLUGIN = "grafana-clickhouse-datasource"
VIEW_COLUMNS = {view.name: {column.name for column in view.columns} for view in VIEWS}


def read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def compose_service(name: str) -> dict[str, Any]:
    service: dict[str, Any] = read_yaml(COMPOSE)["services"][name]
    return service


def datasource() -> dict[str, Any]:
    provisioned = read_yaml(DATASOURCES)
    assert provisioned["apiVersion"] == 1
    (found,) = provisioned["datasources"]
    return dict(found)


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def mounts(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """A service's bind mounts: container path -> (host path, mode)."""
    found = {}
    for volume in service.get("volumes", []):
        host, container, *mode = volume.split(":")
        if host.startswith("./"):
            found[container] = (host, mode[0] if mode else "rw")
    return found


def sql_texts() -> list[tuple[str, str]]:
    """Every SQL of the dashboard: (where, SQL) of each panel target and query variable."""
    texts = [
        (f"panel {panel['title']!r}", target["rawSql"])
        for panel in dashboard()["panels"]
        for target in panel["targets"]
    ]
    texts += [
        (f"variable {variable['name']!r}", variable["query"])
        for variable in dashboard()["templating"]["list"]
        if variable["type"] == "query"
    ]
    return texts


def test_the_data_source_is_the_compose_clickhouse_as_the_bi_user() -> None:
    source = datasource()
    grafana = compose_service("grafana")
    assert source["type"] == PLUGIN and source["uid"]
    assert source["jsonData"]["host"] == "clickhouse"
    assert compose_service("clickhouse")["image"].startswith("clickhouse/clickhouse-server:")
    assert (source["jsonData"]["protocol"], source["jsonData"]["port"]) == ("http", 8123)
    # credentials from Grafana's environment, which compose sets
    user, password = source["jsonData"]["username"], source["secureJsonData"]["password"]
    assert user.startswith("$") and password.startswith("$")
    environment = grafana["environment"]
    assert {user[1:], password[1:]} <= set(environment)
    bi_user = BI_USER_XML.read_text(encoding="utf-8")
    users = ET.fromstring(bi_user).find("users")
    assert users is not None
    assert [element.tag for element in users] == [environment[user[1:]]]
    assert "${CLICKHOUSE_BI_PASSWORD:?" in environment[password[1:]]


def test_the_bi_user_may_select_the_bi_views_only_and_changes_nothing() -> None:
    root = ET.fromstring(BI_USER_XML.read_text(encoding="utf-8"))
    users = root.find("users")
    assert users is not None
    (user,) = list(users)
    password = user.find("password")
    assert password is not None and password.get("from_env") == "CLICKHOUSE_BI_PASSWORD"
    grants = [query.text for query in user.findall("grants/query")]
    database = datasource()["jsonData"]["defaultDatabase"]
    assert grants == [f"GRANT SELECT ON {database}.bi_*"]
    profile = root.find(f"profiles/{user.findtext('profile')}")
    assert profile is not None and profile.findtext("readonly") == "1"
    assert profile.find("constraints/max_execution_time/changeable_in_readonly") is not None
    clickhouse = compose_service("clickhouse")
    assert mounts(clickhouse)["/etc/clickhouse-server/users.d/learnstream-bi.xml"] == (
        "./" + str(BI_USER_XML.relative_to(ROOT)),
        "ro",
    )
    assert "CLICKHOUSE_BI_PASSWORD" in clickhouse["environment"]


def test_the_grafana_service_is_pinned_local_and_reads_its_provisioning_read_only() -> None:
    grafana = compose_service("grafana")
    assert re.fullmatch(r"grafana/grafana-oss:\d+\.\d+\.\d+", grafana["image"])
    assert re.fullmatch(rf"{PLUGIN}@\d+\.\d+\.\d+", grafana["environment"]["GF_PLUGINS_PREINSTALL_SYNC"])
    assert grafana["ports"] and all(port.startswith("127.0.0.1:") for port in grafana["ports"])
    mounted = mounts(grafana)
    assert mounted["/etc/grafana/provisioning"] == ("./deploy/grafana/provisioning", "ro")
    providers = read_yaml(PROVIDERS)
    assert providers["apiVersion"] == 1
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert mounted[provider["options"]["path"]] == ("./deploy/grafana/dashboards", "ro")
    assert all(mode == "ro" for _, mode in mounted.values())


def test_every_panel_and_variable_uses_the_provisioned_data_source() -> None:
    uid = datasource()["uid"]
    board = dashboard()
    assert board["uid"] and board["panels"]
    for panel in board["panels"]:
        assert panel["datasource"] == {"type": PLUGIN, "uid": uid}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == {"type": PLUGIN, "uid": uid}, panel["title"]
            assert target["editorType"] == "sql" and target["rawSql"].strip()
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    assert variables["team"]["datasource"] == {"type": PLUGIN, "uid": uid}
    assert variables["grain"]["query"].split(",") == ["day", "week", "month"]
    assert variables["database"]["query"] == datasource()["jsonData"]["defaultDatabase"]


_STRING = re.compile(r"'(?:[^'\\]|\\.)*'")
_VARIABLE = re.compile(r"\$\{[^}]*\}|\$__\w+|\$\w+")
_TABLE = re.compile(r"\b(?:FROM|JOIN)\s+(\S+)", re.IGNORECASE)
_KEYWORDS = frozenset(
    {"select", "distinct", "from", "where", "and", "or", "not", "group", "by", "order", "asc", "desc", "limit"}
    | {"as", "in", "is", "null", "nulls", "last", "first", "with", "on", "join"}
)


def test_every_panel_reads_only_bi_views_and_their_columns() -> None:
    """A static check (the engine runs them in tests/integration/test_grafana_panels.py): every FROM names a
    `${database}.bi_*` view of warehouse/bi.py and every other word is an SQL keyword, a function, an alias, or a
    column of the views the SQL reads."""
    for where, sql in sql_texts():
        tables = _TABLE.findall(sql)
        assert tables, where
        views = set()
        for table in tables:
            database, _, view = table.partition(".")
            assert database == "${database}" and view in VIEW_COLUMNS, (where, table)
            views.add(view)
        columns = set().union(*(VIEW_COLUMNS[view] for view in views))
        bare = _VARIABLE.sub(" ", _STRING.sub(" ", sql))
        aliases = {alias.lower() for alias in re.findall(r"\bAS\s+(\w+)", bare, re.IGNORECASE)}
        for word in re.finditer(r"\b[A-Za-z_]\w*\b(?!\s*\()", bare):
            name = word.group(0)
            if name.lower() in _KEYWORDS | aliases or name.startswith("bi_"):
                continue
            assert name in columns, (where, name)


def test_time_series_panels_return_a_time_column_first() -> None:
    for panel in dashboard()["panels"]:
        for target in panel["targets"]:
            timeseries = panel["type"] == "timeseries"
            assert (target["format"], target["queryType"]) == ((0, "timeSeries") if timeseries else (1, "table"))
            if timeseries:
                assert re.match(r"SELECT toDateTime\(period, 'UTC'\) AS time,", target["rawSql"]), panel["title"]
