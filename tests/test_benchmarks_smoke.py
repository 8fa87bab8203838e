"""The evaluation benchmark runs end to end at small size and its agreement checks hold.

No timing assertions: timings depend on the machine; only correctness is checked here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_evaluation.py"


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("bench_evaluation", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_evaluation_quick(capsys: pytest.CaptureFixture[str]) -> None:
    status = _load_benchmark().main(["--quick", "--threads", "1"])
    output = capsys.readouterr().out
    assert status == 0, output
    assert "every implementation agrees with zshbench's index policy to 1e-12: yes" in output
    assert " NO " not in output and "NO (" not in output and not output.count(" NO\n")
    assert "The whole process" in output and "Scaling in N and Q" in output
    for policy in ("expected (exact)", "random, seeds 0-4", "index, database in class order"):
        assert policy in output


def _load(name: str):
    path = BENCHMARK.parent / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_razh_step_quick(capsys: pytest.CaptureFixture[str]) -> None:
    """Both steps run at both CPU geometries; the table has a row for each."""
    status = _load("bench_razh_step").main(["--quick", "--device", "cpu", "--steps", "1"])
    output = capsys.readouterr().out
    assert status == 0, output
    for geometry in ("digits 8 px", "cub-mini64 (32 px)"):
        for step in ("supervised ViT", "RAZH (Eq. 16)"):
            assert any(geometry in line and step in line for line in output.splitlines())


def test_bench_razh_paper_scale_is_vit_b16_with_mae_decoder() -> None:
    net, settings = _load("bench_razh_step").build("paper", "cub", 224, 64, 10, 20)
    assert settings["model"] == "vit_base_patch16_224.mae" and settings["img_size"] == 224
    assert net.encoder.embed_dim == 768 and len(net.encoder.blocks) == 12
    assert net.num_patches == 196 and len(net.decoder_blocks) == 8
    assert net.decoder_embed.out_features == 512


def test_bench_download_quick(capsys: pytest.CaptureFixture[str]) -> None:
    """20 MB over loopback: every client gets the right md5, zshbench's memory stays flat."""
    status = _load("bench_download").main(["--quick"])
    output = capsys.readouterr().out
    assert status == 0, output
    rows = [line for line in output.splitlines() if line.endswith(("yes", "NO"))]
    assert len(rows) == 4 and all(line.endswith("yes") for line in rows), output


@pytest.mark.slow
def test_bench_itq_pca_quick(capsys: pytest.CaptureFixture[str]) -> None:
    """Both solvers fit ITQ; the fast subspace holds the exact one's variance."""
    status = _load("bench_itq_pca").main(["--quick", "--bits", "8,16"])
    output = capsys.readouterr().out
    assert status == 0, output
    assert "variance captured within 1e-4 of the exact PCA: yes" in output


@pytest.mark.slow
def test_bench_epoch_trains_each_method_and_reports_a_failing_one(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real one-epoch fit, encoding and evaluation per method (a small ViT at 224 px); a method
    that fails (DRMH without its detector file) gets its error row and the others go on."""
    import pandas as pd

    table = tmp_path / "epoch.csv"
    status = _load("bench_epoch").main([
        "--device", "cpu", "--methods", "dsh,drmh,csq", "--classes", "3", "--per-class", "2",
        "--side", "32", "--model", "vit_tiny_patch16_224", "--bits", "16",
        "--detector-weights", str(tmp_path / "missing.pt"), "--csv", str(table),
    ])  # fmt: skip
    output = capsys.readouterr().out
    assert status == 0, output
    rows = pd.read_csv(table).set_index("method")
    assert list(rows.index) == ["dsh", "drmh", "csq"]
    assert "missing.pt" in rows.loc["drmh", "error"]
    for name in ("dsh", "csq"):
        assert rows.loc[name, "img_s"] > 0 and rows.loc[name, "batch"] == 16
        assert 0.0 <= rows.loc[name, "map"] <= 1.0 and rows.loc[name, "peak_mb"] > 0


def test_bench_epoch_at_cpu_scale_is_digits_shaped(tmp_path, capsys) -> None:
    import pandas as pd

    table = tmp_path / "epoch.csv"
    status = _load("bench_epoch").main(
        ["--scale", "cpu", "--methods", "razh,ddsh", "--per-class", "6", "--epochs", "2",
         "--bits", "16", "--csv", str(table)]
    )  # fmt: skip
    output = capsys.readouterr().out
    assert status == 0, output
    assert "2 epoch(s) of 48 digits-shaped images of 8 classes at 8 px" in output
    rows = pd.read_csv(table).set_index("method")
    assert rows.loc["razh", "warmup_s"] > 0  # its reconstruction warm-up ran
    assert rows.loc["ddsh", "loss"] > 0 and rows.loc["razh", "batch"] == 32


def test_bench_report_small(capsys: pytest.CaptureFixture[str]) -> None:
    """The report benchmark at 200 records: both implementations give the same table."""
    status = _load("bench_report").main(["--records", "200", "--repeats", "1"])
    output = capsys.readouterr().out
    assert status == 0, output
    assert "same table: yes" in output and "200 records" in output


def test_bench_data_path_quick(tmp_path, capsys) -> None:
    """Every path of the data-path benchmark delivers a batch; the table has its four rows."""
    from PIL import Image

    for i in range(6):
        Image.new("RGB", (40 + i, 30), (40 * i, 90, 200)).save(tmp_path / f"{i}.jpg")
    status = _load("bench_data_path").main(
        ["--images", str(tmp_path), "--batch", "4", "--size", "32", "--repeats", "1"]
    )
    output = capsys.readouterr().out
    assert status == 0, output
    for row in ("today, PIL from JPEG", "today, uint8 in memory", "new, from the cache"):
        assert any(line.startswith(row) for line in output.splitlines()), output
