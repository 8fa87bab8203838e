"""The embedded default: scikit-learn's real UCI handwritten digits, with part attributes.

``sklearn.datasets.load_digits`` ships 1,797 real 8×8 handwritten digits (Alpaydin & Kaynak,
UCI "Optical Recognition of Handwritten Digits"), so zshbench runs end to end on a fresh
install with no download. Pixel values 0..16 are scaled to 0..255 ``uint8``, shape (N, 8, 8, 1).

Each digit class is described by *part* attributes — which strokes and loops make it up — which
is exactly the part-level attribute situation RAZH is built for (a bird's "bill shape", an
animal's "stripes"):

- the seven segments of a seven-segment display, in the standard encoding (the common glyphs:
  6 with its top bar, 7 as the top bar and the two right segments, 9 with its bottom bar; the
  bottom of a handwritten 9 in this data set indeed curls into a bottom stroke);
- loop, stroke and crossing parts that describe how the digits are *handwritten* in this data
  set (looked at in the images): e.g. the slanted left stroke of 4 and its crossbar sticking out
  past the stem, and the crossbar most writers here put through the stem of 7.

The matrix is binary (0/1); ``class_attributes`` and ``binary_class_attributes`` hold the same
values.
"""

from __future__ import annotations

import os

import numpy as np

from ..base import ArrayImageSource, ImageSet

CLASS_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

# The seven segments, display letters a..g in brackets.
SEGMENTS = [
    "top horizontal bar",  # a
    "upper right vertical stroke",  # b
    "lower right vertical stroke",  # c
    "bottom horizontal bar",  # d
    "lower left vertical stroke",  # e
    "upper left vertical stroke",  # f
    "middle horizontal bar",  # g
]

STROKE_PARTS = [
    "has a closed loop",
    "has two closed loops",
    "has a closed loop in the upper half",
    "has a closed loop in the lower half",
    "is one closed loop over its full height",
    "has a long diagonal stroke",
    "has a curved stroke",
    "has a straight vertical stem",
    "has an open bowl",
    "has strokes that cross",
]

ATTRIBUTE_NAMES = SEGMENTS + STROKE_PARTS

# fmt: off
# Columns: a b c d e f g | loop, two loops, loop upper, loop lower, full-height loop,
#          long diagonal, curve, vertical stem, open bowl, crossing strokes
DIGIT_ATTRIBUTES = np.array([
    # a  b  c  d  e  f  g    lp 2l up lo fh  dg cv st bw cr
    # 0: oval; one loop over the full height, no middle bar
    [1, 1, 1, 1, 1, 1, 0,   1, 0, 0, 0, 1,  0, 1, 0, 0, 0],
    # 1: a straight stem on the right segments; the short flag is not a long diagonal
    [0, 1, 1, 0, 0, 0, 0,   0, 0, 0, 0, 0,  0, 0, 1, 0, 0],
    # 2: curved top (bowl open to the lower left), diagonal down to a flat base
    [1, 1, 0, 1, 1, 0, 1,   0, 0, 0, 0, 0,  1, 1, 0, 1, 0],
    # 3: two bowls open to the left, no loop
    [1, 1, 1, 1, 0, 0, 1,   0, 0, 0, 0, 0,  0, 1, 0, 1, 0],
    # 4: open top; slanted left stroke, crossbar through the vertical stem
    [0, 1, 1, 0, 0, 1, 1,   0, 0, 0, 0, 0,  1, 0, 1, 0, 1],
    # 5: top bar, upper left stroke, lower bowl open to the left
    [1, 0, 1, 1, 0, 1, 1,   0, 0, 0, 0, 0,  0, 1, 0, 1, 0],
    # 6: curved stem down the left into a closed loop at the bottom
    [1, 0, 1, 1, 1, 1, 1,   1, 0, 0, 1, 0,  0, 1, 0, 0, 0],
    # 7: top bar and a diagonal stem, crossed by a bar in this data set
    [1, 1, 1, 0, 0, 0, 0,   0, 0, 0, 0, 0,  1, 0, 0, 0, 1],
    # 8: all seven segments; two stacked loops whose strokes cross in the middle
    [1, 1, 1, 1, 1, 1, 1,   1, 1, 1, 1, 0,  0, 1, 0, 0, 1],
    # 9: closed loop on top, straight stem on the right curling into a bottom stroke
    [1, 1, 1, 1, 0, 1, 1,   1, 0, 1, 0, 0,  0, 1, 1, 0, 0],
], dtype=np.int64)
# fmt: on


def load(root: str | os.PathLike[str] | None = None) -> ImageSet:
    """The 1,797 digits with ids ``digits-0000``..; ``root`` is ignored (the data is embedded)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pixels = np.asarray(bunch.images, dtype=np.float64)  # (N, 8, 8), 0..16
    images = np.clip(np.rint(pixels * (255.0 / 16.0)), 0, 255).astype(np.uint8)[..., None]
    labels = np.asarray(bunch.target, dtype=np.int64)
    ids = np.asarray([f"digits-{i:04d}" for i in range(len(labels))])
    return ImageSet(
        name="digits",
        image_ids=ids,
        labels=labels,
        class_names=list(CLASS_NAMES),
        images=ArrayImageSource(np.ascontiguousarray(images)),
        attribute_names=list(ATTRIBUTE_NAMES),
        class_attributes=DIGIT_ATTRIBUTES.astype(np.float32),
        binary_class_attributes=DIGIT_ATTRIBUTES.copy(),
        standard_unseen_classes=None,
    )
