"""The `DirectoryRecord`: one person of the people directory, as published to `<namespace>.directory`.

The topic is compacted and keyed by the person's pseudonym, so the latest record of each person is kept forever
and carries the person's whole history of team memberships (a move between teams never rewrites the past). It
holds no name, e-mail address or HR id: only the pseudonym, teams, departments and the manager's pseudonym.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from schemas.activity import NonEmpty, Pseudonym, StrictModel

DIRECTORY_SCHEMA_VERSION: Literal[1] = 1


class TeamMembership(StrictModel):
    """Where the person sat from `valid_from` on, until their next membership starts."""

    valid_from: date
    team: NonEmpty
    department: NonEmpty | None = None
    manager: Pseudonym | None = Field(default=None, description="The manager's pseudonym.")


class DirectoryRecord(StrictModel):
    """A person's pseudonym and team memberships, oldest first."""

    schema_version: Literal[1] = DIRECTORY_SCHEMA_VERSION
    person: Pseudonym
    memberships: tuple[TeamMembership, ...] = Field(min_length=1)
