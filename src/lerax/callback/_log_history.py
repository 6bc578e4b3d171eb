"""Every iteration's training statistics, recorded into callback state."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, Key

from ._base import (
    AbstractCallbackState,
    AbstractIterationCallback,
    IterationContext,
    ResetContext,
    check_log_keys,
    grow_records,
)


class LogHistoryState(AbstractCallbackState):
    """The recorded statistics of the whole run.

    Attributes:
        history: For each recorded log entry, its value at every iteration (NaN
            for iterations not yet run).
    """

    history: dict[str, Float[Array, " num_iterations"]]


def _as_keys(keys) -> tuple[str, ...]:
    if isinstance(keys, str):
        return (keys,)
    return tuple(keys)


class LogHistoryCallback(AbstractIterationCallback):
    """Record chosen entries of the algorithm's training log at every iteration.

    The algorithm's `train` reports scalars each iteration (for `PPO`: the mean
    `PPOStats` fields `approx_kl`, `clip_fraction`, `total_loss`, `policy_loss`,
    `value_loss`, `entropy_loss`, `explained_variance`; for `PQN`: `td_loss`,
    `q_mean`, `target_mean`, `learning_rate`). This callback keeps the
    chosen ones as `(num_iterations,)` float32 arrays in its state, so loss and
    KL curves come out of the compiled run with the final state (`learn_state`),
    also under `jax.vmap` over seeds, with no host round trip.

    Attributes:
        keys: The log entries to record.

    Raises:
        ValueError: If `keys` is empty or repeats an entry.
        TypeError: If a key is not a string.
    """

    keys: tuple[str, ...] = eqx.field(static=True, converter=_as_keys)

    def __check_init__(self):
        if not self.keys:
            raise ValueError("LogHistoryCallback: keys must name at least one entry.")
        for k in self.keys:
            if not isinstance(k, str):
                raise TypeError(f"LogHistoryCallback: keys must be strings, got {k!r}.")
        if len(set(self.keys)) != len(self.keys):
            raise ValueError(f"LogHistoryCallback: duplicate keys in {self.keys}.")

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> LogHistoryState:
        """Allocate one NaN-filled `(num_iterations,)` array per key.

        Args:
            ctx: The run's sizes.
            key: Ignored.

        Returns:
            The empty record.
        """
        return LogHistoryState(
            history={
                k: jnp.full((ctx.num_iterations,), jnp.nan, jnp.float32)
                for k in self.keys
            }
        )

    def on_iteration(
        self, ctx: IterationContext, *, key: Key[Array, ""]
    ) -> LogHistoryState:
        """Write this iteration's values of the chosen entries.

        Args:
            ctx: The iteration's data.
            key: Ignored.

        Returns:
            The updated record.

        Raises:
            KeyError: If the algorithm's log has no entry of a chosen name
                (raised while tracing, before anything runs).
            ValueError: If a chosen entry is not a scalar.
        """
        state = ctx.state
        assert isinstance(state, LogHistoryState)
        check_log_keys("LogHistoryCallback", self.keys, ctx.log)
        for k in self.keys:
            if jnp.shape(ctx.log[k]) != ():
                raise ValueError(
                    f"LogHistoryCallback: log entry {k!r} has shape "
                    f"{jnp.shape(ctx.log[k])}; only scalars can be recorded."
                )
        return LogHistoryState(
            history={
                k: state.history[k]
                .at[ctx.iteration]
                .set(jnp.asarray(ctx.log[k], jnp.float32))
                for k in self.keys
            }
        )

    def extend(self, state: LogHistoryState, ctx: ResetContext) -> LogHistoryState:
        """Grow the record to the new total with NaN entries.

        Args:
            state: The record so far.
            ctx: The run's sizes, with the new total.

        Returns:
            The longer record.
        """
        return LogHistoryState(
            history=grow_records(state.history, ctx.num_iterations, jnp.nan)
        )
