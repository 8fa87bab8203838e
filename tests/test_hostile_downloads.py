"""Hostile servers, planted links in a download root and broken archives (issue 16: case 3,
case 5 and the download minors).

A small HTTP server written here misbehaves in the ways a hostile or broken one would: an
endless body without Content-Length, a stall after the headers, a trickle, redirects to other
schemes. Every case must end quickly with one line, write nothing past the declared size and
never write through a link.
"""

from __future__ import annotations

import io
import os
import socket
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from test_download import _hostile, _tar, dataset_file

from zshbench.archives import unpack
from zshbench.datasets.spec_file import spec_from_toml
from zshbench.download.command import download
from zshbench.download.tables import RemoteFile
from zshbench.download.transfer import Fetcher, Reporter
from zshbench.errors import DatasetError, ZshbenchError

QUIET = Reporter(quiet=True)


class _Hostile(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # the body ends when the connection does

    def do_GET(self):  # noqa: N802
        how = self.path.strip("/").split("?")[0]
        if how.startswith("redirect-"):
            self.send_response(302)
            target = {"ftp": "ftp://127.0.0.1/x", "file": "file:///etc/passwd"}[how[9:]]
            self.send_header("Location", target)
            self.end_headers()
            return
        self.send_response(200)
        self.end_headers()
        try:
            if how == "endless":
                block = b"x" * 65536
                for _ in range(1024):  # 64 MiB at most, as the server in the report did
                    self.wfile.write(block)
            elif how == "stall":
                time.sleep(5)
            elif how == "trickle":
                for _ in range(200):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.05)
            elif how == "plain":
                self.wfile.write(b"y" * 100)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def hostile():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.daemon = True
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _file(url, **more):
    return RemoteFile(url=url, filename="f.bin", sha256="0" * 64, **more)


def test_the_declared_size_is_enforced_while_streaming(hostile, tmp_path):
    """Case 5: with size = 1000 and no Content-Length, 64 MiB were written before the check."""
    started = time.monotonic()
    with pytest.raises(DatasetError, match="more than the 1,000 bytes the table declares"):
        Fetcher(QUIET, retries=0).fetch(_file(f"{hostile}/endless", size=1000), tmp_path)
    part = tmp_path / "f.bin.part"
    assert not part.exists() or part.stat().st_size <= 1000
    assert time.monotonic() - started < 10


def test_a_stalled_server_is_given_up_after_the_stall_timeout(hostile, tmp_path):
    """Case 5: a server that sends headers and then nothing."""
    started = time.monotonic()
    with pytest.raises(ZshbenchError, match="no byte arrived for 0.3 s") as info:
        Fetcher(QUIET, retries=0, timeout=0.3).fetch(_file(f"{hostile}/stall"), tmp_path)
    assert time.monotonic() - started < 4
    assert "nothing was downloaded yet" in str(info.value)


def test_a_trickle_is_stopped_by_the_overall_deadline(hostile, tmp_path):
    """Case 5: one byte every 50 ms never trips a stall timeout; the deadline stops it."""
    started = time.monotonic()
    with pytest.raises(ZshbenchError, match="deadline of 0.5 s") as info:
        Fetcher(QUIET, retries=0, timeout=5, deadline=0.5).fetch(
            _file(f"{hostile}/trickle"), tmp_path
        )
    assert time.monotonic() - started < 3
    assert "bytes are kept in" in str(info.value) and "--deadline" in str(info.value)


@pytest.mark.parametrize("scheme", ["ftp", "file"])
def test_redirects_to_another_scheme_are_refused(hostile, tmp_path, scheme):
    """Minor: a redirect to ftp:// (and file://) was followed; http(s) only."""
    with pytest.raises(DatasetError, match=f"redirects to a {scheme}: address"):
        Fetcher(QUIET, retries=0).fetch(_file(f"{hostile}/redirect-{scheme}"), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_planted_part_link_is_never_truncated_or_filled(hostile, tmp_path):
    """Case 3: a '<file>.part' link was truncated and filled when the server cannot resume."""
    victim = tmp_path / "precious.txt"
    victim.write_text("my thesis\n")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(victim, root / "f.bin.part")
    with pytest.raises(ZshbenchError, match="symbolic link"):
        Fetcher(QUIET, retries=0).fetch(_file(f"{hostile}/plain"), root)
    assert victim.read_text() == "my thesis\n" and os.path.islink(root / "f.bin.part")


def test_an_archive_may_not_drop_a_part_file_into_the_root(tmp_path):
    """Case 3: an archive member named like a download's '.part' landed in the root."""
    from test_download import LoopbackServer

    body = _tar([("ok.txt", b"1", None), ("bad.tar.gz.part", None, "ok.txt")])
    with LoopbackServer() as server:
        spec = _hostile(tmp_path, server, body, "bad.tar.gz", unpack="tar")
        with pytest.raises(DatasetError, match="'bad.tar.gz.part' at its top level"):
            download(spec, reporter=QUIET)
    assert not os.path.lexists(tmp_path / "data" / "bad.tar.gz.part")
    assert not (tmp_path / "data" / "ok.txt").exists()


def test_an_offline_failure_does_not_claim_a_part_file(tmp_path):
    """Minor: 'downloading x failed (...); 0 bytes are kept in x.part' with no such file."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: nothing listens there
    with pytest.raises(ZshbenchError) as info:
        Fetcher(QUIET, retries=0).fetch(_file(f"http://127.0.0.1:{port}/f.bin"), tmp_path)
    assert "nothing was downloaded yet" in str(info.value) and ".part" not in str(info.value)


def test_a_nul_in_the_urls_file_name_is_one_line(tmp_path):
    """Minor: a '%00' in the URL's file name gave a ValueError traceback."""
    entry = {"url": "http://x/a%00b.tgz", "md5": "0" * 32}
    with pytest.raises(DatasetError, match="plain file name") as info:
        spec_from_toml(dataset_file(tmp_path, [entry]))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("target", ["missing.txt", "self.txt"])
def test_a_tar_hard_link_to_nothing_is_one_line(tmp_path, monkeypatch, target):
    """Minor: a hard link to a missing member or to itself raised KeyError."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("ok.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"1"))
        link = tarfile.TarInfo("self.txt")
        link.type, link.linkname = tarfile.LNKTYPE, target
        tar.addfile(link)
    archive = tmp_path / "a.tar"
    archive.write_bytes(buffer.getvalue())
    for with_filter in (True, False):
        if not with_filter:
            monkeypatch.delattr(tarfile, "data_filter", raising=False)
        with pytest.raises(DatasetError, match="hard link to") as info:
            unpack(archive, tmp_path / f"out-{with_filter}", "tar")
        assert "\n" not in str(info.value)


def test_the_cli_takes_stall_timeout_and_deadline(tmp_path, hostile):
    """The two limits are options of 'zshbench download' with defaults."""
    from cli_runner import run_zshbench

    entry = {"url": f"{hostile}/trickle", "sha256": "0" * 64, "filename": "t.bin"}
    toml = dataset_file(tmp_path, [entry], check=["t.bin"])
    result = run_zshbench(
        "download", str(toml), "--root", str(tmp_path / "r"), "--deadline", "1", "--retries",
        "0", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2 and "deadline of 1 s" in result.stderr
    assert "Traceback" not in result.stderr
