"""The ``run`` flags that send cells out as jobs (``--launcher`` and the rest), and ``status``.

Kept apart from :mod:`zshbench.cli` so the command line only gains a decorator and a branch.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..errors import ZshbenchError

_FLAGS: list[Callable] = [
    click.option(
        "--launcher",
        type=click.Choice(["inprocess", "local", "slurm"]),
        default="inprocess",
        show_default=True,
        help="Run cells in this process, as local jobs (--jobs at once) or as SLURM jobs.",
    ),
    click.option("--jobs", "-j", type=int, default=1, show_default=True,
                 help="--launcher local: cells at once (a GPU each, or a share of the CPU)."),
    click.option("--no-wait", is_flag=True, help="--launcher slurm: submit and return at once."),
    click.option("--dry-run", is_flag=True, help="List the cells that would train; train none."),
    click.option("--slurm-partition", default=None, help="SLURM partition."),
    click.option("--slurm-time", default=None, help="Time limit per cell: minutes or HH:MM:SS."),
    click.option("--slurm-gpus-per-task", type=int, default=0, show_default=True,
                 help="GPUs per cell; more than 1 runs the cell as a DDP job (a task per GPU)."),
    click.option("--slurm-cpus-per-task", type=int, default=None, help="CPUs per task."),
    click.option("--slurm-mem", default=None, help="Memory per node, e.g. 32G."),
    click.option("--slurm-array-parallelism", type=int, default=None,
                 help="Cells of the job array that may run at once."),
    click.option("--slurm-option", "slurm_options", multiple=True,
                 help="Any other submitit sbatch setting, key=value (e.g. qos=high)."),
    click.option("--slurm-same-machine", is_flag=True,
                 help="The cluster is this one machine: allow --results under /tmp."),
]  # fmt: skip


def launcher_options(command: Callable) -> Callable:
    for flag in reversed(_FLAGS):
        command = flag(command)
    return command


def launch_options(flags: dict[str, Any]) -> Any:
    """The :class:`~zshbench.launchers.submit.LaunchOptions` of the ``run`` flags."""
    from .submit import LaunchOptions, parse_slurm_time

    slurm: dict[str, Any] = {}
    for pair in flags["slurm_options"]:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ZshbenchError(f"bad --slurm-option {pair!r}", "Write key=value, e.g. qos=high.")
        try:
            slurm[key.strip().replace("-", "_")] = json.loads(value)
        except ValueError:
            slurm[key.strip().replace("-", "_")] = value
    named = {
        "partition": flags["slurm_partition"],
        "cpus_per_task": flags["slurm_cpus_per_task"],
        "mem": flags["slurm_mem"],
        "array_parallelism": flags["slurm_array_parallelism"],
    }
    slurm.update({k: v for k, v in named.items() if v is not None})
    if flags["slurm_time"] is not None:
        slurm["time"] = parse_slurm_time(str(flags["slurm_time"]))
    if flags["slurm_gpus_per_task"] < 0:
        raise ZshbenchError("--slurm-gpus-per-task must be 0 or more", "Give 0, 1, 2, ...")
    launcher = flags["launcher"]
    return LaunchOptions(
        launcher="local" if launcher == "inprocess" else launcher,
        jobs=flags["jobs"],
        wait=not flags["no_wait"],
        dry_run=flags["dry_run"],
        slurm=slurm,
        gpus_per_task=flags["slurm_gpus_per_task"],
        same_machine=flags["slurm_same_machine"],
    )


def wants_launcher(flags: dict[str, Any]) -> bool:
    """True when ``run`` hands its cells to a launcher (or only lists them)."""
    return flags["launcher"] != "inprocess" or flags["dry_run"] or flags["jobs"] != 1


def run_launched(request: Any, flags: dict[str, Any], progress: Any) -> None:
    from .submit import launch

    options = launch_options(flags)
    if flags["launcher"] == "inprocess" and flags["jobs"] != 1:
        raise ZshbenchError("--jobs needs --launcher local", "Add --launcher local.")
    launch(request, options, progress, echo=click.echo)
    if options.wait and not options.dry_run:
        from rich.console import Console

        from ..report import terminal_tables

        console = Console()
        for table in terminal_tables(Path(request.results_dir)):
            console.print(table)


@click.command()
@click.option(
    "--results",
    "results_dir",
    default="results",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the records.",
)
@click.option("--method", "-m", "methods", multiple=True, help="Only these methods (or runs).")
@click.option("--dataset", "-d", "datasets", multiple=True, help="Only these data sets.")
@click.option("--json", "as_json", is_flag=True, help="Print the cells and totals as JSON.")
def status(results_dir: Path, methods: tuple[str, ...], datasets: tuple[str, ...],
           as_json: bool) -> None:  # fmt: skip
    """The cells of the sweeps under --results: done, running, failed, resumable, missing."""
    from .status import sweep_status, totals

    rows = sweep_status(results_dir, list(methods) or None, list(datasets) or None)
    counted = totals(rows)
    if as_json:
        click.echo(json.dumps({"cells": rows, "totals": counted}, indent=1))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table("data set", "run", "bits", "seed", "state", "log / error")
    for row in rows:
        detail = " ".join(
            part for part in (row["error"], row["log"] and f"(log: {row['log']})") if part
        )
        table.add_row(
            escape(row["dataset"]), escape(row["run_name"]), str(row["bits"]), str(row["seed"]),
            row["state"], escape(str(detail)),
        )  # fmt: skip
    Console().print(table)
    click.echo(", ".join(f"{count} {state}" for state, count in counted.items()))
