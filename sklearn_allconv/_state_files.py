"""Nested state in one safetensors file, written and read without pickle.

A *state tree* is built from dicts, lists, tuples, strings, numbers, booleans,
None, torch tensors and numpy arrays. :func:`write_state_file` stores every
tensor and array as a safetensors tensor and the rest of the tree as JSON in
the file's header metadata, where each tensor appears as a reference to its
name. :func:`read_state_file` rebuilds the tree. Reading parses JSON and raw
tensor bytes only, so a file from an untrusted source cannot run code; its
values can still be wrong, and the callers validate them.

The header also records a SHA-256 digest of the tensors (names, dtypes, shapes
and bytes): a file whose tensor data was damaged after writing, by a flipped
bit on a disk or a truncated copy, is refused instead of loading with
slightly different weights. The length of the header is checked before it is
read, so a file cannot make the reader allocate more than its own size plus
:data:`MAX_HEADER_BYTES`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import struct
from typing import Any

import numpy as np
import safetensors
import torch
from safetensors.torch import save_file

__all__ = ["MAX_HEADER_BYTES", "read_state_file", "write_state_file"]

_HEADER_KEY = "sklearn_allconv"
_FORMAT_VERSION = 1
# Markers of the values JSON cannot hold; a dict with one of these keys and
# nothing else stands for that value.
_TENSOR, _ARRAY, _TUPLE, _ITEMS = "__tensor__", "__ndarray__", "__tuple__", "__items__"
_MARKERS = {_TENSOR, _ARRAY, _TUPLE, _ITEMS}
# The largest safetensors header (tensor table and JSON description) read.
# A model's header is a few kilobytes and a checkpoint's some hundred; a
# larger one is damaged or made to exhaust memory.
MAX_HEADER_BYTES = 16 * 2**20


def write_state_file(path: str | os.PathLike, tree: Any, *, kind: str) -> None:
    """Write ``tree`` to ``path`` as one safetensors file.

    The file is written next to ``path`` under a temporary name and then
    renamed, so a crash never leaves a half-written file at ``path``.

    Parameters
    ----------
    path : str or path-like
        Destination file.
    tree : object
        The state tree (see the module docstring).
    kind : str
        What the file holds ("model", "checkpoint"); :func:`read_state_file`
        refuses a file of another kind.

    Raises
    ------
    TypeError
        If the tree holds a value of another type; the message gives its place.
    OSError
        If the file cannot be written (a read-only folder, a full disk); the
        message names ``path``, and no partial file is left behind.
    """
    tensors: dict[str, torch.Tensor] = {}
    encoded = _encode(tree, "", tensors)
    header = {
        "kind": kind,
        "format_version": _FORMAT_VERSION,
        "tensor_sha256": _tensor_digest(tensors),
        "tree": encoded,
    }
    metadata = {_HEADER_KEY: json.dumps(header)}
    name = os.fspath(path)
    directory, base = os.path.split(os.path.abspath(name))
    temporary = os.path.join(directory, f".{base}.{secrets.token_hex(8)}.partial")
    try:
        # The file gets the mode any new file of the user gets (0o666 less the
        # umask), as the kernel gives it to this empty file: safetensors
        # writes its files with mode 0o600, which would make every model file
        # private.
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        mode = os.fstat(handle).st_mode & 0o777
        os.close(handle)
    except OSError as exc:
        raise _write_error(exc, name) from exc
    try:
        try:
            save_file(tensors, temporary, metadata=metadata)
            os.chmod(temporary, mode)
        except (safetensors.SafetensorError, OSError) as exc:
            raise _write_error(exc, name) from exc
        os.replace(temporary, name)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def read_state_file(path: str | os.PathLike, *, kind: str) -> Any:
    """Read a state tree written by :func:`write_state_file`.

    Parameters
    ----------
    path : str or path-like
        The file.
    kind : str
        The kind of file expected.

    Returns
    -------
    object
        The state tree; tensors are on the CPU, arrays are numpy arrays.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a safetensors file written by this library, is of
        another kind or version, or its references and tensors disagree.
    """
    name = os.fspath(path)
    if not os.path.isfile(name):
        raise FileNotFoundError(f"{kind.capitalize()} file {name!r} does not exist.")
    problem = f"{name!r} is not a readable sklearn-allconv {kind} file"
    _check_header_length(name, problem)
    try:
        with safetensors.safe_open(name, framework="pt", device="cpu") as file:
            metadata = file.metadata() or {}
            tensors = {key: file.get_tensor(key) for key in file.keys()}
    except (safetensors.SafetensorError, OSError, ValueError) as exc:
        raise ValueError(f"{problem}: {exc}") from exc
    if _HEADER_KEY not in metadata:
        raise ValueError(
            f"{problem}: its safetensors header has no {_HEADER_KEY!r} entry."
        )
    try:
        header = json.loads(metadata[_HEADER_KEY])
    except (ValueError, RecursionError) as exc:
        raise ValueError(
            f"{problem}: its description is not valid JSON ({exc})."
        ) from exc
    if not isinstance(header, dict) or "tree" not in header:
        raise ValueError(f"{problem}: its description has no 'tree' entry.")
    if header.get("kind") != kind:
        raise ValueError(
            f"{name!r} holds a {header.get('kind')!r}, not a {kind!r}; "
            f"use the function that reads {header.get('kind')!r} files."
        )
    if header.get("format_version") != _FORMAT_VERSION:
        raise ValueError(
            f"{name!r} has format version {header.get('format_version')!r}; this "
            f"version of sklearn-allconv reads version {_FORMAT_VERSION}. "
            "Upgrade sklearn-allconv."
        )
    if header.get("tensor_sha256") != _tensor_digest(tensors):
        raise ValueError(
            f"{problem}: its tensor data does not match the digest in its "
            "header (field 'tensor_sha256'), so the file was damaged or changed "
            "after it was written. Copy or download it again."
        )
    used: set[str] = set()
    try:
        tree = _decode(header["tree"], tensors, used)
    except RecursionError as exc:
        raise ValueError(f"{problem}: its description is nested too deeply.") from exc
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{problem}: {exc}") from exc
    unused = sorted(set(tensors) - used)
    if unused:
        raise ValueError(
            f"{problem}: it holds tensors its description does not mention: "
            f"{unused[:5]}."
        )
    return tree


def _write_error(exc: Exception, name: str) -> OSError:
    """An ``OSError`` naming ``name`` for a failure to write it.

    safetensors reports I/O failures (a full disk, EIO) as its own error type
    with the OS error number in the text; callers handle every failure to
    write as an ``OSError``.
    """
    if isinstance(exc, OSError) and exc.errno is not None:
        code = exc.errno
    else:
        match = re.search(r"os error (\d+)", str(exc))
        code = int(match.group(1)) if match else errno.EIO
    return OSError(
        code,
        f"{os.strerror(code)}: nothing was written ({exc}); free space or "
        "write to another folder",
        name,
    )


def _check_header_length(name: str, problem: str) -> None:
    """Refuse a header longer than the file or than :data:`MAX_HEADER_BYTES`.

    safetensors reads the header whole; its length comes first, as 8 bytes.
    """
    size = os.path.getsize(name)
    try:
        with open(name, "rb") as file:
            prefix = file.read(8)
    except OSError as exc:
        raise ValueError(f"{problem}: {exc}") from exc
    if len(prefix) < 8:
        raise ValueError(f"{problem}: it is {size} bytes long, too short for a header.")
    (length,) = struct.unpack("<Q", prefix)
    if length > min(MAX_HEADER_BYTES, size - 8):
        raise ValueError(
            f"{problem}: its header length field says {length} bytes, more than "
            f"the file holds or the {MAX_HEADER_BYTES} bytes a header may have. "
            "The file is damaged or was made to exhaust memory."
        )


def _tensor_digest(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, by name."""
    digest = hashlib.sha256()
    for key in sorted(tensors):
        tensor = tensors[key].detach().contiguous()
        digest.update(json.dumps([key, str(tensor.dtype), list(tensor.shape)]).encode())
        # An ndarray is a buffer; numpy declares __buffer__ only for Python 3.12+.
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())  # type: ignore[arg-type]
    return digest.hexdigest()


