"""``zshbench download`` over real HTTP on 127.0.0.1: full download, resume, checksums, server
errors, hostile archives, idempotence, and ``run --download``.

Every test runs the real client (urllib) against :class:`loopback.LoopbackServer`; the data
are tiny CIFAR-10 python batches in the real format, tarred as the publisher does.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run_zshbench
from loopback import LoopbackServer
from test_datasets_cifar10 import make_cifar

from datasets_registry import registry_files
from zshbench.datasets import load_dataset, resolve_root
from zshbench.datasets.spec_file import spec_from_toml
from zshbench.download.command import download, download_root, ensure_dataset, resources
from zshbench.download.transfer import Reporter
from zshbench.errors import DatasetError, ZshbenchError

QUIET = Reporter(quiet=True)
CIFAR_FILES = [
    "data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
    "test_batch", "batches.meta",
]  # fmt: skip
CHECK = [f"cifar-10-batches-py/{name}" for name in CIFAR_FILES]


@pytest.fixture(autouse=True)
def no_shared_data_root(monkeypatch, tmp_path):
    """Downloads never land in the real ~/.cache or $ZSHBENCH_DATA_ROOT."""
    monkeypatch.delenv("ZSHBENCH_DATA_ROOT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def server():
    with LoopbackServer() as running:
        yield running


@pytest.fixture(scope="module")
def cifar_tarball(tmp_path_factory) -> tuple[bytes, dict[str, bytes]]:
    """(the .tar.gz bytes, {member name: file bytes}) of a tiny CIFAR-10 in the real format."""
    folder = tmp_path_factory.mktemp("cifar-src")
    make_cifar(folder)
    buffer = io.BytesIO()
    files = {}
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    for name in CIFAR_FILES:
        files[f"cifar-10-batches-py/{name}"] = (folder / "cifar-10-batches-py" / name).read_bytes()
    return buffer.getvalue(), files


def dataset_file(
    folder: Path, files: list[dict], check: list[str] = CHECK, name: str = "tiny-cifar"
) -> Path:
    """A user's data-set .toml (CIFAR-10 layout, a tiny protocol) with a [download] table."""
    lines = [
        f'name = "{name}"',
        'title = "tiny CIFAR-10"',
        'loader = "cifar10"',
        "num_classes = 10",
        'default_root = "data"',
        "[protocol]",
        "num_seen = 8",
        "num_unseen = 2",
        "train_per_seen_class = 1",
        "query_per_unseen_class = 1",
        "validation_classes = 0",
        "[download]",
        f"check = {json.dumps(check)}",
    ]
    for entry in files:
        lines.append("[[download.files]]")
        lines.extend(f"{key} = {json.dumps(value)}" for key, value in entry.items())
    path = folder / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def cifar_spec(tmp_path, server, tarball, **how):
    body = tarball[0]
    url = server.serve("/cifar-10-python.tar.gz", body, **how)
    entry = {"url": url, "size": len(body), "md5": md5(body), "unpack": "tar"}
    return spec_from_toml(dataset_file(tmp_path, [entry])), url


# --------------------------------------------------------------------------------------------
# The happy path and idempotence


def test_full_download_verifies_unpacks_and_loads(tmp_path, server, cifar_tarball):
    spec, _ = cifar_spec(tmp_path, server, cifar_tarball)
    result = download(spec, reporter=QUIET)
    root = tmp_path / "data"  # the file's default_root
    assert result.status == "downloaded" and result.root == root
    for member, content in cifar_tarball[1].items():
        assert (root / member).read_bytes() == content  # byte for byte what was served
    assert not (root / "cifar-10-python.tar.gz").exists()  # archive removed once unpacked
    assert not list(root.glob("*.part"))
    assert sorted(p.name for p in (root / ".zshbench").iterdir()) == [
        "download-tiny-cifar.json",
        "download-tiny-cifar.lock",
    ]  # the temporary unpack folder is gone
    marker = json.loads((root / ".zshbench" / "download-tiny-cifar.json").read_text())
    assert marker["verified"] is True
    assert marker["received"][0]["md5"] == md5(cifar_tarball[0])
    # the data set loads from where it was put, without --data-root
    assert resolve_root(spec) == root
    assert len(load_dataset(spec)) == 6 * 7 - 6  # 6 images in each of the 6 batches


