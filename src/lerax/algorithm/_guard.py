"""The NaN guard of the on-policy loop: record a fault, keep the good update, stop.

`_nonfinite.py` holds the parts (detection, the error, `guarded_update` for a
`train`); this module applies them once per iteration (`guard`, called by the
driver) and raises what a finished run recorded (`raise_if_faulted`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING, Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from lerax.buffer import RolloutBuffer

from ._nonfinite import (
    FAULT_QUANTITIES,
    NonFiniteError,
    all_finite,
    fault_message,
    raise_on_fault,
    select_tree,
)
from ._on_policy_state import OnPolicyState

if TYPE_CHECKING:
    from ._on_policy import AbstractOnPolicyAlgorithm

# How often (in iterations) the "error" mode asks the host whether to stop.
_FAULT_REPORT_EVERY = 8


def guard(
    algorithm: AbstractOnPolicyAlgorithm,
    state: OnPolicyState,
    new_state: OnPolicyState,
    buffer: RolloutBuffer,
    log: dict[str, Any],
) -> OnPolicyState:
    """Check one iteration's rollout and updates; keep or drop them; record a fault.

    Observations and rewards are checked once per rollout; the loss and the
    gradient per update, by `train`, which skips bad updates and counts them in
    the log as `nonfinite_loss` / `nonfinite_gradient`. A bad rollout's update is
    dropped whole. With `on_nonfinite="error"` the host is asked every few
    iterations (and at the last) to stop the run.

    Args:
        algorithm: The algorithm (its `nonfinite_mode()` is "error" or "skip").
        state: The state before the iteration.
        new_state: The state after it.
        buffer: The iteration's rollout (raw rewards scaled, if at all, already).
        log: `train`'s log.

    Returns:
        `new_state` with the update kept or dropped and the fault fields updated.
    """
    observations_ok = all_finite((buffer.observations, buffer.next_observations))
    rewards_ok = all_finite(buffer.rewards)
    rollout_ok = observations_ok & rewards_ok
    zero = jnp.zeros((), jnp.float32)
    bad_losses = jnp.asarray(log.get("nonfinite_loss", zero))
    bad_gradients = jnp.asarray(log.get("nonfinite_gradient", zero))
    code = jnp.select(
        [~observations_ok, ~rewards_ok, bad_losses > 0, bad_gradients > 0],
        [jnp.int32(i + 1) for i in range(len(FAULT_QUANTITIES))],
        jnp.int32(0),
    )
    first = (state.fault == 0) & (code > 0)
    skipped = jnp.where(rollout_ok, (bad_losses + bad_gradients).astype(jnp.int32), 1)
    kept = dataclasses.replace(
        new_state,
        policy=select_tree(rollout_ok, new_state.policy, state.policy),
        opt_state=select_tree(rollout_ok, new_state.opt_state, state.opt_state),
    )
    fault = jnp.where(first, code, state.fault)
    fault_iteration = jnp.where(first, state.iteration_count, state.fault_iteration)
    if algorithm.nonfinite_mode() == "error":
        # Stop the run soon after a fault: every `_FAULT_REPORT_EVERY`
        # iterations (and at the last) the host raises `NonFiniteError`
        # from inside the compiled program if a fault was recorded, which
        # aborts it; `learn` re-raises it as that type. A host call per
        # iteration would cost a few percent of throughput; the condition
        # is on the iteration count, which is never batched by vmap.
        report = functools.partial(
            raise_on_fault, type(algorithm).__name__, state.num_iterations
        )
        count = state.iteration_count + 1
        due = (count % _FAULT_REPORT_EVERY == 0) | (count == state.num_iterations)
        jax.lax.cond(
            due,
            lambda c, i: jax.debug.callback(report, c, i),
            lambda c, i: None,
            fault,
            fault_iteration,
        )
    return dataclasses.replace(
        kept,
        fault=fault,
        fault_iteration=fault_iteration,
        skipped_updates=state.skipped_updates + skipped,
    )


def raise_if_faulted(
    algorithm: AbstractOnPolicyAlgorithm, state: OnPolicyState
) -> OnPolicyState:
    """Raise the `NonFiniteError` a run recorded (with `on_nonfinite="error"`).

    The last step of `learn_state`, `resume`, `lerax.scale.train_seeds` and
    `lerax.sweep`; call it on the state `run_on_policy` returns. Concrete
    states are read on the host (this waits for the run to finish). Inside a
    trace (`jax.vmap` or `jax.jit` of `learn`) the error is attached to the
    returned state's policy with `eqx.branched_error_if` instead, naming the
    quantity.

    Args:
        algorithm: The algorithm that ran.
        state: The state the run returned (stacked over seeds or
            configurations, or not).

    Returns:
        `state` (with the runtime check attached when traced).

    Raises:
        NonFiniteError: If the run stopped on a non-finite value.
    """
    if algorithm.nonfinite_mode() != "error":
        return state
    owner = type(algorithm).__name__
    if isinstance(state.fault, jax.core.Tracer):
        messages = [
            fault_message(owner, i + 1, 0, 1).replace(
                " at iteration 1 of 1", " (state.fault_iteration has where)"
            )
            for i in range(len(FAULT_QUANTITIES))
        ]
        # Attached to the policy (what `learn` returns; no PRNG-key leaves).
        policy = eqx.branched_error_if(
            state.policy, state.fault > 0, jnp.maximum(state.fault - 1, 0), messages
        )
        return dataclasses.replace(state, policy=policy)
    code = int(np.max(np.asarray(state.fault)))
    if code:
        faults = np.asarray(state.fault).reshape(-1)
        iterations = np.asarray(state.fault_iteration).reshape(-1)
        iteration = int(iterations[int(np.argmax(faults == code))])
        message = fault_message(owner, code, iteration, state.num_iterations)
        raise NonFiniteError(message)
    return state
