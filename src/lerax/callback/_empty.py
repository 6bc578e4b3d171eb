"""The callback that does nothing, and costs nothing."""

from __future__ import annotations

from jaxtyping import Array, Key

from ._base import (
    AbstractIterationCallback,
    EmptyCallbackState,
    IterationContext,
    ResetContext,
)


class EmptyCallback(AbstractIterationCallback):
    """A callback with no state and no effect; used when `callback=None`."""

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> EmptyCallbackState:
        """Return the empty state.

        Args:
            ctx: Ignored.
            key: Ignored.

        Returns:
            `EmptyCallbackState()`.
        """
        return EmptyCallbackState()

    def on_iteration(
        self, ctx: IterationContext, *, key: Key[Array, ""]
    ) -> EmptyCallbackState:
        """Return the empty state.

        Args:
            ctx: Ignored.
            key: Ignored.

        Returns:
            `EmptyCallbackState()`.
        """
        return EmptyCallbackState()
