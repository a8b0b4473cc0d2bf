"""`learnstream eval`: how well the classifier agrees with labelled items, against the baseline, in one table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from cli.common import reports_errors, settings
from learnstream.errors import ConfigError


def read_items(path: Path) -> list[dict[str, Any]]:
    """The items of an evaluation file (one JSON object per line); a ConfigError names the line at fault."""
    items = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"{path}:{number}: not JSON ({exc})") from None
        if not isinstance(item, dict):
            raise ConfigError(f"{path}:{number}: an item must be a JSON object")
        items.append(item)
    return items


@click.command("eval")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--shared-data",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Also evaluate on the labelled recordings of this directory (the project's ../shared/data).",
)
@click.option(
    "--part",
    type=click.Choice(["dev", "kept-aside", "all"]),
    default="all",
    show_default=True,
    help="Which labelled part of the recordings: the kept-aside part is never used to change a rule.",
)
@reports_errors
def evaluate(files: tuple[Path, ...], shared_data: Path | None, part: str) -> None:
    """Per-category precision, recall and F1 of the classifier on labelled FILES (see streams/classify/evaluation.py
    for the format), the confusion matrix, and the baseline ("?" or an interrogative first word asks) beside it."""
    from streams.classify import load_classifier
    from streams.classify.evaluation import ItemError, baseline_decisions, classifier_decisions, evaluate

    items: list[dict[str, Any]] = []
    for path in files:
        items.extend(read_items(path))
    if shared_data is not None:
        from evaluation.shared_data import PARTS, load_shared_data_items

        parts = tuple(PARTS.values()) if part == "all" else (PARTS[part],)
        try:
            items.extend(load_shared_data_items(shared_data, *parts))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the labelled recordings in {shared_data}: {exc}") from None
    if not items:
        raise click.UsageError("give labelled files, --shared-data, or both")
    classifier = load_classifier(settings().classifier.vocabulary_files)
    try:
        ours = evaluate(items, classifier_decisions(classifier))
        baseline = evaluate(items, baseline_decisions)
    except ItemError as exc:
        raise ConfigError(str(exc)) from None
    click.echo(f"classifier {classifier.version} on {len(ours.pairs)} labelled activities in {len(items)} items")
    click.echo(report(ours, baseline))


def report(ours: Any, baseline: Any) -> str:
    """The per-category table, the two headline comparisons and the confusion matrix, as text."""
    from schemas.taxonomy import LearningCategory
    from streams.classify.evaluation import CATEGORIES

    lines = [f"{'category':<13}{'precision':>10}{'recall':>8}{'f1':>7}{'support':>9}   {'baseline f1':>11}"]
    for category in CATEGORIES:
        precision, recall, f1, support = ours.per_class(category)
        base_f1 = baseline.per_class(category)[2]
        lines.append(f"{category.value:<13}{precision:>10.3f}{recall:>8.3f}{f1:>7.3f}{support:>9}   {base_f1:>11.3f}")
    lines.append(f"accuracy {ours.accuracy():.3f} (baseline {baseline.accuracy():.3f})")
    for category in (LearningCategory.ASKED, LearningCategory.ANSWERED):  # the goals' two figures
        f1, base_f1 = ours.per_class(category)[2], baseline.per_class(category)[2]
        lines.append(f"{category.value} F1 {f1:.3f} vs baseline {base_f1:.3f} ({f1 - base_f1:+.3f})")
    present = [c for c in CATEGORIES if any(c in pair for pair in ours.pairs)]
    confusion = ours.confusion()
    lines.append("confusion (rows: label, columns: decided)")
    lines.append(" " * 13 + "".join(f"{c.value[:8]:>9}" for c in present))
    for gold in present:
        lines.append(f"{gold.value:<13}" + "".join(f"{confusion[(gold, decided)]:>9}" for decided in present))
    return "\n".join(lines)
