"""The decoded image cache and the device-side augmentation, checked against Pillow and
torchvision's own transforms (independent references), on real JPEG files written here."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from plugins.deep.augment import Augmentation  # noqa: E402
from plugins.deep.images import images_to_uint8, load_view, view_batches  # noqa: E402
from zshbench.datasets import image_cache  # noqa: E402
from zshbench.datasets.base import FileImageSource  # noqa: E402
from zshbench.errors import DatasetError  # noqa: E402
from zshbench.method import ImageView, RunContext  # noqa: E402


def write_jpegs(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """Smooth random colour images of varied sizes (one grey) saved as JPEG."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        h, w = int(rng.integers(40, 90)), int(rng.integers(40, 90))
        small = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((w, h), Image.Resampling.BILINEAR)
        if i == 1:
            image = image.convert("L")
        path = folder / f"img_{i:02d}.jpg"
        image.save(path, quality=92)
        paths.append(path)
    return paths


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(image_cache.CACHE_ENV, str(folder))
    return folder


def pil_reference(path: Path, size: int) -> np.ndarray:
    """(3, size, size) by Pillow alone: decode, RGB, bicubic resize."""
    with Image.open(path) as image:
        resized = image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(resized).transpose(2, 0, 1)


def build(paths, size, logs=None):
    source = FileImageSource(paths)
    return image_cache.open_cache(
        source.paths, size, lambda images: images_to_uint8(images, size).numpy(),
        source.load_many, None, None if logs is None else logs.append,
    )  # fmt: skip


def test_cached_rows_and_crops_match_pillow(tmp_path, cache_dir):
    paths = write_jpegs(tmp_path, 5)
    size = 48
    cache = build(paths, size)
    assert cache.info.built and cache.array.shape == (5, 3, size, size)
    for i, path in enumerate(paths):
        reference = pil_reference(path, size).astype(int)
        assert np.abs(cache.array[i].astype(int) - reference).max() <= 1
    # a random resized crop applied to the cached tensor == Pillow's crop of the same box
    torch.manual_seed(5)
    augmentation = Augmentation("rrc+flip", 32)
    images = torch.from_numpy(np.asarray(cache.array))
    draws = augmentation.draw(len(images), size, size)
    out = augmentation.apply(images, draws).numpy().astype(int)
    for i, draw in enumerate(draws):
        top, left, height, width = draw.box
        pil = Image.fromarray(np.asarray(cache.array[i]).transpose(1, 2, 0))
        box = (left, top, left + width, top + height)
        crop = pil.crop(box).resize((32, 32), Image.Resampling.BILINEAR)
        if draw.flip:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        assert np.abs(out[i] - np.asarray(crop).transpose(2, 0, 1).astype(int)).max() <= 1


@pytest.mark.parametrize("name", ["rrc+flip", "crop+flip", "crop", "flip"])
def test_seeded_augmentation_reproduces_todays_transforms(name):
    """Same seed, same crops; and the very crops torchvision's v2 transforms give per image."""
    from torchvision.transforms import v2

    generator = torch.Generator().manual_seed(1)
    batch = torch.randint(0, 256, (6, 3, 16, 16), dtype=torch.uint8, generator=generator)
    augmentation = Augmentation(name, 16)
    torch.manual_seed(11)
    first = augmentation(batch)
    torch.manual_seed(11)
    second = augmentation(batch)
    assert torch.equal(first, second)
    steps = []
    if name.startswith("crop"):
        steps.append(v2.RandomCrop(16, padding=2, padding_mode="edge"))
    if name.startswith("rrc"):
        steps.append(v2.RandomResizedCrop(16, scale=(0.2, 1.0), antialias=True))
    if name.endswith("flip"):
        steps.append(v2.RandomHorizontalFlip())
    transform = v2.Compose(steps)
    torch.manual_seed(11)
    reference = torch.stack([transform(image) for image in batch])
    assert torch.equal(first, reference)
    torch.manual_seed(12)
    assert not torch.equal(augmentation(batch), first)


