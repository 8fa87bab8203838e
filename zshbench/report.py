"""Leaderboards from result records (a pure reader: it never trains or evaluates).

One table per (data set, split, tie policy, K): methods × code lengths, mAP@K in percent as
mean ± std over seeds. Results with different tie policies or K are never averaged together.
A cell that averages fewer seeds than its row (an interrupted sweep) says how many, ``(n=2)``,
and a record whose mAP is NaN is counted and shown, ``(1 NaN)``, never silently dropped.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from .errors import ZshbenchError
from .markup_escape import latex_text, markdown_text
from .paper_twins import paper_column, twin_order
from .protocol_report import protocol_tables, select_protocol
from .record import Record
from .reference_figures import reference_rows, registered_figures
from .results import iter_records
from .run_names import names_every_option, with_readable_names
from .safetext import plain, printable

FORMATS = ("terminal", "markdown", "latex", "csv")


#: The columns of :func:`records_frame`, in the order :func:`_row` gives them.
FRAME_COLUMNS = (
    "dataset",
    "split",
    "split_name",
    "protocol",
    "method",
    "bits",
    "seed",
    "ties",
    "metric",
    "map",
    "chance",
    "options",
    "fit_s",
    "overlaps",
    "path",
)


def _row(path: Path, record: Record) -> tuple:
    """What a leaderboard needs of one record (held instead of the record and its curves)."""
    return (
        record.dataset,
        record.split.id,
        record.split.name or record.split.id,
        record.split.protocol or "unstated",
        record.run_name,
        record.bits,
        record.seed,
        record.tie_policy,
        record.map_key,
        record.map_value,
        record.chance_map,
        json.dumps(record.options, sort_keys=True, default=str),
        record.timings.fit_s,
        overlaps_unseen(record.config),
        str(path),
    )


def records_frame(results_dir: Path) -> pd.DataFrame:
    """One row per record: data set, split, run, bits, seed, tie policy, K and mAP (read as a
    stream: only these fields of each record are held)."""
    rows = [row for _, row in iter_records(results_dir, keep=_row)]
    return pd.DataFrame(rows, columns=list(FRAME_COLUMNS))


OVERLAP_MARK = "†"


def overlaps_unseen(config: dict) -> bool:
    """Whether a record's pretrained weights (``config.pretrained``, written by a deep method's
    backbone or a feature extractor) saw class labels that may cover the unseen classes."""
    block = config.get("pretrained") if isinstance(config, dict) else None
    return isinstance(block, dict) and block.get("pretraining_overlaps_unseen") is True


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean, std (ddof=1) and seed count per (group, method, bits).

    ``mean``/``std``/``n`` are over the seeds with a finite mAP; ``nan`` counts the others. One
    seed has no spread: its std is NaN (an empty CSV field), never a measured 0.
    """
    keys = ["dataset", "split", "ties", "metric", "method", "bits"]
    grouped = frame.groupby(keys)["map"]
    summary = grouped.agg(
        mean="mean", std="std", n="count", nan=lambda values: int(values.isna().sum())
    ).reset_index()
    summary["nan"] = summary["nan"].astype(int)
    return summary


def _cell(
    mean: float, std: float, n: int, bold: bool, row_seeds: int, nan: int, markup: str
) -> str:
    """``mean ± std`` in percent, flagged ``(n=k)`` below the row's seed count, ``(j NaN)``."""
    if n == 0:
        text = "NaN"
    else:
        text = f"{100 * mean:.2f} ± {100 * std:.2f}" if n > 1 else f"{100 * mean:.2f}"
    notes = [f"n={n}"] if 0 < n < row_seeds else []
    if nan:
        notes.append(f"{nan} NaN")
    if notes:
        text += f" ({', '.join(notes)})"
    if bold and markup == "markdown":
        return f"**{text}**"
    if bold and markup == "terminal":
        return plain(text, style="bold")
    if bold and markup == "latex":
        return f"\\textbf{{{text}}}"
    return text


