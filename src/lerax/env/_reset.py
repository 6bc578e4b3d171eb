"""Resetting a finished episode inside a rollout: `auto_reset` and `ResetWhereDone`.

A rollout steps one environment per batch element under `jax.vmap`; where an
episode ended it needs the environment reset. The default (what lerax always
did) resets every environment on every step and keeps the fresh state where the
episode ended: one `jnp.where`, no branch, cheap when `reset` is cheap. An
environment whose reset is expensive (Craftax generates a world) declares
`AbstractEnvLike.reset_scheme = ResetWhereDone(...)`, and the reset is computed
only on steps where some environment of the whole batch is done.

Under `jax.vmap` a `lax.cond` on a batched predicate becomes a select that runs
both branches, so "only where done" must be decided on the batch, outside the
per-environment `vmap`. `ResetWhereDone` does it with `jax.custom_batching`: a
call for one environment is `cond(done, reset, keep)`; its batching rule turns a
vmapped call into one call on the whole batch (`cond(any(done), ...)`), and an
outer `vmap` (`jax.vmap(learn)` over seeds) folds its axis into that batch, so
the branch stays a branch at every level.

Environment `i` is always reset with its own key, so the result is the one
the default gives, bit for bit, whatever the pool size: the scheme changes the
cost, never the states.
"""

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_batching import custom_vmap
from jaxtyping import Array, Bool, Key

from ._base import AbstractEnvLike


def _select(done: Bool[Array, " *batch"], new: Any, old: Any) -> Any:
    def pick(a: Array, b: Array) -> Array:
        # Leaves may be Python scalars (Brax states hold some).
        where = jnp.reshape(done, done.shape + (1,) * (jnp.ndim(b) - done.ndim))
        return jnp.where(where, a, b)

    return jax.tree.map(pick, new, old)


class ResetWhereDone(eqx.Module):
    """Reset a batch of environments only where done, and only when some is.

    An environment returns it from `AbstractEnvLike.reset_scheme` to declare
    that its `reset` is expensive. The rollout (`auto_reset`) then resets, on
    each step, as follows (over every environment of the step, seeds under
    `jax.vmap(learn)` included):

    - no environment done: `reset` is not run;
    - `pool_size=None`, or more than `pool_size` done: `reset` runs for every
      environment (one batched call) and the done ones keep the result;
    - `pool_size=k` and between 1 and `k` done: `reset` runs `k` times, for the
      first `k` done environments, each with its own key.

    Every done environment gets `reset(key=its own key)`, so no fresh state
    is ever shared between environments (Craftax_Baselines' optimistic pool hands
    one world to several environments when more finish than it drew:
    Craftax_Baselines#11) and the states equal those of the default scheme.

    Attributes:
        pool_size: How many resets a step with few finished environments
            computes, or None for as many as environments.
    """

    pool_size: int | None = eqx.field(static=True)

    def __init__(self, pool_size: int | None = None):
        """Declare the scheme.

        Args:
            pool_size: A positive int, or None (reset every environment on a
                step where some is done).

        Raises:
            ValueError: If `pool_size` is neither None nor a positive int.
        """
        if pool_size is not None and (
            isinstance(pool_size, bool)
            or not isinstance(pool_size, int | np.integer)
            or pool_size < 1
        ):
            raise ValueError(
                f"ResetWhereDone: pool_size must be a positive int or None, got "
                f"{pool_size!r}."
            )
        self.pool_size = None if pool_size is None else int(pool_size)

    def __call__(
        self,
        env: AbstractEnvLike,
        state: Any,
        observation: Any,
        done: Bool[Array, ""],
        *,
        key: Key[Array, ""],
    ) -> tuple[Any, Any]:
        """Reset one environment where `done`; batch it with `jax.vmap`.

        Called for one environment, this is `env.reset(key=key)` when `done`
        and `(state, observation)` otherwise. Under `jax.vmap` the batch is
        reset as a whole (see the class).

        Args:
            env: The environment (unbatched: the same for every element).
            state: Its state after a step.
            observation: The observation of that state.
            done: Whether the episode ended (terminated or truncated).
            key: The key this environment's reset uses.

        Returns:
            The state and observation, reset if `done`.
        """
        dynamic, static = eqx.partition(env, eqx.is_array)
        batch = _batch_function(static, self.pool_size)

        @custom_vmap
        def one(dynamic, state, observation, done, key):
            args = jax.tree.map(lambda x: x[None], (state, observation, done, key))
            return jax.tree.map(lambda x: x[0], batch(dynamic, *args))

        @one.def_vmap
        def _(axis_size, in_batched, dynamic, *args):
            args = _broadcast(axis_size, tuple(in_batched[1:]), args)
            if any(jax.tree.leaves(in_batched[0])):
                # A batch of environments (not of states): nothing to share,
                # each resets on its own (the cond becomes a select).
                impl = _impl(static, None)

                def single(dynamic, *args):
                    args = jax.tree.map(lambda x: x[None], args)
                    return jax.tree.map(lambda x: x[0], impl(dynamic, *args))

                dynamic = _broadcast(axis_size, in_batched[0], dynamic)
                out = jax.vmap(single)(dynamic, *args)
                return out, jax.tree.map(lambda _: True, out)
            out = batch(dynamic, *args)
            return out, jax.tree.map(lambda _: True, out)

        return one(dynamic, state, observation, jnp.asarray(done, bool), key)