def test_second_call_is_a_no_op(tmp_path, server, cifar_tarball):
    spec, _ = cifar_spec(tmp_path, server, cifar_tarball)
    download(spec, reporter=QUIET)
    before = len(server.requests)
    again = download(spec, reporter=QUIET)
    assert again.status == "verified-already"
    assert "nothing to do" in again.message
    assert len(server.requests) == before  # the server is not contacted at all


def test_data_already_there_by_hand_is_left_alone(tmp_path, server, cifar_tarball):
    spec, _ = cifar_spec(tmp_path, server, cifar_tarball)
    make_cifar(tmp_path / "data")
    result = download(spec, reporter=QUIET)
    assert result.status == "present-already" and "not downloaded by zshbench" in result.message
    assert server.requests == []


def test_keep_archives_and_an_archive_already_there_is_used(tmp_path, server, cifar_tarball):
    spec, url = cifar_spec(tmp_path, server, cifar_tarball)
    root = tmp_path / "data"
    root.mkdir()
    (root / "cifar-10-python.tar.gz").write_bytes(cifar_tarball[0])  # e.g. fetched by hand
    result = download(spec, reporter=QUIET)
    assert result.status == "downloaded"
    assert server.requests == []  # verified and used, not downloaded again
    assert (root / "cifar-10-python.tar.gz").exists()  # the user's file is never deleted
    assert (root / CHECK[0]).exists()


def test_an_existing_entry_is_never_overwritten(tmp_path, server, cifar_tarball):
    spec, _ = cifar_spec(tmp_path, server, cifar_tarball)
    mine = tmp_path / "data" / "cifar-10-batches-py" / "notes.txt"
    mine.parent.mkdir(parents=True)
    mine.write_text("my notes")  # an incomplete copy of the user's
    with pytest.raises(DatasetError, match="already exists, and zshbench download never") as info:
        download(spec, reporter=QUIET)
    assert "\n" not in str(info.value)
    assert mine.read_text() == "my notes"
    assert sorted(p.name for p in mine.parent.iterdir()) == ["notes.txt"]
    # the verified archive is kept, so once the folder is moved away only the unpack is left
    assert (tmp_path / "data" / "cifar-10-python.tar.gz").exists()
    mine.parent.rename(tmp_path / "moved")
    gets = len(server.gets("/cifar-10-python.tar.gz"))
    assert download(spec, reporter=QUIET).status == "downloaded"
    assert len(server.gets("/cifar-10-python.tar.gz")) == gets


# --------------------------------------------------------------------------------------------
# Interrupted downloads


def test_cut_mid_way_then_resumed_by_the_next_call(tmp_path, server, cifar_tarball):
    body = cifar_tarball[0]
    half = len(body) // 2
    spec, _ = cifar_spec(tmp_path, server, cifar_tarball, cut_after=half)
    with pytest.raises(ZshbenchError, match="Run the same command again to resume") as info:
        download(spec, retries=0, reporter=QUIET)
    assert f"the connection closed after {half:,} of {len(body):,} bytes" in str(info.value)
    part = tmp_path / "data" / "cifar-10-python.tar.gz.part"
    assert part.read_bytes() == body[:half]  # what arrived is kept
    assert not (tmp_path / "data" / "cifar-10-batches-py").exists()  # nothing unpacked
    result = download(spec, retries=0, reporter=QUIET)
    assert result.status == "downloaded"
    ranges = [r.range for r in server.gets("/cifar-10-python.tar.gz")]
    assert ranges == [None, f"bytes={half}-"]  # the second call asked only for the rest
    assert (tmp_path / "data" / CHECK[0]).read_bytes() == cifar_tarball[1][CHECK[0]]


