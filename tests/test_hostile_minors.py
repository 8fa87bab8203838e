"""Issue 16 minors: unranged extractor options, a deeply nested -o value, zip name clashes and
a zeroed cnn-extractor cache file (each one line, or rebuilt, never silent)."""

from __future__ import annotations

import stat
import zipfile

import pytest
import torch
from test_cnn_extractor import TINY, Logs, blobs  # noqa: F401 - blobs is a fixture

from plugins.features.cnn_extractor import SeenClassCNNExtractor
from zshbench.archives import unpack
from zshbench.errors import DatasetError, ZshbenchError
from zshbench.method import RunContext
from zshbench.options import parse_pairs


@pytest.mark.parametrize("options", [{"width": 0}, {"dim": -1}, {"grid": 0}, {"epochs": -1}])
def test_cnn_extractor_options_out_of_range_are_one_line(options):
    """Minor: width=0 or dim=-1 gave a torch traceback instead of one line."""
    with pytest.raises(ZshbenchError) as info:
        SeenClassCNNExtractor(**options)
    assert "\n" not in str(info.value) and next(iter(options)) in str(info.value)


def test_a_deeply_nested_option_value_is_one_line():
    """Minor: a 50,000-deep JSON -o value raised RecursionError."""
    with pytest.raises(ZshbenchError, match="nested too deeply"):
        parse_pairs(("a=" + "[" * 50000 + "]" * 50000,), "-o")


@pytest.mark.parametrize("case", ["symlink", "file-then-folder"])
def test_zip_name_clashes_are_an_archive_error(tmp_path, case):
    """Minor: a duplicate name gave an OS error ending 'finished records are kept'."""
    archive = tmp_path / "dup.zip"
    with (
        pytest.warns(UserWarning) if case == "symlink" else _nothing(),
        zipfile.ZipFile(archive, "w") as zf,
    ):
        if case == "symlink":
            for _ in range(2):
                info = zipfile.ZipInfo("l")
                info.create_system, info.external_attr = 3, (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, "ok.txt")
        else:
            zf.writestr("a", "x")
            zf.writestr("a/b", "y")
    with pytest.raises(DatasetError, match="appears twice") as info:
        unpack(archive, tmp_path / "out", "zip")
    assert "finished records" not in str(info.value)


def _nothing():
    import contextlib

    return contextlib.nullcontext()


def test_a_zeroed_cache_file_is_not_used_and_overwrite_rebuilds(blobs, tmp_path, one_torch_thread):  # noqa: F811
    """Minor: a valid but zeroed cache file was used silently, even under --overwrite."""
    cache = tmp_path / "cache"
    first = SeenClassCNNExtractor(**TINY)
    first.fit(blobs["train"], RunContext(seed=0, cache_dir=cache))
    (path,) = cache.glob("cnn-*.pt")
    assert first.cache_note() == {"file": path.name, "loaded": False, "sha256": first._cache_digest}
    state = torch.load(path, weights_only=True)
    for part in ("body", "head"):
        state[part] = {k: torch.zeros_like(v) for k, v in state[part].items()}
    torch.save(state, path)  # well-formed, the old checksum: content no longer matches it
    logs = Logs()
    again = SeenClassCNNExtractor(**TINY)
    again.fit(blobs["train"], RunContext(seed=0, cache_dir=cache, progress=logs))
    assert not again.loaded_from_cache_
    assert any("does not match its key and checksum" in line for line in logs.lines)
    # a file that verifies is used, except under --overwrite, which rebuilds it (once)
    logs = Logs()
    rebuilt = SeenClassCNNExtractor(**TINY)
    rebuilt.fit(blobs["train"], RunContext(seed=0, cache_dir=cache, progress=logs, overwrite=True))
    assert not rebuilt.loaded_from_cache_ and any("rebuilding" in line for line in logs.lines)
    reused = SeenClassCNNExtractor(**TINY)
    reused.fit(blobs["train"], RunContext(seed=0, cache_dir=cache, overwrite=True))
    assert reused.loaded_from_cache_ and reused.cache_note()["loaded"] is True
