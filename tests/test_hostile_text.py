"""Hostile text in records and data files: shown as text, never acted on (issue 16, cases 6-11).

A record's ``run_name``, ``dataset``, ``split.id`` and ``tie_policy`` are data written by
whoever made the file. Here they hold terminal escapes, rich markup, mathtext, LaTeX and
markdown; every reader (report in each format, plot, split, list, download's log lines) must
show them as the characters they are. The LaTeX check decodes the output with a small TeX
reader written here (no pdflatex on this machine), the markdown one with markdown-it (CommonMark
with GFM tables), both independent of the escaping code.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest
from test_results_report import _write

from zshbench import cli
from zshbench.report import render

ESC_CSI = "\x1b[2J\x1b[31mred"
OSC_LINK = "\x1b]8;;file:///etc/passwd\x07click\x1b]8;;\x07"
#: What a terminal must never receive from data: C0 (but newline), DEL and C1 controls.
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def _hostile_record(tmp_path, seed=0, **fields):
    """A record written normally, then edited by hand as a copied folder could be."""
    path = _write(tmp_path, seed=seed)
    record = json.loads(path.read_text())
    for key, value in fields.items():
        if key == "split_id":
            record["split"]["id"] = value
        else:
            record[key] = value
    path.with_name(f"bits16-seed{seed}.json").write_text(json.dumps(record))
    return path


def _main(capsys, *argv):
    code = 0
    try:
        cli.main(list(argv))
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("fmt", ["terminal", "markdown", "latex", "csv"])
def test_report_never_prints_a_control_character_from_a_record(tmp_path, capsys, fmt):
    """Case 8: ESC/CSI/OSC in run_name, dataset, split id and tie policy reached the terminal."""
    _hostile_record(
        tmp_path,
        run_name=f"itq{ESC_CSI}",
        dataset=f"digits{OSC_LINK}",
        split_id="random\x9b0m\x07",
        tie_policy="expected\x1bc",
    )
    code, out, err = _main(capsys, "report", "--results", str(tmp_path), "--format", fmt)
    assert code == 0, err
    assert not RAW_CONTROL.search(out + err), repr(out)
    assert "x1b" in out  # shown, escaped, not dropped


def test_rich_markup_in_a_run_name_is_shown_as_text(tmp_path, capsys):
    """Case 9: '[link=file:///etc/passwd]click[/link]' became a terminal hyperlink."""
    name = "[link=file:///etc/passwd]click[/link]"
    _hostile_record(tmp_path, run_name=name)
    code, out, err = _main(capsys, "report", "--results", str(tmp_path))
    assert code == 0, err
    assert name in out


def test_a_closing_tag_run_name_does_not_crash_report(tmp_path, capsys):
    """Case 10: run_name '[/bold]' raised rich.errors.MarkupError: no leaderboard at all."""
    _hostile_record(tmp_path, run_name="[/bold]")
    for fmt in ("terminal", "markdown"):
        code, out, err = _main(capsys, "report", "--results", str(tmp_path), "--format", fmt)
        assert code == 0, err
        assert "Traceback" not in err and "[/bold]" in out.replace("\\", "")


def test_mathtext_in_a_run_name_does_not_break_plot(tmp_path, capsys):
    """Case 11: run_name '$\\foo{$' raised a mathtext ParseException: no PNG at all."""
    _hostile_record(tmp_path, run_name="$\\foo{$", dataset="$\\frac{$")
    code, out, err = _main(capsys, "plot", "--results", str(tmp_path))
    assert code == 0, err
    pngs = list((tmp_path / "plots").glob("*.png"))
    assert pngs and all(p.stat().st_size > 1000 for p in pngs)


def test_plot_labels_are_the_names_as_written(tmp_path):
    """Plain-text labels: '$x$' is the three characters, a leading '_' is still in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from zshbench.plots import plot_all

    _hostile_record(tmp_path, run_name="_$x$\x1b")
    labels = []
    original = plt.Figure.savefig

    def spy(fig, *args, **kwargs):
        for ax in fig.axes:
            legend = ax.get_legend()
            if legend is not None:
                labels.extend(text.get_text() for text in legend.get_texts())
        return original(fig, *args, **kwargs)

    plt.Figure.savefig = spy
    try:
        plot_all(tmp_path, tmp_path / "plots")
    finally:
        plt.Figure.savefig = original
    assert labels == [" _$x$\\x1b"]


# --- LaTeX: every special character, decoded by an independent reader --------------------

EVERY_LATEX_SPECIAL = "\\ { } $ & # _ % ^ ~ < > | \" ' ` -- --- [x] \\input{/etc/passwd}"
#: What each escaped sequence typesets as (the LaTeX2e names of these glyphs).
_GLYPHS = {
    "textbackslash": "\\",
    "textasciicircum": "^",
    "textasciitilde": "~",
    "textless": "<",
    "textgreater": ">",
    "textbar": "|",
    "textquotedbl": '"',
    "textquotesingle": "'",
    "textasciigrave": "`",
    "textbf": "",
}


