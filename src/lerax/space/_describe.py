"""`describe_space`: a space as an error message should show it."""

from __future__ import annotations

from typing import Any

from lerax._checks import plain

from ._box import Box


def describe_space(space: Any) -> str:
    """A space's repr, with a `Box`'s bounds spelled out.

    A `Box`'s repr shows its shape and dtype only (its bounds can be large
    arrays); a message about a value outside the space, or about two spaces that
    differ, needs the bounds too.

    Args:
        space: A lerax space (or any value, described by its repr).

    Returns:
        `repr(space)`, with `low=` and `high=` (first few numbers) added for a
        `Box`.
    """
    if isinstance(space, Box):
        inner = repr(space)[:-1]
        return f"{inner}, low={plain(space.low)}, high={plain(space.high)})"
    return repr(space)
