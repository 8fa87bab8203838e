"""benchmarks/bench_deephash_step.py runs every deep baseline's step at CPU scale, and builds
the paper-scale networks as a run would (no timing is asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("torch")

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_deephash_step.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_deephash_step", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_method_steps_and_dsdh_reports_its_code_update(capsys, one_torch_thread):
    bench = _load()
    status = bench.main(["--quick", "--device", "cpu", "--steps", "1", "--bits", "16",
                         "--images", "64"])  # fmt: skip
    output = capsys.readouterr().out
    assert status == 0, output
    rows = {line.split()[0]: line.split() for line in output.splitlines()[2:]}
    assert set(rows) == {"supervised", *bench.METHODS}
    assert len(rows["dsdh"]) == 6 and float(rows["dsdh"][-1]) >= 0  # the code update's time
    assert all(float(rows[name][3]) > 0 for name in bench.METHODS)  # img/s


@pytest.mark.slow
def test_paper_scale_builds_vit_b16_and_the_method_output_layer():
    bench = _load()
    method, network, objective, settings = bench.build("dpsh", "paper", 64, 32, "cpu")
    assert settings["model"] == "vit_base_patch16_224.mae" and settings["img_size"] == 224
    assert network.encoder.embed_dim == 768 and len(network.encoder.blocks) == 12
    assert type(network).__name__ == "LinearHashingNetwork" and network.bits == 64
    assert objective.memory.values.shape == (32, 64)
