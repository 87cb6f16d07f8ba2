"""Training progress as people read it: in a terminal, in a log file, in a long run.

:class:`EpochTable` is skorch's epoch table (the estimators' ``verbose=1``
output) that colours the best values only on a terminal, so that a log
redirected to a file holds no ANSI escape codes. :class:`EpochProgress`
writes one self-contained line per epoch on standard error: what is
training, the epoch, the losses and the time, for runs that train many
networks one after the other (cross-validation, the ``demo`` command).
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

from skorch.callbacks import Callback, PrintLog

__all__ = ["EpochProgress", "EpochTable"]

_ANSI_CODE = re.compile(r"\x1b\[[0-9;]*m")


def _colour_allowed() -> bool:
    """True on a terminal, unless the user set ``NO_COLOR`` (no-color.org)."""
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR")


class EpochTable(PrintLog):
    """The epoch table of skorch, with coloured best values on a terminal only.

    The table of :class:`skorch.callbacks.PrintLog`, which marks the best
    losses with ANSI colour codes; these codes are left out when standard
    output is not a terminal (a file, a pipe) or when the ``NO_COLOR``
    environment variable is set. The estimators use it as their
    ``print_log`` callback. The parameters are those of ``PrintLog``.

    Parameters
    ----------
    keys_ignored : str or list of str, default=None
        History keys not to show.
    sink : callable, default=print
        Where the lines go; ``print`` writes them only when the net is
        verbose.
    tablefmt : str, default="simple"
        Table format of ``tabulate``.
    floatfmt : str, default=".4f"
        Number format.
    stralign : str, default="right"
        Alignment of the columns.

    See Also
    --------
    EpochProgress : One line per epoch on standard error.

    Examples
    --------
    >>> from sklearn_allconv.progress import EpochTable
    >>> EpochTable(floatfmt=".3f").floatfmt
    '.3f'
    """

    def table(self, row: dict[str, Any]) -> str:
        """Tabulate one epoch's row; without colour codes off a terminal.

        Parameters
        ----------
        row : dict
            The epoch's history row.

        Returns
        -------
        text : str
            Header, rule and row, as tabulated by skorch.
        """
        text = super().table(row)
        return text if _colour_allowed() else _ANSI_CODE.sub("", text)


class EpochProgress(Callback):
    """One line per epoch on standard error: label, epoch, losses, time.

    Each line stands on its own (``"Scenes, fold 2/4: epoch 7/30, train
    loss 1.2034, 0.8 s"``), so that runs that train many networks after
    one another show where they are, in a terminal or in a log file.

    Parameters
    ----------
    label : str, default=""
        What is training, put before each line.

    See Also
    --------
    EpochTable : The epoch table of skorch (``verbose=1``).

    Examples
    --------
    >>> from sklearn_allconv import SceneClassifier
    >>> from sklearn_allconv.progress import EpochProgress
    >>> clf = SceneClassifier(callbacks=[("progress", EpochProgress("Fold 1"))])
    >>> clf = clf.set_params(callbacks__progress__label="Fold 2")
    """

    def __init__(self, label: str = "") -> None:
        self.label = label

    def on_epoch_end(self, net: Any, **kwargs: Any) -> None:
        """Write the epoch's line.

        Parameters
        ----------
        net : skorch.NeuralNet
            The network being trained.
        **kwargs
            Ignored.
        """
        row = net.history[-1]
        parts = [f"epoch {row['epoch']}/{net.max_epochs}"]
        for key in ("train_loss", "valid_loss"):
            if key in row:
                parts.append(f"{key.replace('_', ' ')} {row[key]:.4f}")
        parts.append(f"{row['dur']:.1f} s")
        prefix = f"{self.label}: " if self.label else ""
        print(prefix + ", ".join(parts), file=sys.stderr, flush=True)
