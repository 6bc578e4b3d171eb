"""A callback made of several callbacks, each with its own state."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import equinox as eqx
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

    Read one by position or by name, without knowing the list's order:
    `state[EvalCallback]` is the state of the list's `EvalCallback`, and
    `state[EvalState]` the state that is an `EvalState`.

    Attributes:
        states: One state per callback.
        kinds: The callbacks' classes, in the same order.
    """

    states: tuple[AbstractCallbackState, ...]
    kinds: tuple[type, ...] = eqx.field(static=True, default=())

    def __getitem__(self, key: int | type) -> AbstractCallbackState:
        """The state of one callback.

        Args:
            key: A position in the list; a callback class (the state of the
                callback of that class, subclasses included); or a state class
                (the state of that class).

        Returns:
            The callback's state.

        Raises:
            KeyError: If no callback, or more than one, matches a class (the
                message lists the callbacks).
            TypeError: If `key` is neither an int nor a class.
        """
        if isinstance(key, int):
            return self.states[key]
        if not isinstance(key, type):
            raise TypeError(
                f"ListCallbackState: index with an int or a callback class, got "
                f"{type(key).__name__}."
            )
        if issubclass(key, AbstractCallbackState):
            found = [i for i, s in enumerate(self.states) if isinstance(s, key)]
        else:
            found = [i for i, k in enumerate(self.kinds) if issubclass(k, key)]
        if len(found) != 1:
            names = [k.__name__ for k in self.kinds] or [
                type(s).__name__ for s in self.states
            ]
            how = "no" if not found else f"{len(found)} (at {found}); index by position"
            raise KeyError(
                f"ListCallbackState: {how} entries match {key.__name__}; the "
                f"callbacks are {names}."
            )
        return self.states[found[0]]


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
            ),
            kinds=tuple(type(cb) for cb in self.callbacks),
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
            kinds=ctx.state.kinds,
            states=tuple(
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
            ),
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
            ),
            kinds=state.kinds,
        )
