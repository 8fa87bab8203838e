"""Published figures that plugins register, for ``zshbench report --paper``.

The core knows no method's paper. A plugin that has published figures (the RAZH plugin, its
paper's Table II) registers a :class:`~zshbench.registry.ReferenceFiguresSpec` naming a CSV it
ships; the report shows the figures registered for a leaderboard's data set and metric beside
the measured rows, and says in one line when there are none.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from .errors import PluginError
from .registry import ReferenceFiguresSpec


@dataclass(frozen=True)
class ReferenceFigure:
    """One published value: ``method`` on ``dataset`` at ``bits``, in percent."""

    dataset: str
    method: str
    bits: int
    value: float


def _bad(spec: ReferenceFiguresSpec, problem: str) -> PluginError:
    return PluginError(
        f"reference figures {spec.name!r} ({spec.figures}): {problem}",
        "Fix the CSV the plugin ships, or reinstall the plugin.",
    )


def _read_csv(spec: ReferenceFiguresSpec) -> list[dict[str, str]]:
    package, _, filename = spec.figures.partition(":")
    if not package or not filename:
        raise _bad(spec, "write the resource as 'package:file.csv'")
    try:
        text = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
    except (ModuleNotFoundError, OSError, UnicodeDecodeError) as error:
        raise _bad(spec, f"cannot be read ({type(error).__name__}: {error})") from None
    return list(csv.DictReader(io.StringIO(text)))


def _figure(spec: ReferenceFiguresSpec, line: int, row: dict[str, str]) -> ReferenceFigure:
    try:
        figure = ReferenceFigure(
            dataset=row["dataset"],
            method=row["method"],
            bits=int(row["bits"]),
            value=float(row[spec.value_column]),
        )
    except KeyError as error:
        raise _bad(spec, f"has no column {error}") from None
    except (TypeError, ValueError):
        raise _bad(spec, f"line {line}: bits and {spec.value_column} must be numbers") from None
    if figure.bits < 1 or not math.isfinite(figure.value):
        raise _bad(spec, f"line {line}: bits must be >= 1 and the value finite")
    return figure


def load_figures(spec: ReferenceFiguresSpec) -> list[ReferenceFigure]:
    """Every row of ``spec``'s CSV as a figure; a malformed file is one line naming it."""
    return [_figure(spec, line, row) for line, row in enumerate(_read_csv(spec), start=2)]


def registered_figures() -> list[tuple[ReferenceFiguresSpec, list[ReferenceFigure]]]:
    """The figures every installed plugin registers, by spec name."""
    from .plugin_manager import load_plugins

    return [(spec, load_figures(spec)) for _, spec, _ in load_plugins().references.items()]


def reference_rows(
    registered: Iterable[tuple[ReferenceFiguresSpec, list[ReferenceFigure]]],
    dataset: str,
    metric: str,
    bits: list[int],
) -> tuple[list[list[str]], str]:
    """Rows ``[method (paper), "", value per code length]`` for one leaderboard, and its note.

    The note names the figures shown and where they are published, or says that no plugin
    registers figures for this data set and metric.
    """
    rows: list[list[str]] = []
    shown: list[str] = []
    for spec, figures in registered:
        mine = [f for f in figures if f.dataset == dataset]
        if not mine or spec.metric != metric:
            continue
        values = {(f.method, f.bits): f.value for f in mine}
        for method in dict.fromkeys(f.method for f in mine):
            cells = [f"{values[method, b]:.2f}" if (method, b) in values else "" for b in bits]
            rows.append([f"{method} (paper)", "", *cells])
        source = f"{spec.title}, {spec.citation}" if spec.citation else spec.title
        shown.append(f"{source}; split: {spec.split}" if spec.split else source)
    if not shown:
        return [], f"no plugin registers reference figures for {dataset} at {metric}"
    return rows, "(paper) rows: " + " | ".join(shown)