def leaderboards(
    results_dir: Path,
    paper: bool = False,
    datasets: Iterable[str] | None = None,
    protocol: str | None = None,
) -> list[tuple[str, list[str], list[list], list[list[str]]]]:
    """(title, header, rows, paper rows) per table (``paper``: the reference figures plugins
    register for the table's data set, see :mod:`zshbench.reference_figures`).

    A measured cell is (mean, std, seeds, is_best, the row's seeds, NaN records) or "" where
    that length was not run. A table with a cell short of its row's seeds, or with a NaN,
    says so in its title. ``protocol``: only that protocol's records; ``"all"``: the protocols
    side by side (:mod:`zshbench.protocol_report`, no reference rows).
    """
    frame = with_readable_names(select_protocol(records_frame(results_dir), protocol))
    if datasets:
        frame = frame[frame["dataset"].isin(list(datasets))]
    if protocol == "all" and not frame.empty:
        return [(title, header, rows, []) for title, header, rows in protocol_tables(frame)]
    if frame.empty:
        raise ZshbenchError(
            f"no result records under {results_dir}",
            "Run e.g. 'zshbench run --method itq --dataset digits --bits 16,32,64' first.",
        )
    summary = summarise(frame)
    chance = frame.dropna(subset=["chance"]).groupby(["dataset", "split", "ties", "metric"])
    chance = chance["chance"].first()
    references = registered_figures() if paper else None
    tables = []
    for (dataset, split, ties, metric), group in summary.groupby(
        ["dataset", "split", "ties", "metric"]
    ):
        bits = sorted(group["bits"].unique())
        best = group.groupby("bits")["mean"].max()
        group = group.assign(records=group["n"] + group["nan"])
        seeds = group.groupby("method")["records"].max()
        header = ["method", "seeds", *[f"{b} bits" for b in bits]]
        rows = []
        runs = frame[(frame["dataset"] == dataset) & (frame["split"] == split)]
        marked = set(runs.loc[runs["overlaps"].astype(bool), "method"])
        for method, method_rows in group.groupby("method"):
            by_bits = method_rows.set_index("bits")
            row = [method + (f" {OVERLAP_MARK}" if method in marked else ""), str(seeds[method])]
            for b in bits:
                if b in by_bits.index:
                    r = by_bits.loc[b]
                    row.append(
                        (
                            float(r["mean"]),
                            float(r["std"]),
                            int(r["n"]),
                            bool(r["mean"] >= best[b]),
                            int(seeds[method]),
                            int(r["nan"]),
                        )
                    )
                else:
                    row.append("")
            rows.append(row)
        ordered_by = order_rows(rows, bits)
        paper_rows, paper_note = [], ""
        if references is not None:
            paper_rows, paper_note = reference_rows(references, dataset, metric, bits)
        runs = frame[(frame["dataset"] == dataset) & (frame["split"] == split)]
        title = f"{dataset} · {metric} (%) · split {split} ({runs['protocol'].iloc[0]})"
        title += f" · ties: {ties}"
        legend = [
            f"{name}: {options}"
            for name, options in sorted(set(zip(runs["method"], runs["options"], strict=True)))
            if options != "{}" and not names_every_option(name, options)
        ]
        if legend:
            title += " · " + "; ".join(legend)
        if (dataset, split, ties, metric) in chance.index:
            level = 100 * float(chance[(dataset, split, ties, metric)])
            title += f" · chance level {level:.2f} (every code tied)"
        cells = [c for row in rows for c in row[2:] if c]
        title += f" · rows by {ordered_by}"
        if paper_note:
            title += f" · {paper_note}"
        if any(c[2] < c[4] for c in cells):
            title += " · (n=k): a cell averaging fewer seeds than its row"
        if marked:
            title += (
                f" · {OVERLAP_MARK}: pretrained with class labels that overlap the unseen "
                "classes (pretraining_overlaps_unseen), not strictly zero-shot"
            )
        if any(c[5] for c in cells):
            title += " · (k NaN): seeds whose mAP is NaN, left out of the mean"
        tables.append((title, header, rows, paper_rows))
    return tables


def order_rows(rows: list[list], bits: list[int]) -> str:
    """Sort leaderboard rows, best first, by their mean over the code lengths *every* row has,
    so a method run at one length only is not ranked against another's average over four; with
    no length shared by all, by each row's own mean. Returns how, for the table's title."""
    shared = [i for i in range(len(bits)) if all(row[2 + i] and row[2 + i][2] for row in rows)]

    def score(row: list) -> float:
        cells = [row[2 + i] for i in shared] if shared else [c for c in row[2:] if c and c[2]]
        return sum(c[0] for c in cells) / len(cells) if cells else float("-inf")

    rows.sort(key=lambda row: -score(row))
    if shared:
        return "mean over " + ", ".join(str(bits[i]) for i in shared) + " bits"
    return "each row's mean over its own code lengths (no length shared by every row)"


