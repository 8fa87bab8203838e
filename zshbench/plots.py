"""Plots from result records (a pure reader): mAP vs bits, PR, P@N and R@N curves, as PNG, SVG
or PDF, optionally for some methods and data sets only.

Curves are averaged over seeds point by point (every seed of a run has the same grid; curves
of a record that do not fit are warned about and left out). Each file is written atomically, so
an interrupted ``plot`` never leaves a half-written image. Runs are labelled with readable names
(:mod:`zshbench.run_names`: ``razh[losses=cls+h]``, not ``razh@761b69ed``).
"""

from __future__ import annotations

import io
import re
import warnings
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .errors import ZshbenchError
from .report import records_frame, summarise
from .results import atomic_write_bytes, iter_records
from .run_names import HASHED, with_readable_names
from .safetext import printable


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


FORMATS = ("png", "svg", "pdf")


def _mean_curves(results_dir: Path, datasets: Iterable[str] | None, names: dict[str, str]):
    """{(dataset, split, ties): {bits: {shown run name: {curve: (x, y-mean-over-seeds)}}}}, for
    the runs in ``names`` (stored name -> shown name) only."""

    def nested(depth: int):
        return defaultdict(list) if depth == 0 else defaultdict(lambda: nested(depth - 1))

    gathered: dict = nested(3)
    for path, record in iter_records(results_dir):
        if (datasets and record.dataset not in datasets) or record.run_name not in names:
            continue
        key = (record.dataset, record.split.id, record.tie_policy)
        for name, curve in record.curves.items():
            x_key = "radius" if name == "pr_curve" else "n"
            y_keys = (
                ("precision", "recall")
                if name == "pr_curve"
                else (("precision",) if name == "p_at_n" else ("recall",))
            )
            try:
                values = np.array([curve[k] for k in y_keys], dtype=float)
                x = np.array(curve[x_key], dtype=float)
                if values.ndim != 2 or x.ndim != 1 or values.shape[1] != len(x):
                    raise ValueError("its arrays differ in length")
            except (KeyError, TypeError, ValueError) as error:
                warnings.warn(f"skipping curve {name} of record {path}: {error}", stacklevel=2)
                continue
            earlier = gathered[key][record.bits][names[record.run_name]][name]
            if earlier and earlier[0][0].shape != x.shape:
                warnings.warn(
                    f"skipping curve {name} of record {path}: its grid differs from the other "
                    "seeds' of this run",
                    stacklevel=2,
                )
                continue
            earlier.append((x, values))
    return gathered


def _file_name(*parts: object, fmt: str = "png") -> str:
    """A file name from record fields; anything but letters, digits, '.', '@', '-' becomes '_'
    (record fields are data: a '/' or '..' in one must not move the file out of --out)."""
    text = "_".join(str(part) for part in parts)
    return re.sub(r"[^A-Za-z0-9.@-]", "_", text).lstrip(".") + "." + fmt


def _save(fig, path: Path, dpi: int) -> None:
    """Render to memory, then write atomically: a file on disk is always whole."""
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=dpi, format=path.suffix[1:])
    atomic_write_bytes(path, buffer.getvalue())


def _label(text: object) -> str:
    """Record text as a plot label shown as it is: control characters escaped, and a leading
    ``_`` (which matplotlib's legend would hide) kept visible. Mathtext is off for every plot
    (see :func:`plot_all`), so a ``$`` in a name is a dollar sign."""
    shown = printable(text)
    return f" {shown}" if shown.startswith("_") else shown


#: One marker per method, so lines stay apart in grey print and for colour-blind readers.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def map_vs_bits_figure(plt, group, chance: float | None, metric: str, title: str):
    """mAP (%) against code length on a log2 axis, the chance level as a dashed line, one
    marker per method and the legend outside the data."""
    fig, ax = plt.subplots(figsize=(7.5, 4))
    for i, (method, rows) in enumerate(group.groupby("method")):
        rows = rows.sort_values("bits")
        ax.errorbar(
            rows["bits"],
            100 * rows["mean"],
            yerr=100 * rows["std"].fillna(0.0),
            marker=MARKERS[i % len(MARKERS)],
            capsize=3,
            label=_label(method),
        )
    if chance is not None:
        ax.axhline(chance, color="0.4", linestyle="--", linewidth=1, label="chance level")
    bits = sorted(group["bits"].unique())
    ax.set_xscale("log", base=2)
    ax.set_xticks(bits, [str(b) for b in bits])
    ax.minorticks_off()
    ax.set(xlabel="code length (bits, log2 axis)", ylabel=f"{metric} (%)", title=_label(title))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    return fig


