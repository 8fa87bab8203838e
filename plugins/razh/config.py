"""RAZH's own settings on top of the deep engine's two scales, and the paper's α/β.

Every option left at None is resolved here once the data set and the code length are known, and
the resolved values go into the results record, so a record always says what really ran.

* ``scale="paper"`` — the paper's operating point: the engine's ViT-B/16 from MAE's
  self-supervised weights with ImageNet normalisation, MAE's decoder (512-d, 8 blocks,
  16 heads), d_a = 300, and the authors' learning rates, weight decays and epochs for AWA2 and
  CUB; the authors' replacement threshold (0.1 up to 48 bits, 0.2 above).
* ``scale="cpu"`` — the engine's conv-stem token encoder, a 1-block decoder of width 32,
  d_a = 32, a reconstruction-only warm-up (``pretrain_epochs``, the CPU stand-in for MAE's
  initialisation), and a replacement rule that keeps its meaning at d_a = 32:
  ``replace_ratio`` (the share of patches replaced per batch; see :mod:`.model`).

α and β (Eq. 16): the paper's grid-search values (its Table VIII, carried into
``paper_alpha_beta.csv``) for AWA2, CUB and CIFAR-10; they were tuned for L_h on the authors'
scale (:func:`plugins.razh.losses.pairwise_hash_loss`) at their batch of 16, which the option
``hash_loss_batch`` keeps at any batch size. Which row a data set uses, in this order (the
record's ``alpha_beta_source`` and the run's log say which applied, and why):

1. ``alpha``/``beta`` given as options;
2. the data set's ``paper_family`` (its ``.toml``: ``paper_family = "cub"``);
3. a name that *is* a paper data set, or ``<name>-...`` (``cub-mini64`` → cub), inferred;
4. ``digits``: α/β chosen on its own seen-class validation task (``VALIDATED_ALPHA_BETA``);
5. otherwise α = β = 1 (Eq. 16 unweighted), e.g. a user's ``cub100`` without ``paper_family``.

Code lengths between the table's use the nearest one.

With ``losses`` lacking ``rec`` (Table IV's ``cls+h``) the reconstruction warm-up is skipped
unless ``pretrain_epochs`` is given: its only objective is the reconstruction the run leaves out,
so warming up would give the same-encoder baseline a reconstruction-trained start.
"""

from __future__ import annotations

import csv
from importlib import resources
from typing import Any

from plugins.deep import scales

# RAZH's additions to the engine's scales.
RAZH_PAPER: dict[str, Any] = {
    "decoder_dim": 512,
    "decoder_depth": 8,
    "decoder_heads": 16,
    "attribute_dim": 300,
    "pretrain_epochs": 0,  # the MAE weights are the pre-training
    "kmeans_iterations": 10,
    # Faithfulness (README, "RAZH faithfulness"): as the authors' code at paper scale.
    "warmup_epochs": 0.0,  # no learning-rate warm-up
    "decoder_pos_embed": "sincos",  # MAE's fixed 2-D sin-cos decoder positions
    "aux_hash_loss": True,  # L_cls + α·L_h on h^a too
}

RAZH_CPU: dict[str, Any] = {
    "decoder_dim": 32,
    "decoder_depth": 1,
    "decoder_heads": 2,
    "attribute_dim": 32,
    "pretrain_epochs": 5,
    "kmeans_iterations": 5,  # 16 patches into 4 clusters settle in a few rounds
    "decoder_pos_embed": "learned",  # kept: see README, "RAZH faithfulness"
    "aux_hash_loss": False,  # kept: see README, "RAZH faithfulness"
}

# The authors' code: AWA2 lr 6e-6, weight decay 0.5, 70 (24/48 bits) or 50 epochs; CUB lr 2e-5,
# weight decay 0.05, 200 epochs. AWA2 uses 25 clusters at 64/128 bits.
PAPER_DATASET: dict[str, dict[str, Any]] = {
    "awa2": {"lr": 6e-6, "weight_decay": 0.5, "epochs": 70},
    "cub": {"lr": 2e-5, "weight_decay": 0.05, "epochs": 200},
}