def in_percent(summary: pd.DataFrame) -> pd.DataFrame:
    """The CSV's columns: mean and std of the metric in percent, ``mean_pct``/``std_pct`` (the
    header says the unit; rounded to 6 decimals, far below any measured difference)."""
    scaled = {name: (100 * summary[name]).round(6) for name in ("mean", "std")}
    return summary.assign(**scaled).rename(columns={"mean": "mean_pct", "std": "std_pct"})


def render(
    results_dir: Path,
    fmt: str = "terminal",
    paper: bool = False,
    datasets: Iterable[str] | None = None,
    protocol: str | None = None,
) -> str:
    """The leaderboards as text in ``fmt`` (terminal output is rich markup)."""
    if fmt not in FORMATS:
        raise ZshbenchError(f"unknown format {fmt!r}", f"Use one of {', '.join(FORMATS)}.")
    if fmt == "csv":
        summary = summarise(
            with_readable_names(select_protocol(records_frame(results_dir), protocol))
        )
        if datasets:
            summary = summary[summary["dataset"].isin(list(datasets))]
        if summary.empty:
            raise ZshbenchError(
                f"no result records under {results_dir}"
                + (f" for data set(s) {', '.join(datasets)}" if datasets else ""),
                "Run e.g. 'zshbench run --method itq --dataset digits --bits 16,32,64' first.",
            )
        if paper:  # the paper's figure beside each measured cell (zshbench.paper_twins)
            summary["paper_pct"] = paper_column(summary, registered_figures())
        text_columns = ["dataset", "split", "ties", "metric", "method"]  # data: shown escaped
        summary[text_columns] = summary[text_columns].map(printable)
        summary = in_percent(summary)
        buffer = io.StringIO()
        summary.to_csv(buffer, index=False)
        return buffer.getvalue()
    out = []
    for title, header, rows, paper_rows in leaderboards(results_dir, paper, datasets, protocol):
        if fmt == "terminal":
            cells, twins = _twin_cells(rows, paper_rows, fmt)
            out.append(_export(rich_table(title, header, cells, twins)))
            continue
        text = markdown_text if fmt == "markdown" else latex_text  # names are data: escaped
        cells = [[text(row[0]), *row[1:]] for row in _twin_cells(rows, paper_rows, fmt)[0]]
        header = [text(name) for name in header]
        if fmt == "markdown":
            out.append(
                f"### {text(title)}\n\n"
                + tabulate(cells, header, tablefmt="github", disable_numparse=True)
            )
        else:
            latex = tabulate(cells, header, tablefmt="latex_raw", disable_numparse=True)
            out.append(f"% {text(title)}\n" + latex)
    return "\n\n".join(out) + "\n"


def terminal_tables(
    results_dir: Path,
    paper: bool = False,
    datasets: Iterable[str] | None = None,
    protocol: str | None = None,
) -> list:
    """The leaderboards as rich Tables, for printing in colour."""
    tables = []
    for title, header, rows, paper_rows in leaderboards(results_dir, paper, datasets, protocol):
        tables.append(rich_table(title, header, *_twin_cells(rows, paper_rows, "terminal")))
    return tables


def _twin_cells(
    rows: list[list], paper_rows: list[list[str]], fmt: str
) -> tuple[list[list], list[bool]]:
    """The table's cells with each paper row under its run's (:func:`twin_order`), and which
    rows are the paper's."""
    ordered = twin_order(rows, paper_rows)
    cells = [
        row if twin else row[:2] + [_cell(*c, fmt) if c else "" for c in row[2:]]
        for row, twin in ordered
    ]
    return cells, [twin for _, twin in ordered]


def rich_table(title: str, header: list[str], cells: list[list[str]], twins: list[bool]):
    """A rich Table; the rows ``twins`` flags are the paper's (dimmed).

    Every string is shown as plain text (:func:`zshbench.safetext.plain`): names from records
    are never read as rich markup, and their control characters are shown escaped.
    """
    from rich.table import Table

    dataset, _, details = title.partition(" · ")
    table = Table(
        title=plain(dataset),
        caption=plain(details),
        title_justify="left",
        caption_justify="left",
    )
    for i, name in enumerate(header):
        table.add_column(plain(name), justify="left" if i == 0 else "right")
    for row, twin in zip(cells, twins, strict=True):
        table.add_row(
            *[plain(cell) if isinstance(cell, str) else cell for cell in row],
            style="dim" if twin else None,
        )
    return table


def _export(table) -> str:
    from rich.console import Console

    console = Console(record=True, width=200, file=io.StringIO())
    console.print(table)
    return console.export_text(styles=False)