def _typeset(source: str) -> str:
    """The text a TeX cell typesets as, for the subset of TeX a table cell may hold.

    ``\\name{}`` and ``\\name`` are looked up in ``_GLYPHS`` (an unknown control word is an
    error: it would be live TeX), ``\\X`` for a non-letter X is X, braces group and vanish,
    and any bare special character (``$ & # ^ _ ~ %``) or ``--`` ligature is an error.
    """
    out, i = [], 0
    while i < len(source):
        char = source[i]
        if char == "\\":
            word = re.match(r"[A-Za-z]+", source[i + 1 :])
            if word:
                name = word.group()
                if name not in _GLYPHS:
                    raise AssertionError(f"live control word \\{name} in {source!r}")
                out.append(_GLYPHS[name])
                i += 1 + len(name)
                if source.startswith("{}", i):
                    i += 2
                continue
            out.append(source[i + 1])
            i += 2
            continue
        if source.startswith(("{[}", "{]}"), i):  # a bracket no command can take as argument
            out.append(source[i + 1])
            i += 3
            continue
        if char in "{}":
            i += 1
            continue
        if char in "$&#^_~%\"'`<>|[]" or source.startswith("--", i):
            raise AssertionError(f"bare special {source[i : i + 2]!r} in {source!r}")
        out.append(char)
        i += 1
    return "".join(out)


def _latex_rows(latex: str) -> list[list[str]]:
    body = latex.split("\\hline", 2)[2].rsplit("\\hline", 1)[0]
    rows = [row.strip() for row in body.split("\\\\") if row.strip()]
    return [[cell.strip() for cell in re.split(r"(?<!\\)&", row)] for row in rows]


def test_latex_report_typesets_every_special_character_as_itself(tmp_path):
    """Case 6: a run_name '\\input{/etc/passwd}' was written verbatim into the LaTeX table,
    and a newline in the data set name ended the '%' comment so the rest was live TeX."""
    name = EVERY_LATEX_SPECIAL
    _hostile_record(tmp_path, run_name=name, dataset="d\n\\input{/etc/passwd}%")
    latex = render(tmp_path, "latex")
    comment, _, table = latex.partition("\n")
    assert comment.startswith("% ") and "\\input" not in table.split("\\hline")[0]
    assert _typeset(comment[2:]).startswith("d\\x0a\\input{/etc/passwd}%")
    rows = _latex_rows(table)
    assert [_typeset(row[0]) for row in rows] == [name]


# --- markdown: rendered by markdown-it (CommonMark + GFM tables) -------------------------

EVERY_MARKDOWN_SPECIAL = (
    "a|b \\| *x* _y_ **z** `c` [l](http://e) <b>h</b> &amp; # ~s~ ! 1. - + > = : ; ' \" ^ {}"
)


def _rendered_cells(markdown: str) -> list[list[str]]:
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").enable("table").render(markdown)
    body = html.split("<tbody>")[1]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in rows]
    assert "<" not in "".join(row[0] for row in cells).replace("&lt;", "")  # no HTML made
    from html import unescape

    return [[unescape(c) for c in row] for row in cells]


def test_markdown_report_renders_every_special_character_as_itself(tmp_path):
    """Case 7: a '|', tab or newline in run_name forged cells and rows; raw HTML passed."""
    forged = "x | 3 | **99.99** |\n| razh | 3 | **99.99**\tz"
    _hostile_record(tmp_path, run_name=EVERY_MARKDOWN_SPECIAL, seed=0)
    _hostile_record(tmp_path, run_name=forged, seed=1)
    markdown = render(tmp_path, "markdown")
    rows = _rendered_cells(markdown)
    assert len(rows) == 2 and all(len(row) == 3 for row in rows)  # method, seeds, 16 bits
    assert sorted(row[0] for row in rows) == sorted(
        [EVERY_MARKDOWN_SPECIAL, forged.replace("\n", "\\x0a").replace("\t", "\\x09")]
    )


# --- split, list, download -----------------------------------------------------------------


def test_split_shows_class_names_escaped(monkeypatch, capsys):
    """Case 8: a data set's class names reached the terminal raw in 'zshbench split'."""
    import zshbench.datasets as datasets
    import zshbench.splits as splits

    manifest = SimpleNamespace(
        summary=lambda: {"name": "x", "unseen_classes": [f"cat{ESC_CSI}", "[bold]dog"]},
        to_json=lambda: "{}",
    )
    monkeypatch.setattr(datasets, "resolve_dataset", lambda name: SimpleNamespace(
        protocol=None, default_split="x", named_splits={}))  # fmt: skip
    monkeypatch.setattr(datasets, "load_dataset", lambda spec, root, **options: None)
    monkeypatch.setattr(splits, "make_split", lambda *args: manifest)
    monkeypatch.setattr(splits, "check_protocol_counts", lambda *args: None)
    code, out, err = _main(capsys, "split", "--dataset", "digits")
    assert code == 0, err
    assert not RAW_CONTROL.search(out + err)
    assert "cat\\x1b[2J\\x1b[31mred, [bold]dog" in out