# CPU scale: the share of patches Eq. 3 replaces per batch (chosen on seen-class validation).
CPU_REPLACE_RATIO = 0.5


# α/β for data sets the paper does not cover, chosen as the paper chose Table VIII's: by a
# search, here on the data set's seen-class validation task only (README, "CPU scale").
# digits' α was chosen as 0.1 at the CPU scale's batch of 32 with L_h on its own batch's scale;
# the same balance with L_h on the authors' batch of 16 (hash_loss_batch) is 0.1 · 31/15.
VALIDATED_ALPHA_BETA: dict[str, tuple[float, float]] = {
    "digits": (0.1 * 31 / 15, 1.0),
}


def _resolve_warmup(options: dict[str, Any], resolved: dict[str, Any]) -> None:
    """No reconstruction warm-up for a run without the reconstruction terms, unless asked."""
    if options.get("pretrain_epochs") is not None:
        resolved["pretrain_epochs_source"] = "given"
    elif "rec" not in {t.strip() for t in str(resolved.get("losses", "rec")).split("+")}:
        resolved["pretrain_epochs"] = 0
        resolved["pretrain_epochs_source"] = (
            "0: the losses leave out reconstruction, the warm-up's only objective"
        )
    else:
        resolved["pretrain_epochs_source"] = "the scale's"


def table_dataset(dataset: str) -> str | None:
    """The row of the paper's tables a data set uses: itself, or its prefix (cub-mini64 → cub)."""
    known = {"awa2", "cub", "cifar10"}
    if dataset in known:
        return dataset
    prefix = dataset.split("-", 1)[0]
    return prefix if prefix in known else None


def paper_family(dataset: str, family: str = "") -> str | None:
    """The paper row a data set follows: its declared ``family``, else one inferred from its
    name (:func:`table_dataset`), else None."""
    return family or table_dataset(dataset)


def paper_alpha_beta(dataset: str, bits: int) -> tuple[float, float] | None:
    """Table VIII's (α, β) for ``dataset`` (a paper data set's name, or one that starts
    ``<name>-``) at the nearest tabulated code length, or None.

    A code length halfway between two tabulated ones takes the shorter (36 → 24 bits).
    """
    name = table_dataset(dataset)
    if name is None:
        return None
    text = resources.files("plugins.razh").joinpath("paper_alpha_beta.csv").read_text()
    rows = [row for row in csv.DictReader(text.splitlines()) if row["dataset"] == name]
    if not rows:
        return None
    row = min(rows, key=lambda r: (abs(int(r["bits"]) - bits), int(r["bits"])))
    return float(row["alpha"]), float(row["beta"])


