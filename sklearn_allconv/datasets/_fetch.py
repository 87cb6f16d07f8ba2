"""Downloading, checking and safely extracting dataset archives.

The fetchers of :mod:`sklearn_allconv.datasets` share these helpers: the
data-home convention of scikit-learn, a :mod:`pooch` registry per dataset
(md5 checks, atomic moves, retries), a downloader that resumes interrupted
transfers with HTTP ``Range`` requests, and an extractor that refuses archive
members that would land outside the target folder.
"""

from __future__ import annotations

import os
import tarfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pooch
import requests
from tqdm.auto import tqdm

__all__ = [
    "RemoteArchive",
    "ResumableHTTPDownloader",
    "download_archives",
    "extract_archive",
    "fetch_archives",
    "get_data_home",
]

DATA_HOME_ENV = "SKLEARN_ALLCONV_DATA"
"""Environment variable naming the default data folder."""

_DEFAULT_DATA_HOME = "~/sklearn_allconv_data"
# A broken connection loses the chunk being read, so chunks stay small.
_CHUNK_BYTES = 1 << 16
# Seconds to wait for the server to answer or send the next chunk.
_TIMEOUT_S = 60
# The errors after which a download is worth resuming rather than abandoning.
_TRANSIENT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


def get_data_home(data_home: str | os.PathLike | None = None) -> str:
    """Return the folder where the datasets are stored, creating it if needed.

    As in scikit-learn: the folder given, else the one named by the
    ``SKLEARN_ALLCONV_DATA`` environment variable, else
    ``~/sklearn_allconv_data``. A leading ``~`` is expanded.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The folder to use; None applies the rules above.

    Returns
    -------
    data_home : str
        The absolute path of the folder.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn_allconv.datasets import get_data_home
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     get_data_home(folder) == folder
    True
    """
    if data_home is None:
        data_home = os.environ.get(DATA_HOME_ENV, _DEFAULT_DATA_HOME)
    path = Path(data_home).expanduser().absolute()
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


@dataclass(frozen=True)
class RemoteArchive:
    """One archive of a dataset release: its file name and md5 checksum.

    Parameters
    ----------
    filename : str
        File name on the server, appended to the dataset's base URL.
    md5 : str
        Expected md5 checksum (32 hexadecimal digits).
    """

    filename: str
    md5: str


class ResumableHTTPDownloader:
    """A :mod:`pooch` downloader that resumes interrupted HTTP transfers.

    The bytes received so far are kept in ``<file name>.part`` next to the
    archive. A later call asks the server for the rest with a ``Range``
    header and appends it; a server that ignores ranges (status 200) sends
    the whole file again, which replaces the partial one. Once the transfer
    is complete the partial file becomes pooch's temporary file, which pooch
    checks against the md5 and moves into place atomically (or deletes).

    Parameters
    ----------
    progressbar : bool, default=True
        Show a :mod:`tqdm` progress bar on stderr.
    timeout : float, default=60
        Seconds to wait for the connection and for each chunk.
    """

    def __init__(self, *, progressbar: bool = True, timeout: float = _TIMEOUT_S):
        self.progressbar = progressbar
        self.timeout = timeout

    def __call__(
        self,
        url: str,
        output_file: str | os.PathLike,
        pooch_instance: Any = None,
        check_only: bool = False,
    ) -> bool | None:
        """Download ``url`` into ``output_file``, resuming a previous attempt.

        Parameters
        ----------
        url : str
            The address of the file.
        output_file : str or path-like
            Where pooch wants the complete file.
        pooch_instance : pooch.Pooch, optional
            The calling registry (unused; part of pooch's protocol).
        check_only : bool, default=False
            Only tell whether the file is available on the server.

        Returns
        -------
        available : bool or None
            With ``check_only``, whether the server has the file; else None.

        Raises
        ------
        requests.RequestException
            If the server refuses the request or the connection breaks; the
            bytes received are kept for the next attempt.
        """
        if check_only:
            with requests.head(url, allow_redirects=True, timeout=self.timeout) as r:
                return r.ok
        output_file = Path(output_file)
        part = output_file.with_name(_url_filename(url) + ".part")
        offset = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with requests.get(
            url, headers=headers, stream=True, timeout=self.timeout
        ) as response:
            # 416: the partial file already holds every byte; the md5 decides.
            if response.status_code != 416:
                response.raise_for_status()
                if response.status_code != 206:
                    offset = 0
                self._receive(response, part, offset)
        os.replace(part, output_file)
        return None

    def _receive(self, response: requests.Response, part: Path, offset: int) -> None:
        remaining = response.headers.get("Content-Length")
        total = offset + int(remaining) if remaining is not None else None
        with (
            open(part, "ab" if offset else "wb") as file,
            tqdm(
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=part.name.removesuffix(".part"),
                disable=not self.progressbar,
            ) as bar,
        ):
            for chunk in response.iter_content(chunk_size=_CHUNK_BYTES):
                file.write(chunk)
                bar.update(len(chunk))


