"""The ``zshbench`` command line: run, report, plot, schema, eval, split, download, list, info,
pretrain.

Heavy imports (torch, models) happen inside the commands that need them, so ``zshbench list``
and ``zshbench --help`` stay fast. Every user-facing error is one line with what to do.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import ZshbenchError, os_error_line
from .launchers.cli_options import launcher_options, run_launched, status, wants_launcher
from .safetext import printable

KINDS = ("methods", "datasets", "loaders", "encoders", "extractors", "studies")
TIE_POLICIES = ("expected", "random", "index")


def _parse_options(pairs: tuple[str, ...], flag: str) -> dict[str, Any]:
    """``key=value`` pairs; values are JSON when they parse as JSON, else strings."""
    from .options import parse_pairs

    return parse_pairs(pairs, flag)


def _check_protocol(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from .splits import check_retrieval

    return check_retrieval(value)


def _report_protocol(value: str | None) -> str | None:
    from .protocol_report import check_report_protocol

    return check_report_protocol(value)


protocol_option = click.option(
    "--protocol",
    default="unseen@all",
    show_default=True,
    callback=_check_protocol,
    help="Queries@database: unseen@all (the paper's), unseen@unseen, seen@seen, seen@all.",
)


def _topk(value: str) -> int | None:
    if value in ("all", "-1"):
        return None
    if not value.isdigit() or int(value) <= 0:
        raise ZshbenchError(f"bad --topk {value!r}", "Give a positive integer or 'all'.")
    return int(value)


results_option = click.option(
    "--results",
    "results_dir",
    default="results",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the result records.",
)
topk_option = click.option(
    "--topk", default="5000", show_default=True, help="K of mAP@K, or 'all'."
)
ties_option = click.option(
    "--ties",
    type=click.Choice(TIE_POLICIES),
    default="expected",
    show_default=True,
    help="How tied Hamming distances are ordered (see README, Evaluation).",
)
dataset_filter_option = click.option(
    "--dataset", "datasets", multiple=True, help="Only these data sets."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="zshbench")
def cli() -> None:
    """zshbench: benchmark zero-shot image hashing methods.

    \b
    zshbench run --method itq --dataset digits --bits 16,32,64 --seeds 0,1,2
    zshbench report
    """


@cli.command()
@click.option(
    "--method",
    "-m",
    required=True,
    help="A method (zshbench list methods), a comma list, or: deep, linear, zero-shot, all.",
)
@click.option("--dataset", "-d", required=True, help="Registered data set, or a .toml file.")
@click.option(
    "--bits", "-b", default="24,48,64,128", show_default=True, help="Comma-separated code lengths."
)
@click.option("--seeds", "-s", default="0", show_default=True, help="Comma-separated seeds.")
@click.option("--split", default=None, help="Split name (default: the data set's default).")
@protocol_option
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--data-root", default=None, help="Where the data set lies (or its env var).")
@click.option(
    "--data-option",
    "data_options",
    multiple=True,
    help="Data-set loader key=value (e.g. verify_images=false).",
)
@results_option
@click.option("--overwrite", is_flag=True, help="Redo records that already exist.")
@click.option("--option", "-o", "options", multiple=True, help="Method option key=value.")
@click.option("--name", "run_name", default=None, help="Name this run (default: method[@hash]).")
@click.option("--encoder", default=None, help="Attribute-text encoder (default: minilm).")
@click.option("--encoder-option", "encoder_options", multiple=True, help="Encoder key=value.")
@topk_option
@ties_option
@click.option("--save-codes", is_flag=True, help="Also save packed query/database codes.")
@click.option(
    "--download",
    "download_missing",
    is_flag=True,
    help="Download the data set first if it is missing (as 'zshbench download').",
)
@launcher_options
def run(
    method,
    dataset,
    bits,
    seeds,
    split,
    protocol,
    device,
    data_root,
    data_options,
    results_dir,
    overwrite,
    options,
    run_name,
    encoder,
    encoder_options,
    topk,
    ties,
    save_codes,
    download_missing,
    **launch,
) -> None:
    """Train, encode and evaluate METHOD on DATASET for every code length and seed."""
    from .distributed import world_from_env
    from .progress import RichProgress
    from .runner import RunRequest, parse_bits, parse_seeds, run_methods

    request = RunRequest(
        method=method,
        dataset=dataset,
        bits=parse_bits(bits),
        seeds=parse_seeds(seeds),
        split=split,
        protocol=protocol,
        device=device,
        data_root=data_root,
        data_options=_parse_options(data_options, "--data-option"),
        results_dir=results_dir,
        overwrite=overwrite,
        options=_parse_options(options, "--option"),
        run_name=run_name,
        encoder=encoder,
        encoder_options=_parse_options(encoder_options, "--encoder-option"),
        topk=_topk(topk),
        ties=ties,
        save_codes=save_codes,
    )
    if download_missing:
        from .download.command import ensure_dataset

        ensure_dataset(dataset, data_root, request.data_options)
    if wants_launcher(launch):  # cells as separate jobs (zshbench/launchers)
        with RichProgress() as progress:
            return run_launched(request, launch, progress)
    with RichProgress() as progress:
        paths = run_methods(request, progress)
    if not world_from_env().is_main:
        return  # under torchrun, rank 0 speaks for all ranks
    click.echo(
        f"{len(paths)} record(s) under {results_dir}. Next: zshbench report"
        + (f" --results {results_dir}" if str(results_dir) != "results" else "")
    )


@cli.command()
@click.argument("name")
@click.option("--dataset", "-d", required=True, help="Registered data set, or a .toml file.")
@click.option("--bits", "-b", default=None, help="Code lengths (default: the paper table's).")
@click.option("--seeds", "-s", default="0,1,2", show_default=True, help="Comma-separated seeds.")
@click.option("--split", default=None, help="Split name (default: the data set's default).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--data-root", default=None, help="Where the data set lies (or its env var).")
@click.option("--data-option", "data_options", multiple=True, help="Data-set loader key=value.")
@results_option
@click.option("--encoder", default=None, help="Attribute-text encoder (default: minilm).")
@click.option("--encoder-option", "encoder_options", multiple=True, help="Encoder key=value.")
@topk_option
@ties_option
@click.option(
    "--format", "fmt", type=click.Choice(["terminal", "markdown"]), default="terminal",
    show_default=True,
)  # fmt: skip
def study(
    name, dataset, bits, seeds, split, device, data_root, data_options, results_dir, encoder,
    encoder_options, topk, ties, fmt,
) -> None:  # fmt: skip
    """Run a paper table's grid (zshbench list studies) and print it beside the paper's."""
    from tabulate import tabulate

    from .plugin_manager import load_plugins
    from .progress import RichProgress
    from .runner import RunRequest, parse_bits, parse_seeds
    from .studies import paper_only_table, run_study, study_table

    spec = load_plugins().studies.get(name)
    template = RunRequest(
        method="",
        dataset=dataset,
        bits=parse_bits(bits) if bits else list(spec.bits),
        seeds=parse_seeds(seeds),
        split=split,
        device=device,
        data_root=data_root,
        data_options=_parse_options(data_options, "--data-option"),
        results_dir=results_dir,
        encoder=encoder,
        encoder_options=_parse_options(encoder_options, "--encoder-option"),
        topk=_topk(topk),
        ties=ties,
    )
    with RichProgress() as progress:
        paths = run_study(spec, template, progress)
    first = next(iter(paths.values()))[0]
    header, rows, caption = study_table(spec, paths, json.loads(first.read_text())["dataset"])
    table_format = "github" if fmt == "markdown" else "simple"
    click.echo(f"\n{caption}\n")
    click.echo(tabulate(rows, header, tablefmt=table_format, disable_numparse=True))
    if "paper has no such data set" in caption:
        paper_header, paper_rows = paper_only_table(spec)
        click.echo("")
        click.echo(tabulate(paper_rows, paper_header, tablefmt=table_format, disable_numparse=True))


@cli.command()
@results_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["terminal", "markdown", "latex", "csv", "html"]),
    default="terminal",
    show_default=True,
)
@click.option(
    "--paper",
    is_flag=True,
    help="Show the reference figures plugins register for each data set (e.g. RAZH's Table II).",
)
@dataset_filter_option
@click.option(
    "--protocol",
    default=None,
    callback=lambda ctx, param, value: _report_protocol(value),
    help="Only this protocol's records, or 'all': the protocols side by side.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to a file instead of the terminal.",
)
def report(results_dir, fmt, paper, datasets, protocol, output) -> None:
    """Leaderboards (mean ± std over seeds) from the result records."""
    from .report import render, terminal_tables

    if fmt == "terminal" and output is None:
        from .tables_out import console as make_console

        console = make_console()  # piped: no cell wrapped at 80 columns
        for table in terminal_tables(results_dir, paper, datasets or None, protocol):
            console.print(table)
        return
    if fmt == "html":  # one self-contained page (zshbench/html_report.py)
        from .html_report import render_html

        text = render_html(results_dir, paper, datasets or None)
    else:
        text = render(results_dir, fmt, paper, datasets or None, protocol)
    if output:
        from .results import atomic_write_text

        atomic_write_text(output, text)
        click.echo(f"wrote {output}")
    else:
        click.echo(text, nl=False)


@cli.command()
@results_option
@click.option(
    "--out",
    "out_dir",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the plots (default: <results>/plots).",
)
@dataset_filter_option
@click.option("--method", "methods", multiple=True, help="Only runs of these methods.")
@click.option(
    "--format", "fmt", type=click.Choice(["png", "svg", "pdf"]), default="png", show_default=True
)
def plot(results_dir, out_dir, datasets, methods, fmt) -> None:
    """Plots (PNG, SVG or PDF): mAP vs bits, PR, P@N and R@N curves."""
    from .plots import plot_all

    out_dir = out_dir or results_dir / "plots"
    paths = plot_all(results_dir, out_dir, datasets or None, methods or None, fmt)
    for path in paths:
        click.echo(printable(path))


@cli.command()
@click.argument("what", type=click.Choice(["record"]))
def schema(what) -> None:
    """The JSON schema (draft 2020-12) of a result record file, for tools outside Python."""
    from .record import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@cli.command(name="eval")
@click.argument("codes_file", type=click.Path(path_type=Path))
@topk_option
@ties_option
@click.option("--seed", default=0, show_default=True, help="Seed of the 'random' tie policy.")
@click.option(
    "--device",
    default="cpu",
    show_default=True,
    help="cpu (numpy, no torch), cuda, or auto (cuda when torch sees a GPU).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--curves/--no-curves", default=False, help="Also compute PR, P@N, R@N (--json).")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1), help="Threads.")
def eval_codes(codes_file, topk, ties, seed, device, as_json, curves, threads) -> None:
    """Evaluate codes made anywhere (an .npz with query_codes, query_labels, db_codes,
    db_labels)."""
    from .evaluation.io import load_codes_file
    from .evaluation.metrics import evaluate

    if device != "cpu":  # only a GPU run pays for torch (and the runner's imports)
        from .runner import resolve_device

        device = resolve_device(device)
    query_codes, query_labels, db_codes, db_labels = load_codes_file(codes_file)
    result = evaluate(
        query_codes,
        query_labels,
        db_codes,
        db_labels,
        topk=_topk(topk),
        ties=ties,
        seed=seed,
        device=device,
        curves=curves,
        threads=threads,
    )
    if as_json:
        click.echo(json.dumps(result))
        return
    for key, value in result.items():
        if not isinstance(value, dict):
            click.echo(
                f"{key:>14}: {value:.6f}" if isinstance(value, float) else f"{key:>14}: {value}"
            )


@cli.command()
@click.option("--dataset", "-d", required=True, help="Registered data set, or a .toml file.")
@click.option("--split", default=None, help="Split name (default: the data set's default).")
@protocol_option
@click.option("--data-root", default=None)
@click.option(
    "--data-option",
    "data_options",
    multiple=True,
    help="Data-set loader key=value (e.g. image_list=../image_list.txt).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the manifest here (default: print a summary only).",
)
def split(dataset, split, protocol, data_root, data_options, out) -> None:
    """Make a zero-shot split and print (or write) its manifest."""
    from .datasets import load_dataset, resolve_dataset
    from .results import atomic_write_text
    from .splits import check_protocol_counts, make_split

    spec = resolve_dataset(dataset)
    imageset = load_dataset(spec, data_root, **_parse_options(data_options, "--data-option"))
    name = split or spec.default_split
    manifest = make_split(imageset, spec.protocol, name, spec.named_splits, protocol)
    check_protocol_counts(manifest, spec.protocol)
    summary = manifest.summary()
    for key, value in summary.items():
        if isinstance(value, list):
            value = ", ".join(value)
        click.echo(f"{key:>20}: {printable(value)}")  # class names are data
    if out:
        atomic_write_text(out, manifest.to_json())
        click.echo(f"wrote {out}")


@cli.command(name="download")
@click.argument("dataset", required=False)
@click.option(
    "--root",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to download into (default: the data set's env var, "
    "$ZSHBENCH_DATA_ROOT/<name>, or ~/.cache/zshbench/data/<name>).",
)
@click.option(
    "--allow-unverified",
    is_flag=True,
    help="Also fetch files whose publisher gives no checksum (their sha256 is printed).",
)
@click.option("--keep-archives", is_flag=True, help="Keep the archives after unpacking them.")
@click.option(
    "--retries",
    default=3,
    show_default=True,
    type=click.IntRange(0, 100),
    help="Resume a dropped connection this many times before giving up.",
)
@click.option(
    "--stall-timeout",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0.1, 86400),
    help="Seconds without a single byte before a connection counts as dropped.",
)
@click.option(
    "--deadline",
    default=6 * 3600.0,
    show_default=True,
    type=click.FloatRange(1, 30 * 86400),
    help="Seconds one file may take in all, retries included (then it stops; rerun resumes).",
)
def download_command(
    dataset, root, allow_unverified, keep_archives, retries, stall_timeout, deadline
) -> None:
    """Download DATASET's published files, check their checksums, unpack them.

    DATASET is a registered data set, a .toml data-set file with a [download] table, or a
    download-only entry (xlsa17). Without DATASET: list what can be downloaded. Interrupted
    downloads resume; a second call with a complete copy does nothing.
    """
    from .download import DownloadResource
    from .download.command import download, download_root, resolve_downloadable

    if dataset is None:
        _list_downloads()
        return
    target = resolve_downloadable(dataset)
    result = download(
        target,
        root,
        allow_unverified=allow_unverified,
        keep_archives=keep_archives,
        retries=retries,
        timeout=stall_timeout,
        deadline=deadline,
    )
    click.echo(printable(result.message, keep_newlines=True))
    if result.status == "embedded":
        return
    if isinstance(target, DownloadResource):
        for path in target.download.check:
            click.echo(f"  {printable(result.root / path)}")
        return
    found_by_default = download_root(target) == result.root
    root_flag = "" if found_by_default else f" --data-root {result.root}"
    click.echo(printable(f"Next: zshbench run --method <method> --dataset {dataset}{root_flag}"))


def _list_downloads() -> None:
    from .download.command import download_root, resources
    from .plugin_manager import load_plugins
    from .tables_out import print_table

    rows = []
    targets = [spec for _, spec, _ in load_plugins().datasets.items() if spec.download]
    for target in [*targets, *resources().values()]:
        spec = target.download
        sums = sorted({name for f in spec.files for name in f.checksums}) or ["none known"]
        size = f"{spec.size / 1e9:.2f} GB" if spec.size else "unknown"
        files = ", ".join(f.filename for f in spec.files)
        rows.append([target.name, files, size, ", ".join(sums), str(download_root(target))])
    print_table("downloadable", ["name", "files", "size", "checksum", "goes to"], rows)


@cli.command(name="list")
@click.argument("kind", required=False, type=click.Choice(KINDS))
@click.option("--json", "as_json", is_flag=True, help="One JSON object: kind -> entries.")
def list_plugins(kind, as_json) -> None:
    """Registered methods, data sets, encoders and extractors, with where each came from."""
    from .plugin_manager import load_plugins
    from .tables_out import listing, print_table

    plugins = load_plugins()
    kinds = [kind] if kind else list(KINDS)
    if as_json:
        listed = {}
        for name in kinds:
            columns, rows = listing(plugins, name)
            listed[name] = [dict(zip(columns, row, strict=True)) for row in rows]
        click.echo(json.dumps(listed, indent=1))
    else:  # boxed at a terminal, tab-separated lines when piped (tables_out.py)
        for name in kinds:
            print_table(name, *listing(plugins, name))
    for line in plugins.warnings():
        click.echo(printable(f"warning: {line}"), err=as_json)  # JSON on stdout stays parseable


@cli.command()
@click.argument("name")
def info(name) -> None:
    """What NAME is: a method's options (type, range, default), a data set's entry (protocol,
    layout, where to get it, citation), a layout loader, an encoder or an extractor."""
    from dataclasses import asdict

    from .encoders import TextEncoder
    from .features import FeatureExtractor
    from .method import HashingMethod
    from .plugin_manager import load_plugins

    plugins = load_plugins()
    for line in plugins.warnings():
        click.echo(f"zshbench: warning: {printable(line)}", err=True)
    found = False
    if name in plugins.methods:
        spec = plugins.methods.get(name)
        cls = plugins.methods.load(name, HashingMethod)
        _line(f"method {name} ({spec.family}) from {plugins.methods.source(name)}")
        _line(f"  {spec.summary}")
        if spec.citation:
            _line(f"  citation: {spec.citation}")
        if spec.zero_shot:
            _line("  zero-shot method: transfers from seen to unseen classes by design")
        doc = (cls.__doc__ or "").strip()
        if doc:
            _line("")
            for line in doc.splitlines():
                _line(f"  {line.strip()}")
        _line("")
        _line("  options (--option key=value):")
        _echo_options(cls.default_options)
        if hasattr(cls, "scale_table"):  # a deep method: what the scale fills in for null
            from .scale_text import scale_lines

            _line("")
            _line("  filled in by the scale (--option scale=cpu or paper) when left as above:")
            for line in scale_lines(cls.scale_table(), cls.default_options):
                _line(f"    {line}")
        if cls.uses_text_encoder:
            _line("")
            _line("  reads the attribute-text encoder (--encoder, --encoder-option)")
        found = True
    if name in plugins.datasets:
        spec = plugins.datasets.get(name)
        _line(f"data set {name}: {spec.title} (from {plugins.datasets.source(name)})")
        for key in ("attributes", "layout", "obtain", "citation", "root_env", "default_split"):
            if getattr(spec, key):
                _line(f"  {key}: {getattr(spec, key)}")
        _line(f"  loader: {spec.loader}")
        protocol = {k: v for k, v in asdict(spec.protocol).items() if v is not None}
        _line(f"  protocol: {protocol}")
        if spec.named_splits:
            _line(f"  named splits: {', '.join(sorted(spec.named_splits))}")
        if spec.download is not None:
            from .download.command import download_command

            for file in spec.download.files:
                sums = ", ".join(f"{k} {v}" for k, v in file.checksums.items()) or "no checksum"
                _line(f"  download: {file.url} ({sums})")
            _line(f"  get it with: {download_command(spec)}")
        found = True
    if name in plugins.loaders:
        import inspect

        loader = plugins.loaders.load(name)
        summary = plugins.loaders.get(name).summary
        _line(f"loader {name} from {plugins.loaders.source(name)}: {summary}")
        try:
            parameters = list(inspect.signature(loader).parameters.values())[1:]
        except (TypeError, ValueError):
            parameters = []
        for parameter in parameters:
            default = "" if parameter.default is inspect.Parameter.empty else parameter.default
            _line(f"    {parameter.name} = {json.dumps(default, default=str)}")
        found = True
    for kind, base in (("encoders", TextEncoder), ("extractors", FeatureExtractor)):
        registry = plugins.registry(kind)
        if name in registry:
            spec = registry.get(name)
            cls = registry.load(name, base)
            _line(f"{kind[:-1]} {name} from {registry.source(name)}: {spec.summary}")
            _echo_options(cls.default_options)
            found = True
    if name in plugins.studies:
        _echo_study(plugins.studies.get(name), plugins.studies.source(name))
        found = True
    if not found:
        from .suggest import did_you_mean

        every = [n for kind in KINDS for n in plugins.registry(kind).names()]
        raise ZshbenchError(
            f"nothing is registered as {name!r}", f"{did_you_mean(name, every)}See 'zshbench list'."
        )


def _echo_study(spec: Any, source: str) -> None:
    """A study: its title, code lengths, paper figures and every row's run."""
    _line(f"study {spec.name}: {spec.title} (from {source})")
    if spec.summary:
        _line(f"  {spec.summary}")
    _line(f"  code lengths: {', '.join(str(b) for b in spec.bits)}")
    if spec.reference:
        _line(f"  paper's figures: {spec.reference}")
    _line(f"  rows ({spec.label_column}: run, and its name in report and plot):")
    from .run_names import readable_names
    from .runner import default_run_name

    stored = [(default_run_name(m, o), json.dumps(o, sort_keys=True)) for _, m, o in spec.rows]
    shown = readable_names(stored)
    for (label, method, options), (name, _) in zip(spec.rows, stored, strict=True):
        flags = " ".join(f"-o {k}={json.dumps(v)}" for k, v in options.items())
        _line(f"    {label}: --method {method}{' ' + flags if flags else ''}  ({shown[name]})")
    _line(f"  run it: zshbench study {spec.name} --dataset <data set>")