def test_cut_twice_resumes_within_one_call(tmp_path, server, cifar_tarball):
    body = cifar_tarball[0]
    spec, _ = cifar_spec(tmp_path, server, cifar_tarball, cut_after=len(body) // 3, cuts=2)
    result = download(spec, retries=3, retry_wait=0, reporter=QUIET)
    assert result.status == "downloaded"
    third = len(body) // 3
    ranges = [r.range for r in server.gets("/cifar-10-python.tar.gz")]
    # the server sends a third of what is asked each time it cuts
    assert ranges == [None, f"bytes={third}-", f"bytes={third + third}-"]


def test_a_server_that_ignores_range_restarts_cleanly(tmp_path, server, cifar_tarball):
    body = cifar_tarball[0]
    spec, _ = cifar_spec(tmp_path, server, cifar_tarball, cut_after=1000, ranges=False)
    result = download(spec, retries=1, retry_wait=0, reporter=QUIET)
    assert result.status == "downloaded"  # the 200 to a Range request started over
    ranges = [r.range for r in server.gets("/cifar-10-python.tar.gz")]
    assert ranges == [None, "bytes=1000-"]
    assert json.loads((tmp_path / "data/.zshbench/download-tiny-cifar.json").read_text())[
        "received"
    ][0]["bytes"] == len(body)


def test_a_stale_part_longer_than_the_file_starts_over(tmp_path, server, cifar_tarball):
    spec, _ = cifar_spec(tmp_path, server, cifar_tarball)
    part = tmp_path / "data" / "cifar-10-python.tar.gz.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * (len(cifar_tarball[0]) + 10))
    assert download(spec, retry_wait=0, reporter=QUIET).status == "downloaded"


def test_a_whole_part_is_verified_without_fetching_it_again(tmp_path, server, cifar_tarball):
    """A call killed after the last byte but before verifying: the next call only verifies
    (no request when the size is declared; one answered 416 when it is not)."""
    body = cifar_tarball[0]
    url = server.serve("/c.tar.gz", body)
    sized = spec_from_toml(
        dataset_file(tmp_path, [{"url": url, "md5": md5(body), "size": len(body)}], name="a")
    )
    unsized = spec_from_toml(dataset_file(tmp_path, [{"url": url, "md5": md5(body)}], name="b"))
    for spec, root in ((sized, tmp_path / "one"), (unsized, tmp_path / "two")):
        root.mkdir()
        (root / "c.tar.gz.part").write_bytes(body)
        assert download(spec, root, reporter=QUIET).status == "downloaded"
    assert [r.range for r in server.requests] == [f"bytes={len(body)}-"]  # the unsized one


# --------------------------------------------------------------------------------------------
# Checksums and server errors


def test_wrong_checksum_says_expected_and_got_and_unpacks_nothing(tmp_path, server, cifar_tarball):
    body = cifar_tarball[0]
    url = server.serve("/c.tar.gz", body)
    wrong = md5(b"something else")
    spec = spec_from_toml(dataset_file(tmp_path, [{"url": url, "md5": wrong}]))
    root = tmp_path / "data"
    root.mkdir()
    (root / "mine.txt").write_text("the user's")
    with pytest.raises(DatasetError) as info:
        download(spec, reporter=QUIET)
    text = str(info.value)
    assert "\n" not in text
    assert f"md5 {md5(body)}, expected {wrong}" in text
    assert (root / "mine.txt").read_text() == "the user's"
    assert not (root / "cifar-10-batches-py").exists()
    assert (root / "c.tar.gz.mismatch").read_bytes() == body  # moved aside, not unpacked
    assert not (root / "c.tar.gz").exists() and not (root / "c.tar.gz.part").exists()


def test_wrong_sha256_and_wrong_size_are_caught(tmp_path, server, cifar_tarball):
    body = cifar_tarball[0]
    url = server.serve("/c.tar.gz", body)
    sha = hashlib.sha256(b"other").hexdigest()
    spec = spec_from_toml(dataset_file(tmp_path, [{"url": url, "sha256": sha}]))
    with pytest.raises(DatasetError, match=f"sha256 {hashlib.sha256(body).hexdigest()}, expected"):
        download(spec, reporter=QUIET)
    sized = spec_from_toml(
        dataset_file(tmp_path, [{"url": url, "md5": md5(body), "size": len(body) + 1}], name="b")
    )
    with pytest.raises(DatasetError, match=f"offers {len(body):,} bytes, the .download. table"):
        download(sized, reporter=QUIET)


def test_progress_bar_shows_bytes(tmp_path, server, cifar_tarball):
    from rich.console import Console

    spec, _ = cifar_spec(tmp_path, server, cifar_tarball)
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    download(spec, reporter=Reporter(console=console))
    size = f"{len(cifar_tarball[0]) / 1000:.1f}"
    assert f"{size}/{size} kB" in out.getvalue()  # rich's DownloadColumn (beside rate and ETA)
    assert "unpacking cifar-10-python.tar.gz" in out.getvalue()


def test_404_is_one_line_and_not_retried(tmp_path, server):
    url = server.base + "/missing.tar.gz"
    spec = spec_from_toml(dataset_file(tmp_path, [{"url": url, "md5": md5(b"")}]))
    with pytest.raises(DatasetError, match="the server answered 404") as info:
        download(spec, retries=3, retry_wait=0, reporter=QUIET)
    assert "\n" not in str(info.value)
    assert len(server.gets("/missing.tar.gz")) == 1


def test_500_is_retried_then_reported(tmp_path, server):
    url = server.serve("/broken.tar.gz", status=500)
    spec = spec_from_toml(dataset_file(tmp_path, [{"url": url, "md5": md5(b"")}]))
    with pytest.raises(ZshbenchError, match="answered 500") as info:
        download(spec, retries=2, retry_wait=0, reporter=QUIET)
    assert "\n" not in str(info.value)
    assert len(server.gets("/broken.tar.gz")) == 3


def test_unreachable_server_is_one_line(tmp_path):
    with LoopbackServer() as gone:
        url = gone.base + "/x.tar.gz"
    spec = spec_from_toml(dataset_file(tmp_path, [{"url": url, "md5": md5(b"")}]))
    with pytest.raises(ZshbenchError, match="cannot reach 127.0.0.1"):
        download(spec, retries=1, retry_wait=0, reporter=QUIET)


def test_unverified_file_needs_the_flag_and_reports_its_sha256(tmp_path, server, cifar_tarball):
    body = cifar_tarball[0]
    url = server.serve("/c.tar.gz", body)
    entry = {"url": url, "unverified": "the publisher gives none"}
    spec = spec_from_toml(dataset_file(tmp_path, [entry]))
    with pytest.raises(DatasetError, match="--allow-unverified") as info:
        download(spec, reporter=QUIET)
    assert "the publisher gives none" in str(info.value)
    assert server.requests == []  # refused before any byte was fetched
    result = download(spec, allow_unverified=True, reporter=QUIET)
    assert result.unverified_sha256 == {"c.tar.gz": hashlib.sha256(body).hexdigest()}
    again = download(spec, reporter=QUIET)
    assert again.status == "verified-already" and "unverified" in again.message


# --------------------------------------------------------------------------------------------
# Hostile archives: nothing lands outside the target, and nothing lands at all


def _tar(members: list[tuple[str, bytes | None, str | None]]) -> bytes:
    """(name, content or None, symlink target or None) members as a .tar.gz."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content, link in members:
            info = tarfile.TarInfo(name)
            if link == "<fifo>":
                info.type = tarfile.FIFOTYPE
                tar.addfile(info)
            elif link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            else:
                info.size = len(content or b"")
                tar.addfile(info, io.BytesIO(content or b""))
    return buffer.getvalue()


def _hostile(tmp_path, server, body: bytes, filename: str, **extra) -> Path:
    url = server.serve("/" + filename, body)
    entry = {"url": url, "md5": md5(body), **extra}
    return spec_from_toml(dataset_file(tmp_path, [entry], check=["ok.txt"]))


def _left_behind(root: Path) -> list[str]:
    """Everything under the root except the download's own lock/marker folder and archive."""
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if ".zshbench" not in p.parts and p.suffix not in (".gz", ".zip")
    )


