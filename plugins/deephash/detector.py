"""Object regions for DRMH: a torchvision Faster R-CNN from a local file, run once per image.

DRMH needs an object detector's regions: their boxes and the detector's own feature of each box
(the authors pre-extract them once with a Faster R-CNN). Here the detector is torchvision's
(``torchvision.models.detection``):

* ``detector=<builder>``: one of torchvision's Faster R-CNN builders (``fasterrcnn_resnet50_fpn``
  by default, the kind of detector the paper uses) with its weights from a local file
  (``detector_weights=PATH``) or from torch's hub cache (``detector_weights=hub``:
  ``<torch hub dir>/checkpoints/<the builder's COCO file>``, e.g. what
  ``torchvision.models.detection.fasterrcnn_resnet50_fpn(weights="DEFAULT")`` stored there);
* ``detector=fasterrcnn`` with ``detector_backbone=<resnet18 | ... | mobilenet_v3_small>``: a
  Faster R-CNN assembled from torchvision's detection parts (FPN backbone, two-layer box head of
  the width the file says, box predictor), e.g. a small detector of one's own.

Files are read with ``torch.load(weights_only=True)`` (a state dict, optionally under "model");
nothing is ever downloaded: without weights DRMH refuses with one line.

:class:`RegionExtractor` runs the detector without gradients, keeps the whole image as region 0
and the top-scoring detections after it (``regions`` in all, padded and masked when fewer are
found), and caches the result by image content, so every training and validation image is
detected once per fit, not once per step or epoch.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zshbench.errors import ZshbenchError

from .options import COMPOSED_DETECTOR, DETECTOR_BUILDERS


def hub_weights_path(builder: str) -> Path:
    """Where torchvision keeps the builder's default (COCO) weights in torch's hub cache."""
    import torchvision

    url = torchvision.models.get_model_weights(builder).DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


def detector_weights_file(builder: str, weights: str | None) -> Path:
    """The local file with the detector's weights, or a one-line error saying how to give one."""
    if weights is None:
        where = hub_weights_path(builder) if builder in DETECTOR_BUILDERS else None
        raise ZshbenchError(
            "drmh needs object-detector weights and never downloads them",
            "Give --option detector_weights=PATH (a torchvision detection state dict)"
            + (f" or detector_weights=hub with {where} in place." if where else "."),
        )
    if weights == "hub":
        if builder not in DETECTOR_BUILDERS:
            raise ZshbenchError(
                "drmh: detector_weights=hub is for torchvision's builders "
                f"({', '.join(DETECTOR_BUILDERS)})"
            )
        path = hub_weights_path(builder)
        if not path.is_file():
            raise ZshbenchError(
                f"drmh: no {builder} weights in torch's hub cache ({path})",
                "Put the file there or give --option detector_weights=PATH.",
            )
        return path
    path = Path(weights).expanduser()
    if not path.is_file():
        raise ZshbenchError(f"drmh: detector weights file {path} does not exist")
    return path


def compose_faster_rcnn(backbone: str, num_classes: int, representation: int) -> nn.Module:
    """A Faster R-CNN from torchvision's parts: FPN backbone, two-layer box head, predictor."""
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import mobilenet_backbone, resnet_fpn_backbone
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead

    anchors = None
    if backbone.startswith("resnet"):
        body = resnet_fpn_backbone(backbone_name=backbone, weights=None, trainable_layers=5)
    else:  # mobilenet: two feature maps plus pooling, as torchvision's mobilenet builders
        body = mobilenet_backbone(backbone_name=backbone, weights=None, fpn=True)
        anchors = AnchorGenerator(((32, 64, 128, 256, 512),) * 3, ((0.5, 1.0, 2.0),) * 3)
    return FasterRCNN(
        body,
        num_classes=None,
        rpn_anchor_generator=anchors,
        box_head=TwoMLPHead(body.out_channels * 7 * 7, representation),
        box_predictor=FastRCNNPredictor(representation, num_classes),
    )


def load_detector(builder: str, backbone: str | None, path: Path) -> nn.Module:
    """The detector named by ``builder`` (and ``backbone``) with the weights in ``path``."""
    import torchvision

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same one line
        raise ZshbenchError(
            f"drmh: cannot read detector weights {path}: {type(error).__name__}: {error}"
        ) from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    try:
        num_classes = int(state["roi_heads.box_predictor.cls_score.weight"].shape[0])
        representation = int(state["roi_heads.box_head.fc6.weight"].shape[0])
    except (KeyError, TypeError, AttributeError):
        raise ZshbenchError(
            f"drmh: {path} is not a Faster R-CNN state dict (no roi_heads box predictor)"
        ) from None
    if builder == COMPOSED_DETECTOR:
        model = compose_faster_rcnn(str(backbone), num_classes, representation)
    else:
        model = getattr(torchvision.models.detection, builder)(
            weights=None, weights_backbone=None, num_classes=num_classes
        )
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise ZshbenchError(
            f"drmh: {path} does not fit detector {builder}"
            + (f" with backbone {backbone}" if builder == COMPOSED_DETECTOR else "")
            + f" ({first})"
        ) from None
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def image_key(image: torch.Tensor) -> bytes:
    """A digest of one image tensor's exact values (the cache key)."""
    return hashlib.blake2b(image.detach().cpu().numpy().tobytes(), digest_size=16).digest()


