"""The retrieval protocols side by side (``zshbench report --protocol all``).

``report`` keeps protocols apart: each protocol is its own saved split (its own split id), so
its records make their own tables. This view puts them next to each other: one table per
(data set, split name, tie policy, K), a method per row and a column per (protocol, code
length), with each protocol's chance level in the title, so "how much does a method lose when
the database also holds seen classes" is read along a row. Cells are the leaderboards' own
(mean ± std over seeds, ``(n=k)``, ``(k NaN)``); the best cell of each column is marked.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from .errors import ZshbenchError
from .splits import RETRIEVAL_PROTOCOLS

KEYS = ["dataset", "split_name", "ties", "metric"]


def _ordered(protocols: Iterable[str]) -> list[str]:
    """Known protocols in their canonical order, anything else after them."""
    present = set(protocols)
    known = [p for p in RETRIEVAL_PROTOCOLS if p in present]
    return known + sorted(present - set(known))


def protocol_tables(
    frame: pd.DataFrame,
) -> list[tuple[str, list[str], list[list]]]:
    """(title, header, rows) per table from ``records_frame``'s rows; a measured cell is
    (mean, std, seeds, is_best, the row's seeds, NaN records), as ``leaderboards`` gives it."""
    if frame.empty:
        raise ZshbenchError(
            "no result records to compare protocols on",
            "Run a method with --protocol unseen@unseen and --protocol unseen@all first.",
        )
    grouped = frame.groupby([*KEYS, "protocol", "method", "bits"])["map"]
    summary = grouped.agg(
        mean="mean", std="std", n="count", nan=lambda v: int(v.isna().sum())
    ).reset_index()
    summary["std"] = summary["std"].fillna(0.0)
    tables = []
    for key, group in summary.groupby(KEYS):
        dataset, split_name, ties, metric = key
        columns = [
            (p, b)
            for p in _ordered(group["protocol"].unique())
            for b in sorted(group[group["protocol"] == p]["bits"].unique())
        ]
        best = group.groupby(["protocol", "bits"])["mean"].max()
        records = group.assign(records=group["n"] + group["nan"])
        seeds = records.groupby("method")["records"].max()
        rows = []
        for method, method_rows in group.groupby("method"):
            cells = method_rows.set_index(["protocol", "bits"])
            row: list = [method, str(int(seeds[method]))]
            for column in columns:
                if column not in cells.index:
                    row.append("")
                    continue
                r = cells.loc[column]
                row.append(
                    (
                        float(r["mean"]), float(r["std"]), int(r["n"]),
                        bool(r["mean"] >= best[column]), int(seeds[method]), int(r["nan"]),
                    )
                )  # fmt: skip
            rows.append(row)
        rows.sort(key=lambda row: -max((c[0] for c in row[2:] if c and c[2]), default=0))
        header = ["method", "seeds", *[f"{p} {b} bits" for p, b in columns]]
        title = f"{dataset} · {metric} (%) · split {split_name}, protocols side by side"
        title += f" · ties: {ties}" + _chance_note(frame, key)
        tables.append((title, header, rows))
    return tables


def _chance_note(frame: pd.DataFrame, key: tuple) -> str:
    """`` · chance level: unseen@all 2.10, unseen@unseen 50.00`` for the table's protocols."""
    rows = frame
    for column, value in zip(KEYS, key, strict=True):
        rows = rows[rows[column] == value]
    levels = rows.dropna(subset=["chance"]).groupby("protocol")["chance"].first()
    if levels.empty:
        return ""
    parts = [f"{p} {100 * float(levels[p]):.2f}" for p in _ordered(levels.index)]
    return " · chance level (every code tied): " + ", ".join(parts)


def select_protocol(frame: pd.DataFrame, protocol: str | None) -> pd.DataFrame:
    """The rows of one protocol (None or "all": every row)."""
    if protocol in (None, "all"):
        return frame
    return frame[frame["protocol"] == protocol]


def check_report_protocol(value: str | None) -> str | None:
    """``--protocol`` of ``report``: a known protocol, ``all``, or None."""
    if value is None or value == "all":
        return value
    from .splits import check_retrieval

    return check_retrieval(value)