def _url_filename(url: str) -> str:
    return PurePosixPath(urlsplit(url).path).name


def download_archives(
    archives: Sequence[RemoteArchive],
    *,
    base_url: str,
    folder: str | os.PathLike,
    retries: int = 3,
    progressbar: bool = True,
) -> list[Path]:
    """Download archives into ``folder`` unless valid copies are there already.

    Parameters
    ----------
    archives : sequence of RemoteArchive
        What to download; each URL is ``base_url`` followed by the file name.
    base_url : str
        Address of the folder holding the archives.
    folder : str or path-like
        Where the archives are stored.
    retries : int, default=3
        How many times an interrupted or corrupted download is tried again;
        interrupted ones resume where they stopped.
    progressbar : bool, default=True
        Show progress bars on stderr.

    Returns
    -------
    paths : list of Path
        The local archives, in the order given.

    Raises
    ------
    ValueError
        If a downloaded archive does not have the expected md5 checksum (the
        file is deleted).
    OSError
        If the download still fails after ``retries`` further attempts.
    """
    if not base_url.endswith("/"):
        base_url += "/"
    registry = pooch.create(
        path=folder,
        base_url=base_url,
        registry={a.filename: f"md5:{a.md5}" for a in archives},
        retry_if_failed=retries,
    )
    downloader = ResumableHTTPDownloader(progressbar=progressbar)
    paths = []
    for archive in archives:
        url = registry.get_url(archive.filename)
        try:
            path = registry.fetch(archive.filename, downloader=downloader)
        except ValueError as exc:
            raise ValueError(
                f"The archive downloaded from {url} is corrupted: {exc} The file "
                "was deleted. Run the fetcher again; if this persists, check the "
                "base_url or the server."
            ) from exc
        except _TRANSIENT_ERRORS as exc:
            raise OSError(
                f"Downloading {url} failed {retries + 1} times ({exc}). The bytes "
                f"received are kept in {folder}; run the fetcher again to resume."
            ) from exc
        paths.append(Path(path))
    return paths


def extract_archive(archive: str | os.PathLike, destination: str | os.PathLike) -> None:
    """Extract a zip or tar archive after checking every member is safe.

    All members are checked before anything is written, so a hostile archive
    leaves the destination untouched (not even created). A member is refused
    when its path is absolute or climbs out with ``..``, when it is a link
    whose target lies outside the destination, when it is a device or a
    pipe, or when Python's ``"data"`` extraction filter would refuse it.
    Links are followed as they will exist after the members before them are
    extracted, so chains (``s -> .``, then ``l -> s/..``) are resolved whole.

    Parameters
    ----------
    archive : str or path-like
        A ``.zip`` file or a (possibly compressed) tar file.
    destination : str or path-like
        The folder the members are extracted into; created if needed.

    Raises
    ------
    ValueError
        If a member is unsafe (naming the archive and the member), or the
        file is neither a zip nor a tar archive.
    """
    archive = Path(archive)
    destination = Path(destination)
    root = destination.resolve()
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zipped:
            for name in zipped.namelist():
                _check_member_path(archive, name)
            destination.mkdir(parents=True, exist_ok=True)
            zipped.extractall(destination)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tarred:
            members = tarred.getmembers()
            links: dict[PurePosixPath, str] = {}
            for member in members:
                _check_tar_member(archive, member, root, links)
            destination.mkdir(parents=True, exist_ok=True)
            # The data filter repeats these checks inside tarfile itself.
            tarred.extractall(destination, members=members, filter="data")
    else:
        raise ValueError(
            f"{archive} is neither a zip nor a tar archive; delete it and fetch "
            "again."
        )


def _refuse(archive: Path, name: str, problem: str) -> ValueError:
    return ValueError(
        f"Refusing to extract {archive.name}: member {name!r} {problem}. The "
        "archive is corrupt or hostile; delete it."
    )


def _check_member_path(archive: Path, name: str) -> PurePosixPath:
    """Return member ``name`` as a relative path; refuse it outside the root."""
    posix = name.replace("\\", "/")
    if posix.startswith("/") or (len(posix) > 1 and posix[1] == ":"):
        raise _refuse(archive, name, "has an absolute path")
    path = PurePosixPath(posix)
    if ".." in path.parts:
        raise _refuse(archive, name, "climbs out of the target folder with '..'")
    return path