class RegionExtractor:
    """Detected regions of images: (features (B, R, F), boxes (B, R, 4) in [0, 1], mask (B, R)).

    Not an ``nn.Module`` on purpose: the frozen detector stays out of the hashing network's
    parameters and state (the engine copies the network's state at every validated epoch).
    """

    def __init__(self, detector: nn.Module, regions: int, size: int, proposals: int):
        if regions < 1:
            raise ZshbenchError("drmh: regions must be at least 1 (the whole image)")
        self.detector = detector
        self.regions = int(regions)
        transform = detector.transform
        transform.min_size, transform.max_size = (int(size),), int(size)
        detector.rpn._pre_nms_top_n = {"training": int(proposals), "testing": int(proposals)}
        detector.rpn._post_nms_top_n = {"training": int(proposals), "testing": int(proposals)}
        detector.roi_heads.score_thresh = 0.0  # the top detections, however unsure
        detector.roi_heads.detections_per_img = max(1, self.regions - 1)
        self.feature_dim = int(detector.roi_heads.box_predictor.cls_score.in_features)
        self.cache: dict[bytes, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self.caching = True
        self.detected = 0  # images run through the detector (the rest came from the cache)
        self.seconds = 0.0  # time spent detecting them

    @torch.no_grad()
    def __call__(
        self, images01: torch.Tensor, keys: list[bytes]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Regions of ``images01`` (B, 3, H, W) in [0, 1], cached under ``keys``."""
        missing = [i for i, key in enumerate(keys) if key not in self.cache]
        fresh = self._detect(images01[missing]) if missing else None
        out = []
        for i, key in enumerate(keys):
            if key in self.cache:
                out.append(self.cache[key])
                continue
            row = tuple(part[missing.index(i)] for part in fresh)
            if self.caching:
                self.cache[key] = row
            out.append(row)
        device = images01.device
        features, boxes, mask = (torch.stack(parts).to(device) for parts in zip(*out, strict=True))
        return features.float(), boxes, mask

    def _detect(self, images01: torch.Tensor) -> tuple[torch.Tensor, ...]:
        started = time.perf_counter()
        detector = self.detector
        device = images01.device
        if next(detector.parameters()).device != device:
            detector.to(device)
        with torch.autocast(device.type, enabled=False):
            batch, _ = detector.transform([image.float() for image in images01])
            maps = detector.backbone(batch.tensors)
            proposals, _ = detector.rpn(batch, maps)
            detections, _ = detector.roi_heads(maps, proposals, batch.image_sizes)
            boxes = []
            for found, (height, width) in zip(detections, batch.image_sizes, strict=True):
                whole = torch.tensor([[0.0, 0.0, width, height]], device=device)
                boxes.append(torch.cat([whole, found["boxes"][: self.regions - 1]]))
            pooled = detector.roi_heads.box_roi_pool(maps, boxes, batch.image_sizes)
            features = detector.roi_heads.box_head(pooled)
        self.detected += len(images01)
        count = len(images01)
        out_features = torch.zeros(count, self.regions, self.feature_dim, dtype=torch.float16)
        out_boxes = torch.zeros(count, self.regions, 4)
        out_mask = torch.zeros(count, self.regions, dtype=torch.bool)
        start = 0
        for i, (found, (height, width)) in enumerate(zip(boxes, batch.image_sizes, strict=True)):
            n = len(found)
            scale = torch.tensor([width, height, width, height], device=device, dtype=torch.float)
            out_features[i, :n] = features[start : start + n].to("cpu", torch.float16)
            out_boxes[i, :n] = (found / scale).clamp(0.0, 1.0).cpu()
            out_mask[i, :n] = True
            start += n
        self.seconds += time.perf_counter() - started
        return out_features, out_boxes, out_mask


def detector_record(builder: str, backbone: str | None, path: Path, settings: dict) -> dict:
    """What the record says about the detector (and what its weights may have seen)."""
    entry: dict[str, Any] = {
        "builder": builder,
        "weights": str(path),
        "regions": int(settings["regions"]),
        "size": int(settings["detector_size"]),
        "proposals": int(settings["proposals"]),
    }
    if builder == COMPOSED_DETECTOR:
        entry["backbone"] = backbone
    return entry
