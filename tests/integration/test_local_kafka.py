"""The project's own Kafka runner: cached jars, logs to a file, a broker that answers."""

from __future__ import annotations

import subprocess
import sys

from kafka import KafkaAdminClient

from tests.integration.support import LOCAL_KAFKA, PROJECT_ROOT


def test_second_fetch_uses_the_cache_and_downloads_nothing(kafka_bootstrap: str) -> None:
    result = subprocess.run(
        [sys.executable, str(LOCAL_KAFKA), "fetch"], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "cached" in result.stdout
    assert "resolving" not in result.stdout


def test_the_broker_is_kafka_4_1_in_kraft_mode(kafka_bootstrap: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        cluster = admin.describe_cluster()
        versions = admin._client.check_version()  # the broker's API level, as the client negotiated it
    finally:
        admin.close()
    assert len(cluster["brokers"]) == 1
    assert cluster["brokers"][0]["host"] == "127.0.0.1"
    assert tuple(versions) >= (4, 0)