def test_list_shows_registry_text_as_text(monkeypatch, capsys):
    """Case 8/9: a data set entry's title (a TOML file, data) was printed as rich markup."""
    import zshbench.plugin_manager as plugin_manager

    title = f"[link=file:///etc/passwd]t[/link]{ESC_CSI}\tforged column"
    spec = SimpleNamespace(title=title, summary="")
    registry = SimpleNamespace(items=lambda: [("evil", spec, f"file{OSC_LINK}")])
    plugins = SimpleNamespace(registry=lambda name: registry, warnings=lambda: ["w\x1b[1m"])
    monkeypatch.setattr(plugin_manager, "load_plugins", lambda: plugins)
    code, out, err = _main(capsys, "list", "datasets")
    assert code == 0, err
    # piped, a row is tab-separated (our separator); text from data never holds a raw tab, so
    # every row keeps the header's three fields and no other control character appears
    rows = [line.split("\t") for line in out.splitlines() if "\t" in line]
    assert rows and all(len(fields) == 3 for fields in rows)
    assert not RAW_CONTROL.search(out.replace("\t", " ") + err)
    assert "[link=file:///etc/passwd]t[/link]" in out


def test_download_log_lines_show_a_file_name_escaped():
    """Case 8: a download URL's file name with ESC sequences reached the terminal raw."""
    import io

    from rich.console import Console

    from zshbench.download.transfer import Reporter

    stream = io.StringIO()
    reporter = Reporter(console=Console(file=stream, force_terminal=True, width=200))
    reporter.log(f"evil{ESC_CSI}.tar: downloading [link=x]y[/link]")
    with reporter.transfer(f"evil{OSC_LINK}", 10, 0) as update:
        update(advance=10)
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue())  # rich's own styling
    assert "\x1b]" not in shown and "\x07" not in shown and "\x1b" not in shown
    assert "evil\\x1b[2J\\x1b[31mred.tar: downloading [link=x]y[/link]" in shown


def test_error_lines_escape_control_characters(capsys):
    """Case 8: an error naming a file or URL from data printed its control characters raw."""
    from zshbench.errors import DatasetError

    @cli.cli.command(name="boom-test")
    def boom():
        raise DatasetError(f"bad file x{ESC_CSI}", "fix\x1b]0;title\x07 it")

    try:
        code, out, err = _main(capsys, "boom-test")
    finally:
        cli.cli.commands.pop("boom-test")
    assert code == 2 and not RAW_CONTROL.search(err) and "x\\x1b[2J" in err


def test_split_of_a_real_cifar_folder_shows_hostile_class_names_escaped(tmp_path, capsys):
    """Case 8, end to end: class names in batches.meta (data) through `zshbench split`."""
    import pickle

    from test_datasets_cifar10 import LABEL_NAMES, make_cifar
    from test_layouts_end_to_end import _protocol_file

    make_cifar(tmp_path / "data")
    hostile = f"{ESC_CSI}{OSC_LINK}\u202e"
    names = [name + hostile.encode() for name in LABEL_NAMES]
    meta = tmp_path / "data" / "cifar-10-batches-py" / "batches.meta"
    meta.write_bytes(pickle.dumps({b"label_names": names}, protocol=2))
    spec = _protocol_file(tmp_path / "tiny.toml", "tiny", "cifar10", 10, 8)
    out_file = tmp_path / "manifest.json"
    code, out, err = _main(
        capsys, "split", "--dataset", str(spec), "--data-root", str(tmp_path / "data"),
        "--out", str(out_file),
    )  # fmt: skip
    assert code == 0, err
    assert not RAW_CONTROL.search(out + err) and "\u202e" not in out
    assert "red\\x1b]8;;file:///etc/passwd\\x07click\\x1b]8;;\\x07\\u202e, " in out
    # the manifest file keeps the names exactly (it is data, read back by a parser)
    unseen = json.loads(out_file.read_text())["unseen_classes"]
    assert len(unseen) == 2 and all(name.endswith(hostile) for name in unseen)


@pytest.mark.parametrize("name", ["a%1b%5b2Jb.tgz", "a%c2%9b0mb.tgz", "a%e2%80%aeb.tgz"])
def test_a_control_character_in_a_urls_file_name_is_refused_as_text(tmp_path, capsys, name):
    """Case 8: ESC, an 8-bit CSI or a bidi mark in a URL's file name never names a file;
    `zshbench download` says so in one line that shows the character escaped."""
    from test_download import dataset_file

    spec = dataset_file(tmp_path, [{"url": f"http://127.0.0.1:9/{name}", "md5": "0" * 32}])
    code, out, err = _main(capsys, "download", str(spec), "--root", str(tmp_path / "d"))
    assert code != 0 and "plain file name" in err and len(err.strip().splitlines()) == 1
    assert not RAW_CONTROL.search(out + err) and "\u202e" not in err
    assert not (tmp_path / "d").exists()
