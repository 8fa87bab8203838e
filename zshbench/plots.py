"""PNG plots from result records (a pure reader): mAP vs bits, PR, P@N and R@N curves.

Curves are averaged over seeds point by point (every seed of a run has the same grid; curves
of a record that do not fit are warned about and left out). Each PNG is written atomically, so
an interrupted ``plot`` never leaves a half-written image.
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
from .safetext import printable


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _mean_curves(results_dir: Path, datasets: Iterable[str] | None):
    """{(dataset, split, ties): {bits: {run: {curve: (x, y-mean-over-seeds)}}}}."""

    def nested(depth: int):
        return defaultdict(list) if depth == 0 else defaultdict(lambda: nested(depth - 1))

    gathered: dict = nested(3)
    for path, record in iter_records(results_dir):
        if datasets and record.dataset not in datasets:
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
            earlier = gathered[key][record.bits][record.run_name][name]
            if earlier and earlier[0][0].shape != x.shape:
                warnings.warn(
                    f"skipping curve {name} of record {path}: its grid differs from the other "
                    "seeds' of this run",
                    stacklevel=2,
                )
                continue
            earlier.append((x, values))
    return gathered


def _file_name(*parts: object) -> str:
    """A PNG name from record fields; anything but letters, digits, '.', '@', '-' becomes '_'
    (record fields are data: a '/' or '..' in one must not move the file out of --out)."""
    text = "_".join(str(part) for part in parts)
    return re.sub(r"[^A-Za-z0-9.@-]", "_", text).lstrip(".") + ".png"


def _save(fig, path: Path, dpi: int) -> None:
    """Render to memory, then write atomically: a PNG on disk is always whole."""
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=dpi, format="png")
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


def plot_all(results_dir: Path, out_dir: Path, datasets: Iterable[str] | None = None) -> list[Path]:
    """Write every plot; returns the PNG paths. Record text in titles and legends is plain
    text: ``$`` never starts mathtext, so no name can break a plot."""
    import matplotlib

    with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
        return _plot_all(results_dir, out_dir, datasets)


def _plot_all(results_dir: Path, out_dir: Path, datasets: Iterable[str] | None) -> list[Path]:
    plt = _pyplot()
    datasets = list(datasets) if datasets else None
    frame = records_frame(results_dir)
    if datasets:
        frame = frame[frame["dataset"].isin(datasets)]
    if frame.empty:
        raise ZshbenchError(f"no result records under {results_dir}", "Run 'zshbench run' first.")
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
        path = out_dir / _file_name(dataset, split, ties, "map_vs_bits")
        fig.tight_layout()
        _save(fig, path, 120)
        plt.close(fig)
        written.append(path)

    for (dataset, split, ties), by_bits in _mean_curves(results_dir, datasets).items():
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
            axes[0].legend(fontsize=8)
            fig.suptitle(_label(f"{dataset} ({split}), {bits} bits, ties: {ties}"))
            fig.tight_layout()
            path = out_dir / _file_name(dataset, split, ties, f"{bits}bits_curves")
            _save(fig, path, 110)
            plt.close(fig)
            written.append(path)
    return written