@pytest.mark.parametrize(
    "members, problem",
    [
        ([("ok.txt", b"1", None), ("../evil.txt", b"x", None)], "has '..' in its path"),
        ([("ok.txt", b"1", None), ("a/../../evil.txt", b"x", None)], "has '..' in its path"),
        ([("ok.txt", b"1", None), ("/tmp/evil.txt", b"x", None)], "has an absolute path"),
        ([("ok.txt", b"1", None), ("link", None, "/etc/passwd")], "outside the target"),
        ([("ok.txt", b"1", None), ("d/link", None, "../../evil")], "outside the target"),
        # s -> . is harmless alone; s/sub/l -> ../../x escapes only through it (realpath)
        ([("ok.txt", b"1", None), ("s", None, "."), ("s/sub/l", None, "../../x")], "outside"),
        ([("ok.txt", b"1", None), ("pipe", None, "<fifo>")], "special file"),
    ],
)
@pytest.mark.parametrize("tar_filter", [True, False], ids=["data-filter", "own-checks-only"])
def test_tar_members_that_escape_are_refused(
    tmp_path, server, monkeypatch, members, problem, tar_filter
):
    if not tar_filter:  # as on Python releases before tarfile's extraction filters
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    spec = _hostile(tmp_path, server, _tar(members), "bad.tar.gz")
    with pytest.raises(DatasetError, match=problem) as info:
        download(spec, reporter=QUIET)
    assert "nothing was unpacked" in str(info.value) and "\n" not in str(info.value)
    root = tmp_path / "data"
    assert _left_behind(root) == []  # not even ok.txt: the temporary folder is gone
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "evil").exists()


