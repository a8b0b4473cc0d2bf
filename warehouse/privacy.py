"""Suppression below k: no released figure is about fewer than k distinct people. Pure.

Every figure a trend query returns (a measure of a row) names the distinct-people count that protects it: the
events of a cell by the people in it, an answer count by both its askers and its answerers. A figure whose people
number fewer than k is withheld: it stays in the result, marked, with no value.

Withholding one figure is not enough when a released total and the released siblings give it back by subtraction
(team total - released categories = the withheld category). For every family (rows that add up to a released
total row), complementary suppression withholds further siblings, smallest first, until the withheld siblings
together count at least k people (by their cell counts, a person in two withheld cells counted twice) or the family
has none withheld. The total itself is withheld when its own people number fewer than k, and then so is every
sibling (each has no more people than the total). Changes between periods are computed from released figures only.

What this does not cover: differences between the answers to two different queries (a department's total minus
one team's), which a determined analyst could take; the README says so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

#: The label of the total row of a family in its child dimension.
TOTAL = "(all)"


@dataclass(slots=True)
class Row:
    """One row of a trend result: its dimension values, its measures and the people that protect each measure.

    `family` groups rows that add up to the row whose `is_total` is set (None: the row is in no family)."""

    dims: dict[str, str]
    values: dict[str, float | int | None]
    people: dict[str, int]
    family: Hashable | None = None
    is_total: bool = False
    withheld: set[str] = field(default_factory=set)

    def withhold(self, measure: str) -> None:
        self.withheld.add(measure)
        self.values[measure] = None


def suppress(rows: Sequence[Row], k: int, additive: Sequence[str] = ()) -> None:
    """Withhold, in place, every measure below k, then complete each family for the `additive` measures."""
    families: dict[Hashable, list[Row]] = defaultdict(list)
    for row in rows:
        for measure, people in row.people.items():
            if people < k:
                row.withheld.add(measure)
                row.values[measure] = None
        if row.family is not None:
            families[row.family].append(row)
    for members in families.values():
        totals = [row for row in members if row.is_total]
        children = [row for row in members if not row.is_total]
        for measure in additive:
            _complete_family(totals, children, measure, k)


def _complete_family(totals: list[Row], children: list[Row], measure: str, k: int) -> None:
    if any(measure in total.withheld for total in totals):
        for child in children:
            child.withhold(measure)
        return
    if not totals:
        return
    while True:
        withheld = [child for child in children if measure in child.withheld]
        if not withheld or sum(child.people.get(measure, 0) for child in withheld) >= k:
            return
        released = [child for child in children if measure not in child.withheld and measure in child.values]
        if not released:
            # Every sibling is withheld and together they still count fewer than k: the total gives them away.
            for total in totals:
                total.withhold(measure)
            return
        smallest = min(released, key=lambda child: (child.people.get(measure, 0), child.values[measure] or 0))
        smallest.withhold(measure)


def derivable(rows: Sequence[Row], measure: str, k: int) -> list[Hashable]:
    """The families in which a withheld `measure` could be recovered or narrowed below k from released figures:
    a released total with withheld siblings that together count fewer than k people. Empty when safe; the property
    test asserts it."""
    families: dict[Hashable, list[Row]] = defaultdict(list)
    for row in rows:
        if row.family is not None:
            families[row.family].append(row)
    exposed: list[Hashable] = []
    for family, members in families.items():
        totals = [row for row in members if row.is_total and measure not in row.withheld]
        withheld = [row for row in members if not row.is_total and measure in row.withheld]
        if totals and withheld and sum(row.people.get(measure, 0) for row in withheld) < k:
            exposed.append(family)
    return exposed
