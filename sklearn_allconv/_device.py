"""Where the estimators compute: ``device="auto"`` and what the machine offers."""

from __future__ import annotations

import platform
from typing import Any

import torch


class AutoDevice:
    """Resolve ``device="auto"`` for skorch while ``get_params`` keeps "auto".

    skorch moves modules and tensors with ``self.device``; this data descriptor
    hands it ``"cuda"`` or ``"cpu"`` while the parameter stays as given, so that
    ``clone`` and ``get_params`` see the user's value.
    """

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        params = obj if isinstance(obj, dict) else obj.__dict__
        device = params.get("device", "auto")
        if device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return device

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__["device"] = value


def check_cuda_available(device: Any) -> None:
    """Raise a ValueError that says what to do when CUDA is asked for but absent."""
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available on this "
            "machine (torch.cuda.is_available() is False: no GPU, no driver, or a "
            "CPU-only build of PyTorch); use device='cpu' or 'auto'."
        )


def cpu_has_native_bfloat16() -> bool:
    """Whether this CPU has bfloat16 matrix instructions PyTorch uses.

    Only x86 CPUs are checked (AVX512-BF16 or AMX); elsewhere the answer is
    assumed to be yes, as there is no reliable test.
    """
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return True
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    found = [getattr(torch.cpu, name, None) for name in checks]
    if not any(found):
        return True
    return any(check() for check in found if check is not None)
