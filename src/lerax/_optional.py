"""Lazy imports of optional extras, with an error that says how to install them."""

from __future__ import annotations

import importlib
from types import ModuleType


def import_extra(module: str, extra: str, *, owner: str) -> ModuleType:
    """Import `module`, an optional dependency provided by `lerax[extra]`.

    Args:
        module: The module to import (for example `"rich.progress"`).
        extra: The lerax extra that installs it (for example `"progress"`).
        owner: What needs it, for the message (for example
            `"ProgressBarCallback"`).

    Returns:
        The imported module.

    Raises:
        ImportError: If the module is not installed; the message names the
            `pip install` command that fixes it.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"{owner} needs the optional dependency {module.split('.')[0]!r}, which "
            f"is not installed; install it with: pip install 'lerax[{extra}]'"
        ) from error