def _broadcast(axis_size: int, batched: Any, args: Any) -> Any:
    # Leaves vmap did not batch (a constant part of a state) get the batch axis.
    return jax.tree.map(
        lambda b, x: x if b else jnp.broadcast_to(x, (axis_size,) + jnp.shape(x)),
        batched,
        args,
    )


def _impl(static: Any, pool_size: int | None) -> Callable:
    # The reset of a batch with leading axis `n`, for one environment.
    def reset(dynamic, keys):
        env = eqx.combine(dynamic, static)
        return jax.vmap(lambda k: env.reset(key=k)[:2])(keys)

    def impl(dynamic, states, observations, done, keys):
        num = done.shape[0]

        def keep():
            return states, observations

        def full():
            return _select(done, reset(dynamic, keys), (states, observations))

        count = jnp.sum(done)
        if pool_size is None or pool_size >= num:
            return jax.lax.cond(count > 0, full, keep)

        def pool():
            (first,) = jnp.nonzero(done, size=pool_size, fill_value=0)
            fresh = reset(dynamic, keys[first])
            rank = jnp.clip(jnp.cumsum(done) - 1, 0, pool_size - 1)
            fresh = jax.tree.map(lambda x: x[rank], fresh)
            return _select(done, fresh, (states, observations))

        branch = jnp.where(count == 0, 0, jnp.where(count <= pool_size, 1, 2))
        return jax.lax.switch(branch, [keep, pool, full])

    return impl


def _batch_function(static: Any, pool_size: int | None) -> Callable:
    # `impl` on one batch; a vmapped call folds its axis into the batch, so an
    # outer `jax.vmap` keeps one branch for all of it.
    impl = _impl(static, pool_size)

    @custom_vmap
    def batch(dynamic, states, observations, done, keys):
        return impl(dynamic, states, observations, done, keys)

    @batch.def_vmap
    def _(axis_size, in_batched, dynamic, *args):
        args = _broadcast(axis_size, tuple(in_batched[1:]), args)
        if any(jax.tree.leaves(in_batched[0])):
            # A batch of environments: one cond per environment's batch.
            dynamic = _broadcast(axis_size, in_batched[0], dynamic)
            out = jax.vmap(impl)(dynamic, *args)
            return out, jax.tree.map(lambda _: True, out)
        inner = args[2].shape[1]
        flat = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), args)
        out = batch(dynamic, *flat)
        out = jax.tree.map(lambda x: x.reshape((axis_size, inner) + x.shape[1:]), out)
        return out, jax.tree.map(lambda _: True, out)

    return batch


def auto_reset(
    env: AbstractEnvLike,
    state: Any,
    observation: Any,
    done: Bool[Array, ""],
    *,
    key: Key[Array, ""],
) -> tuple[Any, Any]:
    """Reset one environment of a rollout where its episode ended.

    What a rollout step calls after `env.step`, for one environment (vmap it
    over the batch): the environment is reset with `key` where `done`, and
    `(state, observation)` is kept otherwise. How the reset is computed follows
    the environment's declared `reset_scheme`: with None (the default) `reset`
    runs on every step and is selected where done; with a `ResetWhereDone`
    only on steps where some environment of the batch is done. Both give the
    same states.

    Args:
        env: The environment.
        state: The state after the step.
        observation: Its observation (the pre-reset one).
        done: Whether the episode ended (terminated or truncated).
        key: The key of this environment's reset.

    Returns:
        `(state, observation)`, reset if `done`.
    """
    scheme = env.reset_scheme
    if scheme is None:
        # Exactly the select lerax's rollout always made (one scalar `done`).
        reset_state, reset_observation, _ = env.reset(key=key)

        def pick(new: Any, old: Any) -> Any:
            return jax.tree.map(lambda a, b: jnp.where(done, a, b), new, old)

        return pick(reset_state, state), pick(reset_observation, observation)
    return scheme(env, state, observation, done, key=key)