def test_tar_links_inside_the_target_are_kept(tmp_path, server):
    body = _tar([("d/ok.txt", b"1", None), ("ok.txt", None, "d/ok.txt")])
    spec = _hostile(tmp_path, server, body, "fine.tar.gz")
    download(spec, reporter=QUIET)
    assert (tmp_path / "data" / "ok.txt").read_bytes() == b"1"


def _zip(members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = 0o120777 << 16  # a symlink, as Info-ZIP stores it
            zf.writestr(info, target)
    return buffer.getvalue()


def test_zip_member_count_limit(tmp_path, server):
    members = {"ok.txt": b"1", **{f"f{k}.txt": b"" for k in range(40)}}
    spec = _hostile(tmp_path, server, _zip(members), "many.zip", max_members=10)
    with pytest.raises(DatasetError, match="has 41 members, more than the limit of 10"):
        download(spec, reporter=QUIET)
    assert _left_behind(tmp_path / "data") == []


def test_zip_bomb_size_limit(tmp_path, server):
    body = _zip({"ok.txt": b"0" * 5_000_000})  # 5 MB of zeros deflate to a few KB
    spec = _hostile(tmp_path, server, body, "bomb.zip", max_unpacked_bytes=1_000_000)
    with pytest.raises(DatasetError, match="unpacks to more than 1,000,000 bytes"):
        download(spec, reporter=QUIET)
    assert _left_behind(tmp_path / "data") == []


@pytest.mark.parametrize(
    "members, links, problem",
    [
        ({"ok.txt": b"1", "../evil.txt": b"x"}, None, "has '..' in its path"),
        ({"ok.txt": b"1", "..\\evil.txt": b"x"}, None, "has '..' in its path"),
        ({"ok.txt": b"1", "/abs.txt": b"x"}, None, "has an absolute path"),
        ({"ok.txt": b"1"}, {"link": "../../outside"}, "outside the target"),
        ({"ok.txt": b"1"}, {"s": ".", "s/sub/l": "../../x"}, "outside the target"),
    ],
)
def test_zip_members_that_escape_are_refused(tmp_path, server, members, links, problem):
    spec = _hostile(tmp_path, server, _zip(members, links), "bad.zip")
    with pytest.raises(DatasetError, match=problem):
        download(spec, reporter=QUIET)
    assert _left_behind(tmp_path / "data") == []
    assert not (tmp_path / "evil.txt").exists()


def test_zip_include_keeps_only_matching_members(tmp_path, server):
    body = _zip({"ok.txt": b"1", "big/features.mat": b"2" * 1000, "big/list.txt": b"3"})
    spec = _hostile(tmp_path, server, body, "some.zip", include=["ok.txt", "*/*.txt"])
    download(spec, reporter=QUIET)
    assert _left_behind(tmp_path / "data") == ["big", "big/list.txt", "ok.txt"]


def test_layout_check_fails_when_the_archive_lacks_a_file(tmp_path, server):
    body = _tar([("other.txt", b"1", None)])
    spec = _hostile(tmp_path, server, body, "wrong.tar.gz")
    with pytest.raises(DatasetError, match="after unpacking, ok.txt is missing"):
        download(spec, reporter=QUIET)
    assert _left_behind(tmp_path / "data") == []


# --------------------------------------------------------------------------------------------
# The [download] table itself


@pytest.mark.parametrize(
    "entry, check, problem",
    [
        ({"url": "http://x/a.tgz", "md5": "abc"}, CHECK, "must be 32 hexadecimal digits"),
        ({"url": "http://x/a.tgz"}, CHECK, "has no md5 or sha256"),
        ({"url": "ftp://x/a.tgz", "md5": "0" * 32}, CHECK, "http:// or https://"),
        ({"url": "http://x/a.tgz", "md5": "0" * 32, "unpack": "rar"}, CHECK, "tar, zip, none"),
        ({"url": "http://x/a.tgz", "md5": "0" * 32, "colour": 1}, CHECK, "not a download field"),
        ({"url": "http://x/a.tgz", "md5": "0" * 32}, ["/etc/passwd"], "inside the data root"),
        ({"url": "http://x/a.tgz", "md5": "0" * 32}, ["../x"], "inside the data root"),
        ({"url": "http://x/a.tgz", "md5": "0" * 32, "filename": "../a"}, CHECK, "plain file name"),
        ({"url": "http://x/a.tgz", "md5": "0" * 32, "size": 0}, CHECK, "whole number >= 1"),
    ],
)
def test_bad_download_tables_are_one_line(tmp_path, entry, check, problem):
    with pytest.raises(DatasetError, match=problem) as info:
        spec_from_toml(dataset_file(tmp_path, [entry], check=check))
    assert "\n" not in str(info.value) and "download" in str(info.value)


def test_every_paper_data_set_ships_a_verified_download_table():
    """cifar10, cub and awa2 each name their published file with a checksum; the shipped
    download-only entry (xlsa17) parses and says why it has none."""
    specs = {p.stem: spec_from_toml(p) for p in registry_files()}
    for name in ("cifar10", "cub", "awa2"):
        table = specs[name].download
        assert table is not None and all(f.checksums for f in table.files), name
        assert all(f.url.startswith("https://") for f in table.files), name
    assert specs["digits"].download is None  # embedded: nothing to download
    assert download(specs["digits"], reporter=QUIET).status == "embedded"
    xlsa17 = resources()["xlsa17"]
    assert [f.checksums for f in xlsa17.download.files] == [{}]
    assert xlsa17.download.files[0].unverified
    assert "xlsa17/data/CUB/testclasses.txt" in xlsa17.download.check


# --------------------------------------------------------------------------------------------
# Where downloads go, the missing-data message, ensure_dataset and the CLI


def test_default_root_and_missing_message_name_the_download_command(tmp_path, monkeypatch):
    spec = spec_from_toml(registry_files()[[p.stem for p in registry_files()].index("cifar10")])
    home = tmp_path / "home"
    assert download_root(spec) == home / ".cache" / "zshbench" / "data" / "cifar10"
    monkeypatch.setenv("ZSHBENCH_DATA_ROOT", str(tmp_path / "shared"))
    assert download_root(spec) == tmp_path / "shared" / "cifar10"
    monkeypatch.setenv("ZSHBENCH_CIFAR10_ROOT", str(tmp_path / "mine"))
    assert download_root(spec) == tmp_path / "mine"
    assert download_root(spec, tmp_path / "given") == tmp_path / "given"
    monkeypatch.delenv("ZSHBENCH_CIFAR10_ROOT")
    monkeypatch.delenv("ZSHBENCH_DATA_ROOT")
    with pytest.raises(DatasetError, match="Or download it: zshbench download cifar10") as info:
        resolve_root(spec)
    assert "\n" not in str(info.value)
    with pytest.raises(DatasetError, match=r"zshbench download cifar10 --root \S*nowhere"):
        resolve_root(spec, tmp_path / "nowhere")
    (home / ".cache" / "zshbench" / "data" / "cifar10").mkdir(parents=True)
    assert resolve_root(spec) == home / ".cache" / "zshbench" / "data" / "cifar10"


def test_loader_errors_name_the_download_command_for_a_user_file(tmp_path, server, cifar_tarball):
    spec, _ = cifar_spec(tmp_path, server, cifar_tarball)
    (tmp_path / "data").mkdir()
    with pytest.raises(DatasetError, match="Or download it: zshbench download ") as info:
        load_dataset(spec)
    assert str(tmp_path / "tiny-cifar.toml") in str(info.value)  # a user file goes by its path


def test_ensure_dataset_downloads_only_what_is_missing(tmp_path, server, cifar_tarball):
    spec, _ = cifar_spec(tmp_path, server, cifar_tarball)
    ensure_dataset(spec, reporter=QUIET)
    assert len(server.gets("/cifar-10-python.tar.gz")) == 1
    ensure_dataset(spec, reporter=QUIET)  # now it loads: nothing is fetched
    assert len(server.gets("/cifar-10-python.tar.gz")) == 1
    # present but broken: the loader's own error stands, no download is attempted
    (tmp_path / "data" / "cifar-10-batches-py" / "test_batch").write_bytes(b"garbage")
    (tmp_path / "data" / "cifar-10-batches-py" / "data_batch_1").unlink()
    (tmp_path / "data" / "cifar-10-batches-py" / "data_batch_1").mkdir()
    with pytest.raises(DatasetError):
        ensure_dataset(spec, reporter=QUIET)
    assert len(server.gets("/cifar-10-python.tar.gz")) == 1


@pytest.mark.slow
def test_cli_run_download_then_download_again(tmp_path, server, cifar_tarball):
    """The whole path a user takes: a missing data set gets the one line naming the download
    command; ``run --download`` fetches it and runs; ``download`` then has nothing to do."""
    body = cifar_tarball[0]
    url = server.serve("/cifar-10-python.tar.gz", body)
    entry = {"url": url, "size": len(body), "md5": md5(body)}
    toml = dataset_file(tmp_path, [entry])
    env = dict(os.environ, HOME=str(tmp_path / "home"), ZSHBENCH_DATA_ROOT=str(tmp_path / "dl"))
    args = ("run", "--method", "lsh", "--dataset", str(toml), "--bits", "8", "--results", "r")
    missing = run_zshbench(*args, cwd=tmp_path, env=env)
    assert missing.returncode == 2
    (line,) = missing.stderr.strip().splitlines()
    assert line.startswith("zshbench: error: ") and f"zshbench download {toml}" in line
    done = run_zshbench(*args, "--download", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "downloaded and verified" in done.stderr
    (record,) = (tmp_path / "r").rglob("bits8-seed0.json")
    assert json.loads(record.read_text())["split"]["num_query"] == 2
    assert (tmp_path / "dl" / "tiny-cifar" / CHECK[0]).exists()
    again = run_zshbench("download", str(toml), cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    assert "already verified" in again.stdout and "nothing to do" in again.stdout
    assert len(server.gets("/cifar-10-python.tar.gz")) == 1


def test_cli_download_reports_a_checksum_mismatch_in_one_line(tmp_path, server, cifar_tarball):
    url = server.serve("/c.tar.gz", cifar_tarball[0])
    toml = dataset_file(tmp_path, [{"url": url, "md5": md5(b"nope")}])
    done = run_zshbench("download", str(toml), "--root", "here", cwd=tmp_path)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.startswith("zshbench: error")]
    assert len(lines) == 1 and f"expected {md5(b'nope')}" in lines[0]
    assert np.all([not (tmp_path / "here" / c).exists() for c in CHECK])
