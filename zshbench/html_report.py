"""The leaderboards as one self-contained web page (``zshbench report --format html``).

Benchmarks of the field publish web pages built on CDNs; this page must open offline, from an
e-mail attachment or a laptop without network, so everything is inline: the styles, a small
script (sorting, the paper toggle, a cell's records) and the figures as SVG. Nothing on the page
is fetched.

Records are data, never markup: every text that comes from a record (run names, options,
versions, paths) goes through :func:`html.escape` before it reaches the page, and the script
only moves elements the page already holds (it never builds markup from strings).
"""

from __future__ import annotations

import html
import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ZshbenchError
from .html_assets import PAGE_SCRIPT, PAGE_STYLE
from .html_svg import curve_svg, map_vs_bits_svg
from .record import Record
from .report import overlaps_unseen
from .results import iter_records
from .run_names import readable_names

#: The record field (added by the protocol work) that says a backbone's pretraining data
#: overlaps the unseen classes; older records lack it, and then no mark is shown.
OVERLAP_FIELD = "pretraining_overlaps_unseen"


def esc(value: Any) -> str:
    """``value`` as HTML text: a record's text is never markup."""
    return html.escape(str(value), quote=True)


@dataclass
class Seed:
    """What the page shows of one record (a cell's click lists these)."""

    seed: int
    value: float
    details: list[tuple[str, str]]
    overlap: bool


