"""The outcome of one invocation: rows of the table, and a target for each."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Results", "Row", "Verdict", "render_table"]

Verdict = Literal["ok", "MISS", "ERROR", "info"]

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
}


@dataclass(frozen=True)
class Row:
    """One line of the table: a figure, what it is compared with, the verdict.

    ``value`` is the number the target is about (a ratio where the issue asks
    for one); ``shown`` is how the table prints it; ``uploader`` and
    ``baseline`` show the figures behind a ratio.
    """

    number: int
    measurement: str
    uploader: str
    baseline: str
    value: float | None
    shown: str
    target: str
    verdict: Verdict
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "number": self.number,
            "measurement": self.measurement,
            "uploader": self.uploader,
            "baseline": self.baseline,
            "value": self.value,
            "shown": self.shown,
            "target": self.target,
            "verdict": self.verdict,
            "note": self.note,
        }


def judged(
    number: int,
    measurement: str,
    *,
    uploader: str,
    baseline: str,
    value: float,
    shown: str,
    comparison: str,
    threshold: float,
    target: str,
    note: str = "",
) -> Row:
    """A row whose verdict is ``value <comparison> threshold``."""
    passed = _COMPARE[comparison](value, threshold)
    return Row(
        number,
        measurement,
        uploader,
        baseline,
        value,
        shown,
        target,
        "ok" if passed else "MISS",
        note,
    )


def failed(number: int, measurement: str, reason: str, target: str = "") -> Row:
    """A row for a measurement that could not be made: a run went wrong."""
    return Row(number, measurement, "-", "-", None, "-", target, "ERROR", reason)


def info(
    number: int,
    measurement: str,
    *,
    uploader: str,
    baseline: str,
    shown: str,
    note: str = "",
) -> Row:
    """A row that gives context and has no target."""
    return Row(number, measurement, uploader, baseline, None, shown, "-", "info", note)


@dataclass
class Results:
    """Everything one invocation found."""

    rows: list[Row] = field(default_factory=list)
    runs: list[dict[str, object]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    series: dict[str, object] = field(default_factory=dict)

    @property
    def errors(self) -> list[Row]:
        return [row for row in self.rows if row.verdict == "ERROR"]

    @property
    def misses(self) -> list[Row]:
        return [row for row in self.rows if row.verdict == "MISS"]


_HEADER = ("#", "measurement", "uploader", "baseline", "value", "target", "verdict")


def render_table(rows: list[Row]) -> str:
    """A Markdown table that reads as plain text on a terminal too."""
    lines = [_HEADER]
    for row in rows:
        lines.append(
            (
                str(row.number),
                row.measurement,
                row.uploader,
                row.baseline,
                row.shown,
                row.target,
                row.verdict,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(_HEADER))]

    def fmt(cells: tuple[str, ...]) -> str:
        padded = (cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    text = [fmt(lines[0]), rule, *(fmt(line) for line in lines[1:])]
    notes = [f"- {row.measurement}: {row.note}" for row in rows if row.note]
    if notes:
        text += ["", *notes]
    return "\n".join(text)
