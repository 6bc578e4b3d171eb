"""The callback that does nothing, and costs nothing."""

from __future__ import annotations

from jaxtyping import Array, Key

from ._base import (
    AbstractCallback,
    EmptyCallbackState,
    EmptyCallbackStepState,
    IterationContext,
    ResetContext,
    StepContext,
)


class EmptyCallback(AbstractCallback):
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

    def step_reset(self, *, key: Key[Array, ""]) -> EmptyCallbackStepState:
        """Return the empty step state.

        Args:
            key: Ignored.

        Returns:
            `EmptyCallbackStepState()`.
        """
        return EmptyCallbackStepState()

    def on_step(
        self, ctx: StepContext, *, key: Key[Array, ""]
    ) -> EmptyCallbackStepState:
        """Return the empty step state.

        Args:
            key: Ignored.

        Returns:
            `EmptyCallbackStepState()`.
        """
        return EmptyCallbackStepState()

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