def default_clusters(dataset: str, bits: int, num_patches: int) -> int:
    """K': 9 as in the paper's figures (AWA2: 25 at 64/128 bits), at most a quarter of the
    patches (4 of the CPU scale's 16: clusters of a single patch would make RAZH RAZH-C)."""
    wanted = 25 if table_dataset(dataset) == "awa2" and bits >= 64 else 9
    return max(1, min(wanted, num_patches // 4))


def default_threshold(bits: int) -> float:
    """The authors' replacement threshold: 0.1 up to 48 bits, 0.2 above."""
    return 0.1 if bits <= 48 else 0.2


def method_defaults(scale: str, dataset: str, bits: int, family: str = "") -> dict[str, Any]:
    """RAZH's per-scale defaults for this data set and code length (before the engine's)."""
    if scale == "paper":
        defaults = dict(RAZH_PAPER)
        defaults.update(PAPER_DATASET.get(paper_family(dataset, family) or "", {}))
        if paper_family(dataset, family) == "awa2" and bits >= 64:
            defaults["epochs"] = 50
        return defaults
    return dict(RAZH_CPU)


def loss_weights(dataset: str, bits: int, family: str = "") -> tuple[float, float, str]:
    """(α, β, why): the rule of this module's docstring, steps 2-5, with the reason in words."""
    if family:
        table = paper_alpha_beta(family, bits)
        if table is not None:
            return (*table, f"Table VIII's {family} row ({dataset}'s paper_family)")
        return 1.0, 1.0, f"α = β = 1: paper_family {family!r} has no row in Table VIII"
    table = paper_alpha_beta(dataset, bits)
    if table is not None:
        row = table_dataset(dataset)
        how = "its name" if row == dataset else f"its name's prefix {row!r}"
        return (*table, f"Table VIII's {row} row, inferred from {how} (no paper_family)")
    if dataset in VALIDATED_ALPHA_BETA:
        return (*VALIDATED_ALPHA_BETA[dataset], f"chosen on {dataset}'s seen-class validation")
    return (
        1.0,
        1.0,
        (
            f"α = β = 1: {dataset!r} names no paper row and its data-set file sets no paper_family "
            '(e.g. paper_family = "cub" to use Table VIII\'s CUB weights)'
        ),
    )


def scale_words() -> dict[str, dict[str, str]]:
    """RAZH's data-set and code-length dependent defaults in words, per scale, for ``zshbench
    info`` (built from the tables above, so they say what :func:`resolve` does)."""
    digits_alpha, digits_beta = VALIDATED_ALPHA_BETA["digits"]

    def per_dataset(key: str) -> str:
        values = [f"{name} {v[key]}" for name, v in PAPER_DATASET.items()]
        if key == "epochs":
            values[0] += " (50 at 64 bits and more)"
        return f"per data set: {', '.join(values)}, otherwise {scales.PAPER[key]}"

    def weight(digits: float) -> str:
        return (
            "per data set and code length: Table VIII for awa2, cub, cifar10 (or the data "
            f"set's paper_family), digits {digits:.4g}, otherwise 1"
        )

    both = {
        "alpha": weight(digits_alpha),
        "beta": weight(digits_beta),
        "clusters": "9 (awa2: 25 at 64 bits and more), at most a quarter of the patches",
    }
    cpu = {
        "replace_ratio": str(CPU_REPLACE_RATIO),
        "threshold": "none (replace_ratio is used)",
        "pretrain_epochs": f"{RAZH_CPU['pretrain_epochs']} (0 when losses leave out rec)",
        "clusters": "4: a quarter of the 4×4 token grid",
    }
    paper = {key: per_dataset(key) for key in ("lr", "weight_decay", "epochs")}
    paper["threshold"] = "0.1 up to 48 bits, 0.2 above"
    paper["replace_ratio"] = "none (threshold is used)"
    return {"cpu": {**both, **cpu}, "paper": {**both, **paper}}


def resolve(
    options: dict[str, Any], dataset: str, bits: int, native_size: int | None, family: str = ""
) -> dict:
    """Fill every None option from the scale, the data set (and its ``family``) and the code
    length; ``alpha_beta_source`` and ``pretrain_epochs_source`` say where those came from."""
    scale = options["scale"]
    defaults = method_defaults(scale, dataset, bits, family)
    resolved = scales.resolve(options, defaults, dataset, native_size)
    alpha, beta, source = loss_weights(dataset, bits, family)
    given = [k for k in ("alpha", "beta") if options.get(k) is not None]
    if given:
        source = f"{' and '.join(given)} given; otherwise {source}"
    resolved["alpha"] = alpha if options.get("alpha") is None else options["alpha"]
    resolved["beta"] = beta if options.get("beta") is None else options["beta"]
    resolved["alpha_beta_source"] = source
    _resolve_warmup(options, resolved)
    if resolved.get("threshold") is None and resolved.get("replace_ratio") is None:
        if scale == "paper":
            resolved["threshold"] = default_threshold(bits)
        else:
            resolved["replace_ratio"] = CPU_REPLACE_RATIO
    num_patches = (int(resolved["img_size"]) // int(resolved["patch_size"])) ** 2
    if resolved.get("clusters") is None:
        resolved["clusters"] = default_clusters(dataset, bits, num_patches)
    return resolved
