"""`connecting()`: kafka-python's records from the connecting thread are held back (and read for the error); other
threads keep logging, and the `kafka` logger is put back as it was whatever order threads finish in."""

from __future__ import annotations

import logging
import threading

import pytest
from kafka.errors import KafkaTimeoutError

from learnstream.errors import BrokerUnavailable, ConfigError
from learnstream.kafka import connecting
from learnstream.settings import KafkaSettings

SETTINGS = KafkaSettings(bootstrap_servers="127.0.0.1:1")


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def root_handler():
    handler = Kept()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


def log_from_another_thread(message: str) -> None:
    thread = threading.Thread(target=lambda: logging.getLogger("kafka.conn").warning(message))
    thread.start()
    thread.join()


def test_only_the_connecting_threads_records_are_held_back(root_handler):
    with connecting(SETTINGS):
        logging.getLogger("kafka.conn").warning("retry from the connecting thread")
        log_from_another_thread("a producer thread's warning")
    logging.getLogger("kafka.conn").warning("after connecting")
    assert root_handler.messages == ["a producer thread's warning", "after connecting"]


def test_the_held_back_records_are_read_for_the_error():
    with pytest.raises(BrokerUnavailable, match="cannot reach"), connecting(SETTINGS):
        logging.getLogger("kafka.conn").warning("Connection refused")
        raise KafkaTimeoutError("no broker")


def test_threads_leaving_in_any_order_put_the_logger_back(root_handler):
    kafka_logger = logging.getLogger("kafka")
    first_in, second_in, first_may_leave = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with connecting(SETTINGS):
            first_in.set()
            second_in.wait(5)
        first_may_leave.set()

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(5)
    with connecting(SETTINGS):
        second_in.set()
        first_may_leave.wait(5)  # the first thread left while this one still connects
        assert kafka_logger.propagate is False
        logging.getLogger("kafka.conn").warning("held back")
    thread.join()
    assert kafka_logger.propagate is True
    assert not any(type(h).__name__ == "_ConnectingThreads" for h in kafka_logger.handlers)
    logging.getLogger("kafka.conn").warning("logged again")
    assert root_handler.messages == ["logged again"]


def test_nested_connecting_in_one_thread_keeps_holding_back_until_the_outer_ends(root_handler):
    with connecting(SETTINGS):
        with connecting(SETTINGS):
            pass
        logging.getLogger("kafka.conn").warning("still connecting")
    assert root_handler.messages == []
    assert logging.getLogger("kafka").propagate is True


def test_the_connecting_clients_io_thread_is_held_back_and_read_for_the_error(root_handler):
    def log_from(thread_name: str, message: str) -> None:
        thread = threading.Thread(target=lambda: logging.getLogger("kafka.conn").warning(message), name=thread_name)
        thread.start()
        thread.join()

    with pytest.raises(ConfigError) as raised, connecting(SETTINGS, "learnstream-admin"):
        log_from("kafka-io-learnstream-admin", "Authentication failed for user alice")  # kafka-python 3's IO thread
        log_from("kafka-io-learnstream-loader", "another client's warning")
        raise KafkaTimeoutError("no broker")
    assert root_handler.messages == ["another client's warning"]
    assert "refused the credentials" in str(raised.value)  # read from the IO thread's record