def _encode(value: Any, place: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Turn ``value`` into JSON, moving tensors and arrays into ``tensors``."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.Tensor):
        # A copy on the CPU: the file records no device, and safetensors
        # refuses tensors that share memory.
        tensors[place] = value.detach().to("cpu", copy=True).contiguous()
        return {_TENSOR: place}
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise TypeError(
                f"Cannot store the {value.dtype} array at {place or 'the root'!r}; "
                "only numeric and boolean arrays are stored as tensors."
            )
        tensors[place] = torch.from_numpy(np.ascontiguousarray(value).copy())
        return {_ARRAY: place}
    if isinstance(value, (list, tuple)):
        items = [
            _encode(item, _child(place, i), tensors) for i, item in enumerate(value)
        ]
        return {_TUPLE: items} if isinstance(value, tuple) else items
    if isinstance(value, dict):
        if all(isinstance(key, str) for key in value) and not _MARKERS & set(value):
            return {
                key: _encode(item, _child(place, key), tensors)
                for key, item in value.items()
            }
        if not all(isinstance(key, (str, int, float)) for key in value):
            raise TypeError(
                f"Cannot store the dict at {place or 'the root'!r}: its keys must "
                "be strings or numbers."
            )
        # Optimizer states are keyed by integers, which JSON objects cannot be.
        return {
            _ITEMS: [
                [key, _encode(item, _child(place, key), tensors)]
                for key, item in value.items()
            ]
        }
    raise TypeError(
        f"Cannot store the {type(value).__name__} at {place or 'the root'!r}: only "
        "dicts, lists, tuples, strings, numbers, booleans, None, tensors and "
        "numeric arrays can be stored."
    )


def _child(place: str, key: Any) -> str:
    """The tensor name of an element: the path of keys from the root."""
    return f"{place}/{key}" if place else str(key)


def _decode(value: Any, tensors: dict[str, torch.Tensor], used: set[str]) -> Any:
    """Inverse of :func:`_encode`."""
    if isinstance(value, list):
        return [_decode(v, tensors, used) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1 and set(value) <= _MARKERS:
        (marker, content), = value.items()
        if marker in (_TENSOR, _ARRAY):
            if not isinstance(content, str) or content not in tensors:
                raise ValueError(
                    f"the description refers to a tensor {content!r} that the "
                    "file does not hold."
                )
            used.add(content)
            tensor = tensors[content]
            return tensor if marker == _TENSOR else tensor.numpy()
        if not isinstance(content, list):
            raise ValueError(f"{marker} must hold a list, got {content!r}.")
        if marker == _TUPLE:
            return tuple(_decode(v, tensors, used) for v in content)
        if not all(isinstance(pair, list) and len(pair) == 2 for pair in content):
            raise ValueError(f"{marker} must hold [key, value] pairs.")
        if not all(isinstance(key, (str, int, float)) for key, _ in content):
            raise ValueError(f"{marker} keys must be strings or numbers.")
        return {key: _decode(v, tensors, used) for key, v in content}
    return {key: _decode(v, tensors, used) for key, v in value.items()}
