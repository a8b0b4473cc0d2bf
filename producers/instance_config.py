"""What every connector instance's configuration has, for the connector file and each source's own settings.

Each source type defines its settings as a subclass of `InstanceConfig` (beside the source, or in
`producers/connector_config.py`), which assembles them into the file's one union of types.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

#: Instance names become cursor names and URL paths.
NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
#: The name of an environment variable: where a secret is read from (a secret never sits in the file).
EnvironmentVariable = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class InstanceConfig(BaseModel):
    """What every connector instance has: a unique name and its type."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=NAME_PATTERN)]

    def slice(self) -> tuple[str, frozenset[str] | None]:
        """The part of its source this instance reads: (source, items), items None for all of the source."""
        raise NotImplementedError
