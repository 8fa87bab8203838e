"""DRMH: L. Peng, J. Qian, Z. Xu, Y. Xin and L. Guo, "Multi-Label Hashing for Dependency
Relations among Multiple Objectives", IEEE TIP 32, 2023, pp. 1759–1773 (the RAZH paper's
reference [39]); the authors' code (github.com/plk-t/DRMH: ``model/model.py``,
``model/self_attention.py``, ``loss/loss.py``, ``train.py``) settles what the text leaves open.

DRMH hashes an image from its objects: an object detection network gives object regions, each
region's visual feature is fused with its position feature, a self-attention layer captures the
dependency relations among the objects, and a weighted pairwise hash loss puts more weight on
the hard pairs. As in the authors' code:

* tokens: ``(W_r r_k + W_b box_k) / 2`` for every region k (detector feature r_k, box in [0, 1]);
* self-attention (their ``SingleAttention``): c = W e, ``softmax(c cᵀ / √d) c``; mean over the
  tokens; hash layer ``h = tanh(W_h · + o)``; a linear classifier on h;
* loss (:func:`drmh_loss`): ``α·BCE(σ(classifier(h)), y) + β₁·L_hash + β·L_quant`` with
  α = 1, β₁ = 0.01, β = 1e-4 (their defaults);
* L_hash (:func:`weighted_pair_loss`): mean over pairs i ≠ j of
  ``w_ij · ((h_iᵀh_j + K)/2 − s_ij·K)²``, s_ij the cosine of the label vectors and the pair's
  weight ``w_ij = |s_ij − (1 + cos(h_i, h_j))/2|`` (no gradient): large for hard pairs (codes
  that disagree with the labels), small for pairs already right;
* L_quant (:func:`exponential_quantisation_loss`): mean over all pairs of
  ``exp(|h_iᵀh_j − b_iᵀb_j| / K)``, b = sgn(h).

On the shared engine, and where the benchmark forces a choice:

* The detector is torchvision's Faster R-CNN (:mod:`plugins.deephash.detector`), frozen, run once
  per image (cached), with the whole image as region 0 and the top-scoring detections after it;
  its box-head feature is r_k. The authors feed pre-extracted bottom-up-attention features
  (27 regions of 2048-d); ``regions`` is 27 at paper scale and 10 at CPU scale, where the
  detector sees the images at 64 px (``detector_size``) with 100 proposals (``proposals``).
* The engine's backbone (the same encoder as RAZH) adds one token, the pooled image feature
  fused with the whole-image box: the "global features" the RAZH paper says DRMH fuses with the
  objects' location features. Training augmentation applies to this token; the regions are the
  unaugmented image's.
* The detector's weights saw detection class labels (torchvision's are COCO's, whose classes
  overlap AWA2's and CUB's unseen ones: bird, zebra, ...). The record flags this; a strict
  zero-shot comparison would need a detector trained without those classes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from plugins.deep.backbones import build_backbone
from plugins.deep.engine import Batch, Objective, Session
from plugins.deep.images import Normalizer
from plugins.deep.method import DeepHashingMethod
from zshbench.errors import ZshbenchError
from zshbench.method import ImageView, RunContext, TrainData

from .detector import (
    RegionExtractor,
    detector_record,
    detector_weights_file,
    image_key,
    load_detector,
)
from .label_similarity import cosine_label_similarity, label_rows
from .options import COMPOSED_DETECTOR, COMPOSED_DETECTOR_BACKBONES, DRMH_OPTIONS
from .region_cache import cached_regions

# training images per detector batch: at 800 px a ResNet-50 FPN's maps of 32 images take a few
# GB; more gains little once the GPU is busy
DETECT_BATCH = 32


def weighted_pair_loss(h: torch.Tensor, similarity: torch.Tensor) -> torch.Tensor:
    """Mean over pairs i ≠ j of w_ij·((h_iᵀh_j + K)/2 − s_ij·K)², w_ij = |s_ij − (1 + cos)/2|."""
    h = h.float()
    bits = h.shape[1]
    with torch.no_grad():
        cosine = F.normalize(h, dim=1) @ F.normalize(h, dim=1).T
        weight = (similarity - (1.0 + cosine) / 2.0).abs()
    terms = weight * ((h @ h.T + bits) / 2.0 - similarity * bits).pow(2)
    off = ~torch.eye(len(h), dtype=torch.bool, device=h.device)
    return terms[off].mean()


def exponential_quantisation_loss(h: torch.Tensor) -> torch.Tensor:
    """Mean over all pairs (i, j) of exp(|h_iᵀh_j − b_iᵀb_j| / K), b = sgn(h)."""
    h = h.float()
    b = torch.sign(h).detach()
    return torch.exp((h @ h.T - b @ b.T).abs() / h.shape[1]).mean()


def drmh_loss(
    h: torch.Tensor,
    logits: torch.Tensor,
    rows: torch.Tensor,
    cls_weight: float,
    hash_weight: float,
    quant_weight: float,
) -> dict[str, torch.Tensor]:
    """α·BCE + β₁·L_hash + β·L_quant and its terms (``rows``: multi-hot labels)."""
    parts = {
        "cls": F.binary_cross_entropy_with_logits(logits.float(), rows),
        "hash": weighted_pair_loss(h, cosine_label_similarity(rows, rows)),
        "quant": exponential_quantisation_loss(h),
    }
    parts["loss"] = (
        cls_weight * parts["cls"] + hash_weight * parts["hash"] + quant_weight * parts["quant"]
    )
    return parts


class SingleAttention(nn.Module):
    """c = W e; softmax(c cᵀ / √d) c over the valid tokens (the authors' ``SingleAttention``)."""

    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Linear(dim, dim)
        self.scale = 1.0 / math.sqrt(dim)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        c = self.weight(tokens)
        scores = (c @ c.transpose(1, 2)) * self.scale
        scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        return scores.softmax(dim=-1) @ c


class DRMHNetwork(nn.Module):
    """Backbone token + detected-region tokens → self-attention → mean → tanh hash layer."""

    def __init__(
        self,
        encoder: nn.Module,
        bits: int,
        num_classes: int,
        extractor: RegionExtractor,
        normalizer: Normalizer,
    ):
        super().__init__()
        dim = int(encoder.embed_dim)
        self.encoder = encoder
        self.bits = int(bits)
        self.region_projection = nn.Linear(extractor.feature_dim, dim)
        self.box_projection = nn.Linear(4, dim)
        self.attention = SingleAttention(dim)
        self.hash_layer = nn.Linear(dim, self.bits)
        self.classifier = nn.Linear(self.bits, num_classes)
        self._extractor = [extractor]  # a list: the frozen detector is not part of this module
        self._normalizer = normalizer

    @property
    def extractor(self) -> RegionExtractor:
        return self._extractor[0]

    def regions(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Regions of normalised images (the detector sees them back in [0, 1])."""
        mean, std = (t.to(images.device) for t in (self._normalizer.mean, self._normalizer.std))
        images01 = (images.float() * std + mean).clamp(0.0, 1.0)
        return self.extractor(images01, [image_key(image) for image in images])

    def hash_from_regions(
        self,
        images: torch.Tensor,
        features: torch.Tensor,
        boxes: torch.Tensor,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        pooled = self.encoder.forward_features(images).mean(dim=1)
        whole = torch.tensor([0.0, 0.0, 1.0, 1.0], device=images.device)
        global_token = (pooled + self.box_projection(whole)) / 2.0
        region_tokens = (self.region_projection(features) + self.box_projection(boxes)) / 2.0
        tokens = torch.cat([global_token[:, None], region_tokens.to(global_token.dtype)], dim=1)
        valid = torch.cat([torch.ones_like(mask[:, :1]), mask], dim=1)
        attended = self.attention(tokens, valid)
        weights = valid.to(attended.dtype)[..., None]
        mean = (attended * weights).sum(dim=1) / weights.sum(dim=1)
        return torch.tanh(self.hash_layer(mean))

    def hash_images(self, images: torch.Tensor) -> torch.Tensor:
        return self.hash_from_regions(images, *self.regions(images))

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        return self.classifier(h)


class DRMHObjective(Objective):
    """drmh_loss on a batch, with each training image's regions looked up by its position."""

    def __init__(
        self,
        network: DRMHNetwork,
        num_classes: int,
        cls_weight: float,
        hash_weight: float,
        quant_weight: float,
    ):
        super().__init__(network)
        self.num_classes = int(num_classes)
        self.weights = (float(cls_weight), float(hash_weight), float(quant_weight))
        self.training_regions: tuple[torch.Tensor, ...] | None = None
        # (weights file, detector settings): the key of the regions' disk cache; None: no cache
        self.region_source: tuple[Path, dict] | None = None

    def start_epoch(self, session: Session) -> None:
        """Detect the training images once, in batches, or read their regions from the disk
        cache (:mod:`plugins.deephash.region_cache`); the extractor's memory cache then serves
        later phases and the training-accuracy pass."""
        if self.training_regions is not None:
            return
        if self.region_source is None:
            self.training_regions = self._detect_all(session)
            return
        weights, settings = self.region_source
        log = session.context.progress.log
        regions, cached = cached_regions(
            weights, settings, session.images, lambda: self._detect_all(session), log
        )
        if cached:
            self._remember(session, regions)
        self.training_regions = regions

    def _batches(self, session: Session):
        for start in range(0, len(session.images), DETECT_BATCH):
            chunk = session.images[start : start + DETECT_BATCH]
            yield start, session.normalizer(chunk, session.context.device)

    def _detect_all(self, session: Session) -> tuple[torch.Tensor, ...]:
        parts, count = [], len(session.images)
        with session.context.progress.task(f"drmh: detect {count} images", total=count) as advance:
            for _start, x in self._batches(session):
                parts.append(tuple(t.cpu() for t in self.network.regions(x)))
                advance(len(x))
        return tuple(torch.cat(chunk) for chunk in zip(*parts, strict=True))

    def _remember(self, session: Session, regions: tuple[torch.Tensor, ...]) -> None:
        """Put regions read from disk in the extractor's memory cache, under the keys its
        lookups use (the normalised images' digests)."""
        extractor = self.network.extractor
        if not extractor.caching:
            return
        for start, x in self._batches(session):
            for i, image in enumerate(x):
                extractor.cache[image_key(image)] = tuple(part[start + i] for part in regions)

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        net = self.network
        device = batch.images.device
        features, boxes, mask = (t[batch.index].to(device) for t in self.training_regions)
        h = net.hash_from_regions(batch.images, features, boxes, mask)
        rows = label_rows(batch.labels, self.num_classes)
        return drmh_loss(h, net.logits(h), rows, *self.weights)


class DRMH(DeepHashingMethod):
    """DRMH on the shared engine (see the module docstring).

    Options besides the engine's: ``detector`` (a torchvision Faster R-CNN builder, default
    fasterrcnn_resnet50_fpn, or ``fasterrcnn`` with ``detector_backbone``),
    ``detector_weights`` (PATH or ``hub``; required), ``regions`` (whole image + detections;
    10 at CPU scale, 27 at paper scale), ``detector_size`` (the detector's input side; 64 / 800),
    ``proposals`` (RPN proposals kept; 100 / 1000), ``cls_weight`` (α, 1), ``hash_weight``
    (β₁, 0.01), ``quant_weight`` (β, 1e-4).
    """

    method_name: ClassVar[str] = "drmh"
    default_options: ClassVar[dict[str, Any]] = dict(DRMH_OPTIONS)
    scale_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        # threads: torch's default; the ResNet-50 detector's convolutions use every core
        "cpu": {"regions": 10, "detector_size": 64, "proposals": 100, "threads": None},
        "paper": {"regions": 27, "detector_size": 800, "proposals": 1000},
    }

    def check_options(self) -> None:
        super().check_options()
        o = self.options
        if o["detector"] == COMPOSED_DETECTOR and o["detector_backbone"] is None:
            raise ZshbenchError(
                f"drmh: detector=fasterrcnn needs detector_backbone, one of "
                f"{', '.join(COMPOSED_DETECTOR_BACKBONES)}"
            )
        self.detector_file_ = detector_weights_file(o["detector"], o["detector_weights"])

    def prepare(self, settings: dict[str, Any], data: TrainData, context: RunContext) -> None:
        detector = load_detector(
            settings["detector"], settings["detector_backbone"], self.detector_file_
        )
        self.extractor_ = RegionExtractor(
            detector,
            int(settings["regions"]),
            int(settings["detector_size"]),
            int(settings["proposals"]),
        )
        context.progress.log(f"warning: drmh: {self._supervision_warning()}")

    def _supervision_warning(self) -> str:
        return (
            f"object-detector weights from {Path(self.detector_file_).name}: detectors are "
            "trained with object class labels (torchvision's on COCO, whose classes overlap "
            "unseen classes of AWA2 and CUB), so this is not a strict zero-shot result"
        )

    def build_network(
        self, settings: dict[str, Any], data: TrainData, context: RunContext
    ) -> tuple[nn.Module, Normalizer]:
        encoder, mean, std = build_backbone(settings)
        normalizer = Normalizer(mean, std)
        network = DRMHNetwork(encoder, self.bits, data.num_classes, self.extractor_, normalizer)
        return network, normalizer

    def build_objective(
        self, network: nn.Module, settings: dict[str, Any], data: TrainData, num_images: int
    ) -> Objective:
        objective = DRMHObjective(
            network,
            data.num_classes,
            float(settings["cls_weight"]),
            float(settings["hash_weight"]),
            float(settings["quant_weight"]),
        )
        detector = ("detector", "detector_backbone", "regions", "detector_size", "proposals")
        objective.region_source = (
            Path(self.detector_file_),
            {k: settings[k] for k in (*detector, "img_size")},
        )
        return objective

    def encode(self, images: ImageView, context: RunContext) -> Any:
        """Test images are detected once each; they are not kept in the region cache."""
        self.extractor_.caching = False
        try:
            return super().encode(images, context)
        finally:
            self.extractor_.caching = True

    def _training_record(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        record = super()._training_record(*args, **kwargs)
        settings = self.settings_
        record["detector"] = detector_record(
            settings["detector"], settings["detector_backbone"], self.detector_file_, settings
        )
        # during fit: training images once, validation images once (test images come later)
        record["detector"]["images_detected"] = self.extractor_.detected
        record["detector"]["detection_s"] = round(self.extractor_.seconds, 3)
        record.setdefault("warnings", []).append(self._supervision_warning())
        return record
