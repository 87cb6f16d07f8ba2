"""Import an optional dependency, or say which extra of the package brings it."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["import_optional"]


def import_optional(module: str, *, extra: str, purpose: str) -> ModuleType:
    """Import ``module``, which only the ``extra`` of sklearn-allconv installs.

    Parameters
    ----------
    module : str
        Dotted module name, e.g. ``"matplotlib.pyplot"``.
    extra : str
        The optional-dependency group of ``pyproject.toml`` that declares it.
    purpose : str
        What needs it, for the error message, e.g. ``"TrainingHistoryDisplay.plot"``.

    Returns
    -------
    module : module
        The imported module.

    Raises
    ------
    ImportError
        If the module is not installed; the message names the extra to install.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise ImportError(
            f"{purpose} needs {top}, which is not installed. Install it with "
            f"pip install 'sklearn-allconv[{extra}]' (or pip install {top})."
        ) from exc