def _echo_options(defaults: dict[str, Any]) -> None:
    """``key = default  (type and range)  help`` per declared option."""
    from .options import describe_options

    for key, kind, default, help_text in describe_options(defaults):
        _line(f"    {key} = {default}  ({kind}){f'  {help_text}' if help_text else ''}")


def _line(text: str) -> None:
    """One line of ``info``: what a plugin or a data-set entry wrote is data, so each control
    character (an ESC, a newline that would forge a line) is shown escaped, never obeyed."""
    click.echo(printable(text))


cli.add_command(status)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line each, like errors (no source line, no file position)."""
    click.echo(f"zshbench: warning: {printable(message)}", err=True)


def _add_commands() -> None:
    """Commands kept in their own modules (each a thin front of a plugin)."""
    from .pretraining import pretrain_command

    cli.add_command(pretrain_command)


_add_commands()


def main(argv: list[str] | None = None) -> None:
    """Entry point: one-line errors instead of tracebacks for anything the user can fix."""
    warnings.showwarning = _show_warning
    try:
        cli.main(args=argv, prog_name="zshbench", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("zshbench: interrupted; finished records are kept.", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("zshbench: interrupted; finished records are kept.", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except ZshbenchError as error:
        click.echo(f"zshbench: error: {printable(error.one_line())}", err=True)
        sys.exit(2)
    except OSError as error:  # disk full, permission denied, a file where a folder should be
        click.echo(f"zshbench: error: {printable(os_error_line(error))}", err=True)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