def plot_all(
    results_dir: Path,
    out_dir: Path,
    datasets: Iterable[str] | None = None,
    methods: Iterable[str] | None = None,
    fmt: str = "png",
) -> list[Path]:
    """Write every plot in ``fmt`` (png, svg or pdf); returns the paths. ``methods``: only runs
    of these methods (case-insensitive; a run's method is its stored name up to ``@``, or the
    name itself). Record text in titles and legends is plain text: ``$`` never starts mathtext,
    so no name can break a plot; SVG keeps text as text."""
    import matplotlib

    if fmt not in FORMATS:
        raise ZshbenchError(f"unknown plot format {fmt!r}", f"Use one of {', '.join(FORMATS)}.")
    style = {"text.parse_math": False, "text.usetex": False, "svg.fonttype": "none"}
    with matplotlib.rc_context(style):
        return _plot_all(results_dir, out_dir, datasets, methods, fmt)


def method_of(run_name: str) -> str:
    """The method a stored run name belongs to: ``razh@761b69ed`` -> ``razh``."""
    match = HASHED.match(run_name)
    return match["method"] if match else run_name


def select_methods(frame, methods: Iterable[str] | None, results_dir: Path):
    """Rows of runs of ``methods`` (the stored ``method`` column); an unknown name is one error
    line with the closest plotted methods."""
    if not methods:
        return frame
    base = frame["method"].map(lambda name: method_of(name).lower())
    known = set(base) | set(frame["method"].str.lower())
    for name in methods:
        if name.lower() not in known:
            from .suggest import did_you_mean

            present = sorted({method_of(n) for n in frame["method"]})
            raise ZshbenchError(
                f"no runs of method {name!r} under {results_dir}",
                f"{did_you_mean(name, present)}Methods there: {', '.join(present)}.",
            )
    wanted = {name.lower() for name in methods}
    return frame[base.isin(wanted) | frame["method"].str.lower().isin(wanted)]


def _plot_all(results_dir, out_dir, datasets, methods, fmt: str) -> list[Path]:
    plt = _pyplot()
    datasets = list(datasets) if datasets else None
    everything = records_frame(results_dir)
    frame = everything[everything["dataset"].isin(datasets)] if datasets else everything
    if frame.empty:
        raise ZshbenchError(f"no result records under {results_dir}", "Run 'zshbench run' first.")
    frame = select_methods(frame, methods, results_dir)
    names = dict(zip(everything["method"], with_readable_names(everything)["method"], strict=True))
    names = {stored: names[stored] for stored in frame["method"]}
    frame = frame.assign(method=frame["method"].map(names))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    summary = summarise(frame)
    for (dataset, split, ties, metric), group in summary.groupby(
        ["dataset", "split", "ties", "metric"]
    ):
        level = frame[
            (frame["dataset"] == dataset) & (frame["split"] == split) & (frame["ties"] == ties)
        ]["chance"].dropna()
        chance = 100 * float(level.iloc[0]) if len(level) else None
        fig = map_vs_bits_figure(plt, group, chance, metric, f"{dataset} ({split}), ties: {ties}")
        path = out_dir / _file_name(dataset, split, ties, "map_vs_bits", fmt=fmt)
        fig.tight_layout()
        _save(fig, path, 120)
        plt.close(fig)
        written.append(path)

    for (dataset, split, ties), by_bits in _mean_curves(results_dir, datasets, names).items():
        for bits, by_run in sorted(by_bits.items()):
            fig, axes = plt.subplots(1, 3, figsize=(15, 4))
            for run, curves in sorted(by_run.items()):
                for ax, name in zip(axes, ("pr_curve", "p_at_n", "r_at_n"), strict=True):
                    if name not in curves:
                        continue
                    x = curves[name][0][0]
                    y = np.mean([values for _, values in curves[name]], axis=0)
                    if name == "pr_curve":
                        ax.plot(y[1], y[0], marker=".", label=_label(run))
                    else:
                        ax.plot(x, y[0], marker=".", label=_label(run))
            axes[0].set(xlabel="recall", ylabel="precision", title="PR (Hamming radius)")
            axes[1].set(xlabel="N", ylabel="precision", title="P@N", xscale="log")
            axes[2].set(xlabel="N", ylabel="recall", title="R@N", xscale="log")
            for ax in axes:
                ax.grid(alpha=0.3)
            next((ax for ax in axes if ax.get_lines()), axes[0]).legend(fontsize=8)
            fig.suptitle(_label(f"{dataset} ({split}), {bits} bits, ties: {ties}"))
            fig.tight_layout()
            path = out_dir / _file_name(dataset, split, ties, f"{bits}bits_curves", fmt=fmt)
            _save(fig, path, 110)
            plt.close(fig)
            written.append(path)
    return written
