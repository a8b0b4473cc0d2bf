"""Failpoints are inert unless armed, refuse unknown names, and hold the process where they are armed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from learnstream import failpoints
from learnstream.failpoints import KNOWN, REACHED, armed_from


def test_names_are_read_from_a_comma_separated_value():
    assert armed_from("") == frozenset()
    assert armed_from(" loader.after_insert, loader.before_insert ") == KNOWN


def test_an_unknown_name_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match=r"names no place: loader\.after_commit .*known: loader\.after_insert"):
        armed_from("loader.after_commit")


def test_the_names_armed_come_from_the_environment_and_others_pass():
    code = "from learnstream.failpoints import failpoint; failpoint('loader.before_insert'); print('passed')"
    env = {"LEARNSTREAM_FAILPOINTS": "loader.after_insert"}
    passed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert passed.stdout.strip() == "passed" and REACHED not in passed.stderr  # another name: no effect
    probe = "from learnstream import failpoints; print(sorted(failpoints.ARMED))"
    env = {"LEARNSTREAM_FAILPOINTS": "loader.before_insert"}
    armed = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert armed.stdout.strip() == "['loader.before_insert']"


def test_an_armed_failpoint_says_so_and_holds_the_thread(monkeypatch, capsys):
    held: list[str] = []
    monkeypatch.setattr(failpoints, "ARMED", frozenset({"loader.after_insert"}))
    monkeypatch.setattr(failpoints, "hold_forever", lambda: held.append("held"))  # instead of blocking the test
    failpoints.failpoint("loader.before_insert")
    assert held == [] and capsys.readouterr().err == ""  # not armed: no word, no hold
    failpoints.failpoint("loader.after_insert")
    assert held == ["held"]
    assert capsys.readouterr().err == f"{REACHED}loader.after_insert\n"