def test_changed_file_list_or_file_rebuilds(tmp_path, cache_dir):
    paths = write_jpegs(tmp_path, 6)
    first = build(paths[:4], 24)
    assert first.info.built
    again = build(paths[:4], 24)
    assert not again.info.built and again.info.key == first.info.key
    longer = build(paths[:5], 24)
    assert longer.info.built and longer.info.key != first.info.key and len(longer) == 5
    other_size = build(paths[:4], 20)
    assert other_size.info.built and other_size.array.shape[-1] == 20
    # a file replaced in place (new bytes, new mtime) is another image list
    old_row = np.array(first.array[0])
    Image.open(paths[5]).save(paths[0])
    stamp = os.stat(paths[0]).st_mtime_ns + 10**9
    os.utime(paths[0], ns=(stamp, stamp))
    replaced = build(paths[:4], 24)
    assert replaced.info.built and replaced.info.key != first.info.key
    assert np.abs(replaced.array[0].astype(int) - pil_reference(paths[0], 24)).max() <= 1
    assert np.abs(replaced.array[0].astype(int) - old_row).max() > 10


def test_truncated_or_foreign_cache_is_rebuilt_with_one_line(tmp_path, cache_dir):
    paths = write_jpegs(tmp_path, 3)
    cache = build(paths, 24)
    data = Path(cache.info.path)
    del cache
    with open(data, "r+b") as stream:
        stream.truncate(100)
    logs: list[str] = []
    rebuilt = build(paths, 24, logs)
    assert rebuilt.info.built and len(logs) == 1 and "truncated" in logs[0]
    assert np.abs(rebuilt.array[2].astype(int) - pil_reference(paths[2], 24)).max() <= 1
    sidecar = data.with_suffix(".json")
    sidecar.write_text(sidecar.read_text().replace(rebuilt.info.key, "0" * 64))
    logs.clear()
    assert build(paths, 24, logs).info.built
    assert len(logs) == 1 and "another image list" in logs[0]


def test_out_of_disk_is_one_line_and_leaves_nothing(tmp_path, cache_dir, monkeypatch):
    paths = write_jpegs(tmp_path, 3)

    def full(*_args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(image_cache.os, "posix_fallocate", full, raising=False)
    with pytest.raises(DatasetError) as raised:
        build(paths, 24)
    assert "no disk space" in str(raised.value) and "\n" not in str(raised.value)
    assert list(cache_dir.iterdir()) == []


def test_views_read_the_cache(tmp_path, cache_dir):
    paths = write_jpegs(tmp_path, 5)
    source = FileImageSource(paths)
    view = ImageView(source, [4, 0, 2])
    context = RunContext(device="cpu", seed=0)
    loaded = load_view(view, 24, context, "test")
    expected = np.stack([pil_reference(paths[i], 24) for i in (4, 0, 2)]).astype(int)
    assert np.abs(loaded.numpy().astype(int) - expected).max() <= 1
    batches = list(view_batches(view, 24, 2, context=context))
    assert [list(p) for p, _ in batches] == [[0, 1], [2]]
    assert torch.equal(torch.cat([b for _, b in batches]), loaded)
    assert len(list(cache_dir.glob("*.u8"))) == 1  # one cache per data set and size


def test_cache_off_decodes_in_memory(tmp_path, monkeypatch):
    monkeypatch.setenv(image_cache.CACHE_ENV, "off")
    paths = write_jpegs(tmp_path, 2)
    assert build(paths, 24) is None
    loaded = load_view(ImageView(FileImageSource(paths), [0, 1]), 24, RunContext(), "test")
    expected = np.stack([pil_reference(path, 24) for path in paths]).astype(int)
    assert np.abs(loaded.numpy().astype(int) - expected).max() <= 1
