"""Failpoints are inert unless armed, refuse unknown names, and hold the process where they are armed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from learnstream.failpoints import KNOWN, REACHED, armed_from


def test_names_are_read_from_a_comma_separated_value():
    assert armed_from("") == frozenset()
    assert armed_from(" loader.after_insert, loader.before_insert ") == KNOWN


def test_an_unknown_name_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match=r"names no place: loader\.after_commit .*known: loader\.after_insert"):
        armed_from("loader.after_commit")


def test_an_armed_failpoint_says_so_and_holds_the_process():
    code = "from learnstream.failpoints import failpoint; failpoint('loader.before_insert'); print('passed')"
    env = {"LEARNSTREAM_FAILPOINTS": "loader.after_insert"}
    passed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert passed.stdout.strip() == "passed" and REACHED not in passed.stderr  # another name: no effect
    env = {"LEARNSTREAM_FAILPOINTS": "loader.before_insert"}
    held = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert held.stderr is not None
        assert held.stderr.readline().decode().strip() == f"{REACHED}loader.before_insert"
        with pytest.raises(subprocess.TimeoutExpired):
            held.wait(timeout=1)  # still held there (any longer wait would only be slower)
    finally:
        held.kill()
        held.wait()
    assert held.stdout is not None and held.stdout.read() == b""
