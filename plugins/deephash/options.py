"""The deep baselines' options, declared without torch (``MethodSpec.options``), so ``run``
checks ``-o`` values before torch is imported: ``-o lam=-1`` is one line within a second.

Each class takes a copy of its table here as its ``default_options`` (``CSQ`` of
``CSQ_OPTIONS``); the engine's shared options (epochs, backbone, weights, ...) open every table.
"""

from __future__ import annotations

from typing import Any

from plugins.deep import scales
from zshbench.options import Option

# DRMH's detectors: torchvision's Faster R-CNN builders, or one composed on a chosen backbone.
DETECTOR_BUILDERS = (
    "fasterrcnn_resnet50_fpn",
    "fasterrcnn_resnet50_fpn_v2",
    "fasterrcnn_mobilenet_v3_large_fpn",
    "fasterrcnn_mobilenet_v3_large_320_fpn",
)
COMPOSED_DETECTOR = "fasterrcnn"
COMPOSED_DETECTOR_BACKBONES = (
    "resnet18",
    "resnet34",
    "resnet50",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
)
SITNET_SEMANTICS = ("class-names", "attributes")

# The pair labels of ADSH and DDSH, an option both declare alike.
BALANCE = Option(True, help="S = +1 / −r as the authors' code (false: the paper's ±1)")


def quantisation_options(eta: float) -> dict[str, Option]:
    """The options of the quantisation term DPSH and DSDH share: its weight η (default ``eta``)
    and the training-set size η was set for (see ``plugins.deephash.dpsh.pair_normalisers``)."""
    return {
        "eta": Option(eta, minimum=0.0, help="quantisation weight η"),
        "reference_images": Option(
            5000, minimum=0, help="training-set size η was set for (0: the training set's)"
        ),
    }


def _with_engine(own: dict[str, Any]) -> dict[str, Any]:
    return {**scales.ENGINE_OPTIONS, **own}


ADSH_OPTIONS = _with_engine(
    {
        "num_samples": Option(2000, minimum=1, help="m, images of Ω per outer iteration"),
        "gamma": Option(200.0, minimum=0.0, help="γ, weight of Σ‖v_i − ũ_i‖²"),
        "inner_epochs": Option(3, minimum=1, help="epochs on Ω per outer iteration"),
        "balance": BALANCE,
    }
)
AMVH_OPTIONS = _with_engine(
    {
        "latent_dim": Option(32, minimum=1, help="width of the latent z"),
        "hidden": Option(128, minimum=1, help="width of the generator and discriminator"),
        "quant_weight": Option(0.1, minimum=0.0, help="weight of the quantisation loss"),
        "vae_weight": Option(1.0, minimum=0.0, help="weight of the variational loss"),
        "adv_weight": Option(0.1, minimum=0.0, help="weight of the adversarial loss"),
    }
)
CSQ_OPTIONS = _with_engine(
    {"lam": Option(0.05, minimum=0.0, help="weight λ of the quantisation loss")}
)
DCH_OPTIONS = _with_engine(
    {
        "gamma": Option(20.0, exclusive_minimum=0.0, help="Cauchy scale γ"),
        "lam": Option(0.1, minimum=0.0, help="weight λ of the Cauchy quantisation loss"),
    }
)
DDSH_OPTIONS = _with_engine(
    {
        "sample_columns": Option(100, minimum=1, help="|Ω|, columns of S sampled per round"),
        "rounds_per_sample": Option(3, minimum=1, help="discrete step + pass over Γ per Ω"),
        "balance": BALANCE,
    }
)
DPSH_OPTIONS = _with_engine(quantisation_options(10.0))
DRMH_OPTIONS = _with_engine(
    {
        "detector": Option(
            "fasterrcnn_resnet50_fpn",
            choices=(*DETECTOR_BUILDERS, COMPOSED_DETECTOR),
            help="Faster R-CNN builder",
        ),
        "detector_backbone": Option(
            None,
            kind="string",
            choices=COMPOSED_DETECTOR_BACKBONES,
            help="backbone of detector=fasterrcnn",
        ),
        "detector_weights": Option(None, kind="string", help="PATH or hub (required)"),
        "regions": Option(None, kind="integer", minimum=1, help="whole image + detections"),
        "detector_size": Option(None, kind="integer", minimum=1, help="detector's input side"),
        "proposals": Option(None, kind="integer", minimum=1, help="RPN proposals kept"),
        "cls_weight": Option(1.0, minimum=0.0, help="α, weight of the classification loss"),
        "hash_weight": Option(0.01, minimum=0.0, help="β₁, weight of the hashing loss"),
        "quant_weight": Option(1e-4, minimum=0.0, help="β, weight of the quantisation loss"),
    }
)
DSDH_OPTIONS = _with_engine(
    {
        "mu": Option(
            1.0, exclusive_minimum=0.0, help="weight μ of the codes' classification (divides)"
        ),
        "nu": Option(0.1, minimum=0.0, help="weight ν of ‖W‖²"),
        "dcc_iterations": Option(10, minimum=1, help="W- and B-step rounds per epoch"),
        **quantisation_options(55.0),
    }
)
DSH_OPTIONS = _with_engine(
    {
        "margin": Option(None, kind="number", minimum=0.0, help="m (null: 2 × bits)"),
        "alpha": Option(0.01, minimum=0.0, help="weight of the L1 pull towards ±1"),
    }
)
HASHNET_OPTIONS = _with_engine(
    {
        "alpha": Option(
            None, kind="number", exclusive_minimum=0.0, help="sigmoid parameter (null: 10/K)"
        ),
        "beta_gamma": Option(0.005, minimum=0.0, help="γ of β = (1 + γ t)^p"),
        "beta_power": Option(0.5, minimum=0.0, help="p of β = (1 + γ t)^p"),
        "beta_iterations": Option(
            10000.0, minimum=0.0, help="the steps T of β's curve, spread over the schedule"
        ),
    }
)
SITNET_OPTIONS = _with_engine(
    {
        "semantics": Option(
            "class-names", choices=SITNET_SEMANTICS, help="the class semantic vectors"
        ),
        "margin": Option(0.1, minimum=0.0, help="margin of the semantic ranking loss"),
        "center_weight": Option(1.0, minimum=0.0, help="α, weight of the center loss"),
        "separation_weight": Option(1.0, minimum=0.0, help="β, weight of the separation loss"),
    }
)
