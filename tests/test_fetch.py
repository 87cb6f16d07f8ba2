"""The fetchers against a local HTTP server: checksums, resuming, safe extraction.

Nothing here touches the internet: a server on 127.0.0.1 serves small
archives in the real layout, and can break a transfer halfway or ignore
``Range`` requests.
"""

import hashlib
import io
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from _dcase_layouts import (
    TUT_DEV,
    tar_folder,
    write_chime_home,
    write_tut_development,
    zip_folder,
)

from sklearn_allconv.datasets import (
    _chime,
    _tut,
    fetch_chime_home,
    fetch_tut_acoustic_scenes_2016,
    get_data_home,
    load_chime_home,
    load_tut_acoustic_scenes_2016,
)
from sklearn_allconv.datasets._fetch import (
    RemoteArchive,
    ResumableHTTPDownloader,
    extract_archive,
)


class ArchiveServer:
    """Serve ``files`` (name -> bytes) over HTTP on 127.0.0.1, honouring Range.

    ``cut_once`` names files whose first transfer stops after half the
    bytes; ``ignore_range`` makes the server answer every request in full.
    ``requests`` records (path, Range header) of each GET.
    """

    def __init__(self):
        self.files = {}
        self.cut_once = set()
        self.ignore_range = False
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.lstrip("/")
                server.requests.append((name, self.headers.get("Range")))
                if name not in server.files:
                    self.send_error(404)
                    return
                data = server.files[name]
                start = 0
                if self.headers.get("Range") and not server.ignore_range:
                    start = int(self.headers["Range"].split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header(
                        "Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}"
                    )
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if name in server.cut_once:
                    server.cut_once.discard(name)
                    body = body[: len(body) // 2]
                    self.close_connection = True
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/"
        # A short poll interval makes shutdown() quick.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )
        self._thread.start()

    def close(self):
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def server():
    archive_server = ArchiveServer()
    yield archive_server
    archive_server.close()


def _md5(data):
    return hashlib.md5(data).hexdigest()


@pytest.fixture(scope="module")
def tut_archives(tmp_path_factory):
    """The development set split into meta, error and two audio zips."""
    base = tmp_path_factory.mktemp("tut-source")
    folder = write_tut_development(base)
    audio = sorted((folder / "audio").iterdir())
    half = set(audio[: len(audio) // 2])

    def is_meta(path):
        return path.name == "meta.txt" or path.parent.name == "evaluation_setup"

    return {
        f"{TUT_DEV}.meta.zip": zip_folder(folder, base=base, select=is_meta),
        f"{TUT_DEV}.error.zip": zip_folder(
            folder, base=base, select=lambda p: p.name == "error.txt"
        ),
        f"{TUT_DEV}.audio.1.zip": zip_folder(
            folder / "audio", base=base, select=lambda p: p in half
        ),
        f"{TUT_DEV}.audio.2.zip": zip_folder(
            folder / "audio", base=base, select=lambda p: p not in half
        ),
    }


@pytest.fixture
def tut_registry(monkeypatch, server, tut_archives):
    """Serve the TUT archives and make the fetcher expect their checksums."""
    server.files.update(tut_archives)
    monkeypatch.setitem(
        _tut._ARCHIVES,
        "development",
        tuple(RemoteArchive(name, _md5(data)) for name, data in tut_archives.items()),
    )
    return tut_archives


def _fetch_tut(home, server, **kwargs):
    return fetch_tut_acoustic_scenes_2016(
        home, base_url=server.url, progress=False, **kwargs
    )


def test_data_home_is_argument_then_environment_then_home_folder(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("SKLEARN_ALLCONV_DATA", str(tmp_path / "env"))

    assert get_data_home(tmp_path / "arg") == str(tmp_path / "arg")
    assert get_data_home() == str(tmp_path / "env")
    monkeypatch.delenv("SKLEARN_ALLCONV_DATA")
    assert get_data_home() == str(tmp_path / "user" / "sklearn_allconv_data")
    assert Path(get_data_home()).is_dir()


def test_fetch_downloads_extracts_and_loads(tmp_path, server, tut_registry):
    scenes = _fetch_tut(tmp_path, server)

    expected = load_tut_acoustic_scenes_2016(tmp_path / TUT_DEV)
    np.testing.assert_array_equal(scenes.target, expected.target)
    np.testing.assert_array_equal(scenes.folds, expected.folds)
    assert len(scenes.data) == 24
    # Archives are deleted after extraction unless asked to keep them.
    assert not list((tmp_path / "archives").iterdir())


def test_second_fetch_reuses_the_extracted_data_offline(tmp_path, server, tut_registry):
    _fetch_tut(tmp_path, server)
    n_requests = len(server.requests)

    scenes = _fetch_tut(tmp_path, server, download_if_missing=False)

    assert len(server.requests) == n_requests
    assert len(scenes.data) == 24


def test_keep_archives_keeps_them(tmp_path, server, tut_registry):
    _fetch_tut(tmp_path, server, keep_archives=True)

    kept = sorted(path.name for path in (tmp_path / "archives").iterdir())
    assert kept == sorted(tut_registry)


def test_missing_data_without_download_raises(tmp_path, server, tut_registry):
    with pytest.raises(OSError, match="download_if_missing is False"):
        _fetch_tut(tmp_path, server, download_if_missing=False)
    assert server.requests == []


def test_checksum_mismatch_raises_and_leaves_no_file(tmp_path, server, tut_registry):
    name = f"{TUT_DEV}.error.zip"
    server.files[name] = b"not the archive the registry describes"

    with pytest.raises(ValueError, match=rf"{name} is corrupted.*hash"):
        _fetch_tut(tmp_path, server, n_retries=0)

    left = [p.name for p in (tmp_path / "archives").iterdir()]
    assert name not in left and f"{name}.part" not in left
    assert left == []  # the meta archive before it was extracted and deleted
    assert not (tmp_path / ".extracted" / name).exists()


def test_interrupted_download_resumes_within_the_same_call(
    tmp_path, server, tut_registry
):
    name = f"{TUT_DEV}.audio.1.zip"
    server.cut_once.add(name)

    scenes = _fetch_tut(tmp_path, server, n_retries=1)

    (first, resumed) = [r for r in server.requests if r[0] == name]
    assert first == (name, None)
    # The bytes of the chunk being read when the connection broke are lost.
    offset = int(resumed[1].removeprefix("bytes=").removesuffix("-"))
    assert 0 < offset <= len(tut_registry[name]) // 2
    assert len(scenes.data) == 24


def test_interrupted_download_resumes_in_the_next_call(tmp_path, server, tut_registry):
    name = f"{TUT_DEV}.audio.2.zip"
    server.cut_once.add(name)

    with pytest.raises(OSError, match="run the fetcher again to resume"):
        _fetch_tut(tmp_path, server, n_retries=0)
    part = tmp_path / "archives" / f"{name}.part"
    received = part.read_bytes()
    assert 0 < len(received) <= len(tut_registry[name]) // 2
    assert tut_registry[name].startswith(received)

    scenes = _fetch_tut(tmp_path, server, n_retries=0)

    assert server.requests[-1] == (name, f"bytes={len(received)}-")
    assert not part.exists()
    assert len(scenes.data) == 24


def test_server_ignoring_range_restarts_the_download(tmp_path, server):
    data = bytes(range(256)) * 64
    server.files["file.bin"] = data
    server.ignore_range = True
    (tmp_path / "file.bin.part").write_bytes(b"stale bytes")

    ResumableHTTPDownloader(progressbar=False)(
        server.url + "file.bin", tmp_path / "out.bin"
    )

    assert server.requests == [("file.bin", "bytes=11-")]
    assert (tmp_path / "out.bin").read_bytes() == data


def test_hostile_archive_is_refused_and_nothing_is_extracted(
    tmp_path, monkeypatch, server
):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{TUT_DEV}/meta.txt", "audio/a.wav\tbeach\n")
        archive.writestr("../escaped.txt", "gotcha")
    name = f"{TUT_DEV}.meta.zip"
    server.files[name] = buffer.getvalue()
    monkeypatch.setitem(
        _tut._ARCHIVES, "development", (RemoteArchive(name, _md5(buffer.getvalue())),)
    )
    home = tmp_path / "home"

    with pytest.raises(ValueError, match=r"member '\.\./escaped\.txt' climbs out"):
        _fetch_tut(home, server)

    assert not (tmp_path / "escaped.txt").exists()
    assert not (home / TUT_DEV).exists()


def test_fetch_chime_home_extracts_the_tarball_and_loads(
    tmp_path, monkeypatch, server
):
    source = tmp_path / "source"
    write_chime_home(source)
    data = tar_folder(source / "chime_home", base=source)
    server.files["chime_home.tar.gz"] = data
    monkeypatch.setattr(
        _chime, "_ARCHIVE", RemoteArchive("chime_home.tar.gz", _md5(data))
    )
    home = tmp_path / "home"

    tags = fetch_chime_home(home, base_url=server.url, progress=False)

    expected = load_chime_home(source)
    np.testing.assert_array_equal(tags.target, expected.target)
    np.testing.assert_array_equal(tags.folds, expected.folds)
    assert tags.root == str(home / "chime_home")


# -- extraction ---------------------------------------------------------------


def _zip_with(name):
    path = io.BytesIO()
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("dataset/ok.txt", "fine")
        archive.writestr(zipfile.ZipInfo(name), "gotcha")
    return path.getvalue()


def _tar_with(member, content=b""):
    path = io.BytesIO()
    with tarfile.open(fileobj=path, mode="w:gz") as archive:
        ok = tarfile.TarInfo("dataset/ok.txt")
        ok.size = 4
        archive.addfile(ok, io.BytesIO(b"fine"))
        member.size = len(content)
        archive.addfile(member, io.BytesIO(content))
    return path.getvalue()


def _link(name, target, kind=tarfile.SYMTYPE):
    member = tarfile.TarInfo(name)
    member.type = kind
    member.linkname = target
    return member


def _tar_of(*members):
    """A tar whose members are ``dataset/ok.txt`` then ``members``."""
    path = io.BytesIO()
    with tarfile.open(fileobj=path, mode="w:gz") as archive:
        ok = tarfile.TarInfo("dataset/ok.txt")
        ok.size = 4
        archive.addfile(ok, io.BytesIO(b"fine"))
        for member in members:
            archive.addfile(member, io.BytesIO(b""))
    return path.getvalue()


def _device(name):
    member = tarfile.TarInfo(name)
    member.type = tarfile.CHRTYPE
    return member


@pytest.mark.parametrize(
    ("suffix", "data", "message"),
    [
        ("zip", _zip_with("../escaped.txt"), "climbs out"),
        ("zip", _zip_with("dataset/../../escaped.txt"), "climbs out"),
        ("zip", _zip_with("/etc/escaped.txt"), "absolute path"),
        ("tar.gz", _tar_with(tarfile.TarInfo("../escaped.txt"), b"x"), "climbs out"),
        ("tar.gz", _tar_with(tarfile.TarInfo("/escaped.txt"), b"x"), "absolute path"),
        ("tar.gz", _tar_with(_link("dataset/link", "../../escaped")), "links to"),
        ("tar.gz", _tar_with(_link("dataset/link", "/etc/passwd")), "links to"),
        (
            "tar.gz",
            _tar_with(_link("dataset/hard", "../escaped", tarfile.LNKTYPE)),
            "links to",
        ),
        ("tar.gz", _tar_with(_device("dataset/tty")), "device or a pipe"),
        # Chains of links, each harmless alone while the one before is not
        # yet on disk.
        ("tar.gz", _tar_of(_link("s", "."), _link("l", "s/..")), "'l' links to"),
        (
            "tar.gz",
            _tar_of(_link("a/up", ".."), _link("b", "a/up/..")),
            "'b' links to",
        ),
        (
            "tar.gz",
            _tar_of(_link("s", "."), _link("s/l", "../escaped")),
            "'s/l' links to",
        ),
        (
            "tar.gz",
            _tar_of(_link("s", "."), _link("h", "s/../escaped", tarfile.LNKTYPE)),
            "'h' links to",
        ),
        (
            "tar.gz",
            _tar_of(_link("a", "b"), _link("b", "a"), tarfile.TarInfo("a/x")),
            "'a/x' would be written through a link",
        ),
    ],
    ids=[
        "zip-dotdot",
        "zip-nested-dotdot",
        "zip-absolute",
        "tar-dotdot",
        "tar-absolute",
        "tar-symlink-out",
        "tar-symlink-absolute",
        "tar-hardlink-out",
        "tar-device",
        "tar-chain-dot-then-dotdot",
        "tar-chain-through-a-folder",
        "tar-link-inside-a-linked-folder",
        "tar-hardlink-through-a-chain",
        "tar-link-loop",
    ],
)
def test_unsafe_members_are_refused_before_anything_is_written(
    tmp_path, suffix, data, message
):
    archive = tmp_path / f"hostile.{suffix}"
    archive.write_bytes(data)
    destination = tmp_path / "out"

    with pytest.raises(ValueError, match=message):
        extract_archive(archive, destination)

    assert not destination.exists()


def test_a_link_already_in_the_destination_is_followed_in_the_check(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    destination = tmp_path / "out"
    destination.mkdir()
    (destination / "escape").symlink_to(outside)
    archive = tmp_path / "hostile.tar.gz"
    archive.write_bytes(_tar_of(tarfile.TarInfo("escape/planted.txt")))

    with pytest.raises(ValueError, match="written through a link out of the folder"):
        extract_archive(archive, destination)

    assert sorted(p.name for p in destination.iterdir()) == ["escape"]
    assert list(outside.iterdir()) == []


def test_a_chain_of_links_inside_the_folder_is_extracted(tmp_path):
    archive = tmp_path / "fine.tar.gz"
    archive.write_bytes(
        _tar_of(_link("s", "."), _link("alias.txt", "s/dataset/ok.txt"))
    )

    extract_archive(archive, tmp_path / "out")

    assert (tmp_path / "out" / "alias.txt").read_text() == "fine"


def test_links_inside_the_folder_are_extracted(tmp_path):
    archive = tmp_path / "fine.tar.gz"
    archive.write_bytes(_tar_with(_link("dataset/alias.txt", "ok.txt")))

    extract_archive(archive, tmp_path / "out")

    assert (tmp_path / "out" / "dataset" / "alias.txt").read_text() == "fine"


def test_a_file_that_is_no_archive_is_refused(tmp_path):
    archive = tmp_path / "page.zip"
    archive.write_text("<html>Not found</html>")

    with pytest.raises(ValueError, match="neither a zip nor a tar archive"):
        extract_archive(archive, tmp_path / "out")
