"""A callback made of several callbacks, each with its own state."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
from jaxtyping import Array, Key

from ._base import (
    AbstractCallback,
    AbstractCallbackState,
    AbstractCallbackStepState,
    IterationContext,
    ResetContext,
    StepContext,
)


class ListCallbackState(AbstractCallbackState):
    """The states of a `ListCallback`'s callbacks, in order.

    Attributes:
        states: One state per callback.
    """

    states: tuple[AbstractCallbackState, ...]


class ListCallbackStepState(AbstractCallbackStepState):
    """The step states of a `ListCallback`'s callbacks, in order.

    Attributes:
        states: One step state per callback.
    """

    states: tuple[AbstractCallbackStepState, ...]


class ListCallback(AbstractCallback):
    """Run several callbacks in order, each seeing only its own state.

    Attributes:
        callbacks: The callbacks.
    """

    callbacks: tuple[AbstractCallback, ...]

    def __init__(self, callbacks: Sequence[AbstractCallback]):
        """Create the callback.

        Args:
            callbacks: The callbacks to run, in order.

        Raises:
            TypeError: If an entry is not an `AbstractCallback`.
        """
        callbacks = tuple(callbacks)
        for i, cb in enumerate(callbacks):
            if not isinstance(cb, AbstractCallback):
                raise TypeError(
                    f"ListCallback: entry {i} is {type(cb).__name__}, "
                    "not an AbstractCallback."
                )
        self.callbacks = callbacks

    def _keys(self, key: Key[Array, ""]) -> Array:
        return jax.random.split(key, max(len(self.callbacks), 1))

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> ListCallbackState:
        """Reset every callback.

        Args:
            ctx: The run's sizes.
            key: A JAX PRNG key.

        Returns:
            The tuple of initial states.
        """
        keys = self._keys(key)
        return ListCallbackState(
            tuple(
                cb.reset(ctx, key=k)
                for cb, k in zip(self.callbacks, keys, strict=False)
            )
        )

    def step_reset(self, *, key: Key[Array, ""]) -> ListCallbackStepState:
        """Reset every callback's step state.

        Args:
                        key: A JAX PRNG key.

        Returns:
            The tuple of initial step states.
        """
        keys = self._keys(key)
        return ListCallbackStepState(
            tuple(
                cb.step_reset(key=k)
                for cb, k in zip(self.callbacks, keys, strict=False)
            )
        )

    def on_step(
        self, ctx: StepContext, *, key: Key[Array, ""]
    ) -> ListCallbackStepState:
        """Call every callback's `on_step` with its own step state.

        Args:
            ctx: The step's data; `ctx.state` is a `ListCallbackStepState`.
            key: A JAX PRNG key.

        Returns:
            The tuple of new step states.
        """
        keys = self._keys(key)
        return ListCallbackStepState(
            tuple(
                cb.on_step(dataclasses.replace(ctx, state=s), key=k)
                for cb, s, k in zip(
                    self.callbacks, ctx.state.states, keys, strict=False
                )
            )
        )

    def on_iteration(
        self, ctx: IterationContext, *, key: Key[Array, ""]
    ) -> ListCallbackState:
        """Call every callback's `on_iteration` with its own states.

        Args:
            ctx: The iteration's data; `ctx.state` is a `ListCallbackState`.
            key: A JAX PRNG key.

        Returns:
            The tuple of new states.
        """
        keys = self._keys(key)
        return ListCallbackState(
            tuple(
                cb.on_iteration(
                    dataclasses.replace(ctx, state=s, step_states=ss), key=k
                )
                for cb, s, ss, k in zip(
                    self.callbacks,
                    ctx.state.states,
                    ctx.step_states.states,
                    keys,
                    strict=False,
                )
            )
        )

    def extend(self, state: ListCallbackState, ctx: ResetContext) -> ListCallbackState:
        """Extend every callback's state to a longer run.

        Args:
            state: The tuple of states.
            ctx: The run's sizes, with the new total.

        Returns:
            The tuple of extended states.
        """
        return ListCallbackState(
            tuple(
                cb.extend(s, ctx)
                for cb, s in zip(self.callbacks, state.states, strict=False)
            )
        )
