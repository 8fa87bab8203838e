"""Issue 18: ``zshbench info`` shows what each scale fills in for a null option, and describes a
study as ``list`` does. Expected values are written out from plugins/deep/scales.py's CPU and
PAPER tables, plugins/razh/config.py and the RAZH paper (ViT-B/16 at 224, patch 16, batch 16;
the authors' AWA2 lr 6e-6 / weight decay 0.5 / 70 epochs, CUB 2e-5 / 0.05 / 200; threshold 0.1
up to 48 bits, 0.2 above)."""

from __future__ import annotations

import pytest

from zshbench import cli


def _info(capsys, name):
    cli.main(["info", name])
    return capsys.readouterr().out


def _scale_lines(out: str) -> dict[str, str]:
    block = out.split("filled in by the scale", 1)[1].split("\n\n", 1)[0]
    lines = [line.strip() for line in block.splitlines()[1:] if line.strip()]
    return dict(line.split(": ", 1) for line in lines)


def test_razh_shows_each_scale_s_values_instead_of_null(capsys):
    lines = _scale_lines(_info(capsys, "razh"))
    assert lines["model"] == 'cpu "vit_tiny_patch16_224" · paper "vit_base_patch16_224.mae"'
    assert lines["img_size"].endswith("· paper 224") and "at most 32" in lines["img_size"]
    assert lines["patch_size"].endswith("· paper 16")
    assert lines["embed_dim"] == "cpu 64 · paper the timm model's own"
    assert lines["batch_size"] == "cpu 32 · paper 16"
    assert lines["lr"] == "cpu 0.001 · paper per data set: awa2 6e-06, cub 2e-05, otherwise 2e-05"
    assert (
        lines["weight_decay"] == "cpu 0.05 · paper per data set: awa2 0.5, cub 0.05, otherwise 0.05"
    )
    assert lines["epochs"] == (
        "cpu 30 · paper per data set: awa2 70 (50 at 64 bits and more), cub 200, otherwise 100"
    )
    assert lines["decoder_dim"] == "cpu 32 · paper 512"
    assert lines["decoder_depth"] == "cpu 1 · paper 8"
    assert lines["attribute_dim"] == "cpu 32 · paper 300"
    assert (
        lines["threshold"]
        == "cpu none (replace_ratio is used) · paper 0.1 up to 48 bits, 0.2 above"
    )
    assert lines["replace_ratio"] == "cpu 0.5 · paper none (threshold is used)"
    assert lines["threads"] == "cpu 1 · paper torch's default"
    assert lines["patience"] == "cpu 5 · paper none (no early stop)"
    assert lines["selection_min_accuracy"] == "0.95 (every scale)"
    assert "digits 0.2067" in lines["alpha"]  # 0.1 * 31 / 15, config.VALIDATED_ALPHA_BETA
    # options with a declared value (not null) are not repeated
    assert "mask_ratio" not in lines and "grad_clip" not in lines


def test_razh_f_and_a_non_razh_method(capsys):
    lines = _scale_lines(_info(capsys, "razh-f"))
    assert (
        lines["model"]
        == 'cpu "vit_tiny_patch16_224" · paper "vit_base_patch16_224.orig_in21k_ft_in1k"'
    )
    assert lines["finetune_epochs"] == "cpu 10 (0 with weights given)"
    drmh = _scale_lines(_info(capsys, "drmh"))
    assert drmh["regions"] == "cpu 10 · paper 27"
    assert drmh["threads"] == "torch's default (every scale)"
    assert "filled in by the scale" not in _info(capsys, "itq")  # no scales: nothing to say


def test_info_of_a_study_agrees_with_list(capsys):
    cli.main(["list", "studies"])
    listed = capsys.readouterr().out  # piped: tab-separated lines
    [summary] = [
        line.split("\t")[1] for line in listed.splitlines() if line.startswith("razh-table4\t")
    ]
    out = _info(capsys, "razh-table4")
    assert out.splitlines()[1].strip() == summary
    assert "code lengths: 24, 64" in out
    for row in (
        'L_cls: --method razh -o losses="cls"  (razh[losses=cls])',
        'L_cls+alpha*L_h: --method razh -o losses="cls+h"  (razh[losses=cls+h])',
        "L_cls+alpha*L_h+beta*L_rec: --method razh  (razh)",
    ):
        assert row in out


@pytest.mark.parametrize("scale", ["cpu", "paper"])
def test_the_table_follows_scales_py(scale):
    """Every engine value the table prints as a plain value is the one scales.resolve uses."""
    import json

    from plugins.deep import scales
    from plugins.deep.scale_info import scale_table

    table = scale_table({})[scale]
    engine = scales.CPU if scale == "cpu" else scales.PAPER
    for key, value in engine.items():
        if value is not None:
            assert table[key] == json.dumps(value)