@dataclass
class Board:
    """One leaderboard: a data set, split, tie policy and metric."""

    dataset: str
    split: str
    ties: str
    metric: str
    chance: float | None = None
    cells: dict[str, dict[int, list[Seed]]] = field(default_factory=lambda: defaultdict(dict))
    curves: dict[str, dict[int, dict[str, list[tuple[list[float], list[float]]]]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    )

    @property
    def bits(self) -> list[int]:
        return sorted({b for by_bits in self.cells.values() for b in by_bits})


def _details(path: Path, record: Record) -> list[tuple[str, str]]:
    """(label, text) pairs of one record: options, versions, device, timings, files."""
    env = record.environment
    timings = record.timings
    seconds = [
        f"{name} {value:.1f} s"
        for name, value in (
            ("fit", timings.fit_s),
            ("encode", timings.encode_s),
            ("evaluate", timings.evaluate_s),
        )
        if value is not None
    ]
    versions = ""
    if env is not None:
        versions = ", ".join(
            f"{name} {getattr(env, name)}"
            for name in ("zshbench", "python", "numpy", "torch", "timm")
            if getattr(env, name)
        )
    device = "" if env is None else " ".join(str(v) for v in (env.device, env.gpu) if v)
    return [
        ("seed", str(record.seed)),
        ("mAP (%)", f"{100 * record.map_value:.2f}"),
        ("options", json.dumps(record.options, sort_keys=True, default=str)),
        ("encoder", record.encoder or ""),
        ("versions", versions),
        ("device", device),
        ("platform", "" if env is None else env.platform or ""),
        ("timings", ", ".join(seconds)),
        ("created", record.created or ""),
        ("log", record.log_file or ""),
        ("record", str(path)),
    ]


def _curve_points(curve: Any, name: str) -> tuple[list[float], list[float]] | None:
    """(x, y) of a PR curve (recall, precision) or a P@N curve (n, precision); None if the
    record's curve is not usable."""
    try:
        if name == "pr_curve":
            x, y = curve["recall"], curve["precision"]
        else:
            x, y = curve["n"], curve["precision"]
        pairs = [
            (float(a), float(b))
            for a, b in zip(x, y, strict=True)
            if a is not None and b is not None
        ]
    except (KeyError, TypeError, ValueError):
        return None
    pairs = [(a, b) for a, b in pairs if math.isfinite(a) and math.isfinite(b)]
    return ([a for a, _ in pairs], [b for _, b in pairs]) if pairs else None


def _held(path: Path, record: Record) -> tuple:
    """What the page needs of one record (held instead of the whole record)."""
    key = (record.dataset, record.split.id, record.tie_policy, record.map_key)
    seed = Seed(
        seed=record.seed,
        value=record.map_value,
        details=_details(path, record),
        overlap=bool(getattr(record, OVERLAP_FIELD, False)) or overlaps_unseen(record.config),
    )
    curves = {name: _curve_points(record.curves.get(name), name) for name in ("pr_curve", "p_at_n")}
    options = json.dumps(record.options, sort_keys=True, default=str)
    return key, (record.run_name, options), record.bits, record.chance_map, seed, curves


def collect(results_dir: Path, datasets: Iterable[str] | None = None) -> list[Board]:
    """The boards of every usable record under ``results_dir`` (read once, as a stream)."""
    wanted = set(datasets) if datasets else None
    boards: dict[tuple[str, str, str, str], Board] = {}
    runs: set[tuple[str, str]] = set()
    for _, (key, (run, options), bits, chance, seed, curves) in iter_records(
        results_dir, keep=_held
    ):
        if wanted and key[0] not in wanted:
            continue
        runs.add((run, options))
        board = boards.setdefault(key, Board(*key))
        if board.chance is None:
            board.chance = chance
        board.cells[run].setdefault(bits, []).append(seed)
        for name, points in curves.items():
            if points:
                board.curves[run][bits][name].append(points)
    if not boards:
        raise ZshbenchError(
            f"no result records under {results_dir}",
            "Run e.g. 'zshbench run --method itq --dataset digits --bits 16,32,64' first.",
        )
    shown = readable_names(runs)  # razh[losses=cls+h], not razh@761b69ed (run_names.py)
    for board in boards.values():
        board.cells = defaultdict(dict, {shown[r]: v for r, v in board.cells.items()})
        board.curves = defaultdict(board.curves.default_factory, {
            shown[r]: v for r, v in board.curves.items()
        })  # fmt: skip
    return [boards[key] for key in sorted(boards)]


def _mean_std(values: list[float]) -> tuple[float, float, int]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan, 0.0, 0
    mean = sum(finite) / len(finite)
    if len(finite) == 1:
        return mean, 0.0, 1
    var = sum((v - mean) ** 2 for v in finite) / (len(finite) - 1)
    return mean, math.sqrt(var), len(finite)


def _cell_html(run: str, bits: int, seeds: list[Seed], row_seeds: int) -> str:
    """One measured cell: mean ± std in %, n, and the hidden list of its records."""
    mean, std, n = _mean_std([s.value for s in seeds])
    nans = len(seeds) - n
    text = "NaN" if n == 0 else f"{100 * mean:.2f}"
    if n > 1:
        text += f" ± {100 * std:.2f}"
    note = f"n={n}" + (f", {nans} NaN" if nans else "")
    short = " short" if n < row_seeds else ""
    sort_value = "" if n == 0 else f"{100 * mean:.6f}"
    labels = [label for label, _ in seeds[0].details]
    kept = [i for i in range(len(labels)) if any(s.details[i][1] for s in seeds)]
    detail_rows = "".join(
        "<tr>" + "".join(f"<td>{esc(s.details[i][1])}</td>" for i in kept) + "</tr>"
        for s in sorted(seeds, key=lambda s: s.seed)
    )
    detail_head = "".join(f"<th>{esc(labels[i])}</th>" for i in kept)  # columns all empty: out
    title = f"{run} at {bits} bits: {len(seeds)} record(s)"
    return (
        f'<td class="cell" data-sort="{sort_value}" tabindex="0">'
        f'<span class="v">{esc(text)}</span>'
        f'<span class="n{short}">{esc(note)}</span>'
        f'<div class="records" hidden><h4>{esc(title)}</h4>'
        f'<table class="rec"><thead><tr>{detail_head}</tr></thead>'
        f"<tbody>{detail_rows}</tbody></table></div></td>"
    )


def _paper_rows(board: Board, references: list | None) -> tuple[list[str], str]:
    """The paper's figures for this board as (rows, note), hidden until toggled."""
    if references is None:
        return [], ""
    from .reference_figures import reference_rows

    rows, note = reference_rows(references, board.dataset, board.metric, board.bits)
    out = [
        '<tr class="paper">'
        + f"<th scope=row>{esc(row[0])}</th><td></td>"
        + "".join(f"<td>{esc(v)}</td>" for v in row[2:])
        + "</tr>"
        for row in rows
    ]
    return out, note


def board_html(board: Board, index: int, references: list | None) -> str:
    """A board's section: heading, sortable table, chance row, paper rows, figures."""
    board_id = f"b{index}"
    bits = board.bits
    head = "".join(
        f'<th scope=col data-col="{i}" data-type="{"text" if i == 0 else "num"}">'
        f'<button type="button">{esc(name)}</button></th>'
        for i, name in enumerate(["method", "seeds", *[f"{b} bits" for b in bits]])
    )
    rows = []
    overlaps = False
    for run, by_bits in board.cells.items():
        seeds = max(len(v) for v in by_bits.values())
        overlap = any(s.overlap for v in by_bits.values() for s in v)
        overlaps |= overlap
        mark = '<sup class="overlap" title="pretraining overlaps the unseen classes">†</sup>'
        cells = "".join(
            _cell_html(run, b, by_bits[b], seeds) if b in by_bits else '<td data-sort=""></td>'
            for b in bits
        )
        rows.append(
            f'<tr class="run"><th scope=row data-sort="{esc(run)}">{esc(run)}'
            f'{mark if overlap else ""}</th><td data-sort="{seeds}">{seeds}</td>{cells}</tr>'
        )
    chance = ""
    if board.chance is not None:
        level = f"{100 * board.chance:.2f}"
        chance = (
            '<tfoot><tr class="chance"><th scope=row>chance level</th><td></td>'
            + "".join(f"<td>{level}</td>" for _ in bits)
            + "</tr></tfoot>"
        )
    paper_rows, note = _paper_rows(board, references)
    paper = ""
    if references is not None:
        toggle = (
            f'<label class="toggle"><input type="checkbox" data-paper="{board_id}"> '
            "the paper's figures</label>"
            if paper_rows
            else ""
        )
        paper = f'<p class="note">{toggle} {esc(note)}</p>'
    caption = f"{board.metric} (%) · split {board.split} · ties: {board.ties}" + (
        f" · chance level {100 * board.chance:.2f} (every code tied)" if board.chance else ""
    )
    legend = (
        '<p class="note">† the backbone\'s pretraining data overlaps the unseen classes.</p>'
        if overlaps
        else ""
    )
    return (
        f'<section id="{board_id}"><h2>{esc(board.dataset)}</h2>'
        f'<p class="caption">{esc(caption)}</p>{paper}'
        f'<table class="board" data-board="{board_id}"><thead><tr>{head}</tr></thead>'
        f'<tbody class="measured">{"".join(rows)}</tbody>'
        f'<tbody class="paper-rows" hidden>{"".join(paper_rows)}</tbody>{chance}</table>'
        f'{legend}<p class="hint">Click a header to sort, a cell to see its records.</p>'
        f'<div class="shown-records" aria-live="polite"></div>'
        f'<div class="figures">{_figures(board)}</div></section>'
    )


def _figures(board: Board) -> str:
    """mAP against bits, and the PR and P@N curves at the longest code, as inline SVG."""
    series = {
        run: [(b, _mean_std([s.value for s in v])[0] * 100) for b, v in sorted(by_bits.items())]
        for run, by_bits in board.cells.items()
    }
    chance = None if board.chance is None else 100 * board.chance
    parts = [map_vs_bits_svg(series, chance, f"{board.metric} (%) against code length")]
    for name, title, x_label, x_range in (
        ("pr_curve", "precision against recall", "recall", (0.0, 1.0)),
        ("p_at_n", "precision at N", "N (retrieved)", None),
    ):
        curves = {}
        for run, by_bits in board.curves.items():
            if by_bits:
                longest = max(by_bits)
                got = by_bits[longest].get(name)
                if got:
                    curves[f"{run} ({longest} bits)"] = _average(got)
        if curves:
            parts.append(curve_svg(curves, title, x_label, "precision", x_range))
    return "".join(parts)


def _average(curves: list[tuple[list[float], list[float]]]) -> tuple[list[float], list[float]]:
    """Point-wise mean over seeds of curves on one grid (the first grid where they differ)."""
    x = curves[0][0]
    same = [c for c in curves if len(c[0]) == len(x)]
    y = [sum(c[1][i] for c in same) / len(same) for i in range(len(x))]
    return x, y


def render_html(
    results_dir: Path, paper: bool = False, datasets: Iterable[str] | None = None
) -> str:
    """The whole page: every board of ``results_dir`` (``paper``: with the paper's figures)."""
    boards = collect(results_dir, datasets)
    references = None
    if paper:
        from .reference_figures import registered_figures

        references = registered_figures()
    body = "".join(board_html(board, i, references) for i, board in enumerate(boards))
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        # No request may leave the page, whatever a record holds: the policy forbids them.
        "<meta http-equiv=Content-Security-Policy content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
        f"<title>zshbench leaderboard</title><style>{PAGE_STYLE}</style></head><body>"
        f"<h1>zshbench leaderboard</h1><p class=caption>{esc(len(boards))} board(s) from "
        f"{esc(results_dir)}; mAP in %, mean ± std over seeds, n = seeds with a finite mAP."
        f"</p>{body}<script>{PAGE_SCRIPT}</script></body></html>\n"
    )