# More links in one path than this is a loop (Linux's own limit is 40).
_MAX_LINK_HOPS = 40


def _resolve_inside(
    parts: Sequence[str], links: dict[PurePosixPath, str], root: Path
) -> PurePosixPath | None:
    """Where ``parts`` (relative to the root) lead, or None if outside it.

    Symbolic links are followed as they will be once extracted: those of the
    archive's earlier members (``links``, by their resolved place) and those
    already in the destination folder. None also for a loop of links.
    """
    resolved: list[str] = []
    pending = list(parts)
    hops = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not resolved:
                return None
            resolved.pop()
            continue
        place = PurePosixPath(*resolved, part)
        target = links.get(place)
        if target is None and (root / place).is_symlink():
            target = os.readlink(root / place)
        if target is None:
            resolved.append(part)
            continue
        hops += 1
        if hops > _MAX_LINK_HOPS or os.path.isabs(target):
            return None
        # A link's target is relative to the folder holding the link.
        pending = list(PurePosixPath(target.replace("\\", "/")).parts) + pending
    return PurePosixPath(*resolved)


def _check_tar_member(
    archive: Path,
    member: tarfile.TarInfo,
    root: Path,
    links: dict[PurePosixPath, str],
) -> None:
    """Check ``member`` as extracted after the members before it.

    ``links`` maps the resolved place of every symbolic link seen so far to
    its target; a symbolic-link member is added to it.
    """
    path = _check_member_path(archive, member.name)
    if member.issym() or member.islnk():
        # The link itself lands in its folder, as resolved so far.
        folder = _resolve_inside(path.parent.parts, links, root)
        if folder is None:
            raise _refuse(
                archive, member.name, "lies behind a link out of the folder"
            )
        # Symbolic links are relative to their folder, hard links to the root.
        base = folder.parts if member.issym() else ()
        target = member.linkname.replace("\\", "/")
        if os.path.isabs(target) or _resolve_inside(
            [*base, *PurePosixPath(target).parts], links, root
        ) is None:
            raise _refuse(
                archive,
                member.name,
                f"links to {member.linkname!r}, outside the target folder",
            )
        if member.issym():
            links[folder / path.name] = target
    elif not (member.isfile() or member.isdir()):
        raise _refuse(
            archive,
            member.name,
            "is a device or a pipe, which a dataset archive never holds",
        )
    elif _resolve_inside(path.parts, links, root) is None:
        raise _refuse(
            archive, member.name, "would be written through a link out of the folder"
        )
    try:
        tarfile.data_filter(member, os.fspath(root))
    except tarfile.FilterError as exc:
        raise _refuse(
            archive, member.name, f"is refused by tarfile's filter ({exc})"
        ) from None


def fetch_archives(
    archives: Sequence[RemoteArchive],
    *,
    data_home: str | os.PathLike | None,
    base_url: str,
    download_if_missing: bool,
    keep_archives: bool,
    retries: int,
    progressbar: bool,
) -> Path:
    """Make sure every archive has been downloaded and extracted into data_home.

    An archive counts as done once a marker file
    ``.extracted/<archive name>`` exists under ``data_home``, written after
    its extraction succeeded; an interrupted extraction is redone.

    Parameters
    ----------
    archives : sequence of RemoteArchive
        The archives of the dataset.
    data_home : str or path-like or None
        See :func:`get_data_home`.
    base_url : str
        Address of the folder holding the archives.
    download_if_missing : bool
        If False, raise instead of downloading.
    keep_archives : bool
        Keep the archives in ``<data_home>/archives`` after extraction.
    retries : int
        Further attempts after an interrupted or corrupted download.
    progressbar : bool
        Show download progress.

    Returns
    -------
    data_home : Path
        The folder the archives were extracted into.

    Raises
    ------
    OSError
        If an archive is missing and ``download_if_missing`` is False, or the
        download keeps failing.
    ValueError
        If an archive is corrupted or holds unsafe members.
    """
    home = Path(get_data_home(data_home))
    markers = home / ".extracted"
    todo = [a for a in archives if not (markers / a.filename).exists()]
    if todo and not download_if_missing:
        raise OSError(
            f"The archives {[a.filename for a in todo]} have not been extracted "
            f"into {home} and download_if_missing is False. Fetch them with "
            "download_if_missing=True, or point data_home to where they are."
        )
    folder = home / "archives"
    for archive in todo:
        (path,) = download_archives(
            [archive],
            base_url=base_url,
            folder=folder,
            retries=retries,
            progressbar=progressbar,
        )
        extract_archive(path, home)
        markers.mkdir(exist_ok=True)
        (markers / archive.filename).write_text(f"md5:{archive.md5}\n")
        if not keep_archives:
            path.unlink()
    return home
