"""Guarding training against NaN and Inf: detection, skipping and the error raised.

Observations and rewards are checked once per rollout, the loss and the gradient
once per update. A bad update is never applied (its parameters and optimizer state
are kept); what happens next depends on the algorithm's `on_nonfinite`:

- `"error"` (the default): the run stops at the first fault and `learn` raises a
  `NonFiniteError` naming the quantity and the iteration;
- `"skip"`: the run goes on and the skipped updates are counted in the training
  log (`nonfinite_loss`, `nonfinite_gradient`) and in the state;
- `"ignore"`: no checks at all (the fastest; NaNs propagate).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Bool, Float, PyTree

NONFINITE_MODES = ("error", "skip", "ignore")

# Fault codes carried in the state; 0 means none. The order is the order in which
# a rollout's quantities are checked.
FAULT_QUANTITIES = ("observation", "reward", "loss", "gradient")


class NonFiniteError(FloatingPointError):
    """A NaN or Inf reached training and the algorithm's `on_nonfinite` is "error".

    The message names the quantity (observation, reward, loss or gradient) and the
    iteration (counted from 1) where it first appeared.
    """


def check_on_nonfinite(owner: str, value: Any) -> None:
    """Raise a `ValueError` unless `value` is one of the `on_nonfinite` modes.

    Args:
        owner: The class the value belongs to, for the message.
        value: The value.

    Raises:
        ValueError: If `value` is not "error", "skip" or "ignore".
    """
    if value not in NONFINITE_MODES:
        raise ValueError(
            f"{owner}: on_nonfinite must be one of {NONFINITE_MODES}, got {value!r}."
        )


def all_finite(tree: PyTree) -> Bool[Array, ""]:
    """Whether every floating-point entry of every leaf of `tree` is finite.

    Args:
        tree: Any pytree; non-float leaves are ignored.

    Returns:
        A boolean scalar.
    """
    checks = [
        jnp.isfinite(leaf).all()
        for leaf in jax.tree.leaves(tree)
        if eqx.is_array(leaf) and jnp.issubdtype(leaf.dtype, jnp.inexact)
    ]
    return jnp.stack(checks).all() if checks else jnp.asarray(True)


def select_tree(pred: Bool[Array, ""], on_true: PyTree, on_false: PyTree) -> PyTree:
    """`jnp.where(pred, a, b)` on every array leaf of two pytrees of one structure.

    Args:
        pred: A boolean scalar.
        on_true: The pytree taken where `pred` holds.
        on_false: The pytree taken otherwise.

    Returns:
        The selected pytree (non-array leaves are taken from `on_true`).
    """
    dynamic_true, static = eqx.partition(on_true, eqx.is_array)
    dynamic_false = eqx.filter(on_false, eqx.is_array)
    chosen = jax.tree.map(
        lambda a, b: jnp.where(pred, a, b), dynamic_true, dynamic_false
    )
    return eqx.combine(chosen, static)


# The message of the last fault raised on the host (callbacks run on XLA's
# threads, so this is process-wide, not thread-local).
_LAST_FAULT: dict[str, str | None] = {"message": None}


def raise_on_fault(owner: str, num_iterations: int, code, iteration) -> None:
    """Host side of the "error" mode: raise `NonFiniteError` for a fault code.

    Called from inside the compiled run after every iteration; raising aborts
    the run there. The message is also kept so that `learn` can
    re-raise it as a `NonFiniteError` rather than JAX's runtime error.

    Args:
        owner: The algorithm's class name.
        num_iterations: The run's number of iterations.
        code: 0, or the fault code of this iteration.
        iteration: The iteration (from 0).

    Raises:
        NonFiniteError: If `code` is not 0.
    """
    code, iteration = int(np.asarray(code)), int(np.asarray(iteration))
    if code:
        message = fault_message(owner, code, iteration, num_iterations)
        _LAST_FAULT["message"] = message
        raise NonFiniteError(message)


@contextlib.contextmanager
def reraise_fault() -> Iterator[None]:
    """Turn JAX's runtime error around a `raise_on_fault` into `NonFiniteError`.

    Yields:
        Nothing.

    Raises:
        NonFiniteError: If the body failed because a run hit a fault.
    """
    _LAST_FAULT["message"] = None
    try:
        yield
    except jax.errors.JaxRuntimeError as error:
        message = _LAST_FAULT["message"]
        if message is None or message not in str(error):
            raise
        raise NonFiniteError(message) from None


def fault_message(owner: str, code: int, iteration: int, num_iterations: int) -> str:
    """The message of the `NonFiniteError` for a fault code and iteration.

    Args:
        owner: The algorithm's class name.
        code: The fault code (1-based index into `FAULT_QUANTITIES`).
        iteration: The iteration (from 0) where the fault appeared.
        num_iterations: The run's number of iterations.

    Returns:
        The message.
    """
    quantity = FAULT_QUANTITIES[code - 1]
    where = {
        "observation": "an observation of the rollout",
        "reward": "a reward of the rollout",
        "loss": "the loss of a minibatch update",
        "gradient": "the gradient of a minibatch update",
    }[quantity]
    return (
        f"{owner}: non-finite {quantity} (NaN or Inf) in {where} at iteration "
        f"{iteration + 1} of {num_iterations}; training stopped there and the bad "
        "update was not applied. Check the environment's observations and rewards "
        "(lerax.env wrappers can clip or rescale them) or lower the learning rate; "
        "pass on_nonfinite='skip' to skip such updates and go on."
    )


def guarded_update(
    loss: Float[Array, ""],
    grads: PyTree,
    policy: PyTree,
    opt_state: PyTree,
    new_policy: PyTree,
    new_opt_state: PyTree,
) -> tuple[PyTree, PyTree, Float[Array, ""], Float[Array, ""]]:
    """Keep `policy`/`opt_state` where the loss or the gradient is non-finite.

    For a `train` that honours `on_nonfinite`: compute the update, pass the
    before and after here, and put the two flags in the log as
    `nonfinite_loss` and `nonfinite_gradient`; the algorithm base then stops
    the run ("error") or counts the skipped update ("skip").

    Args:
        loss: The update's loss.
        grads: The gradient.
        policy: The policy before the update.
        opt_state: The optimizer state before the update.
        new_policy: The policy after the update.
        new_opt_state: The optimizer state after the update.

    Returns:
        The policy and optimizer state to keep, and two 0/1 flags: the loss was
        non-finite; the loss was finite but the gradient was not.
    """
    loss_ok = jnp.isfinite(loss)
    # The global norm is NaN/Inf exactly when some entry is (or when it
    # overflows float32, which no sane update survives either), and the
    # gradient-clipping step computes the same reduction, so XLA can share it.
    grad_ok = jnp.isfinite(optax.global_norm(grads))
    ok = loss_ok & grad_ok
    return (
        select_tree(ok, new_policy, policy),
        select_tree(ok, new_opt_state, opt_state),
        (~loss_ok).astype(jnp.float32),
        (loss_ok & ~grad_ok).astype(jnp.float32),
    )
