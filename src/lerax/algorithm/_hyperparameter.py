"""Declaring a sweepable hyperparameter in one line: an array leaf with a range."""

from __future__ import annotations

import dataclasses
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

# The key of a hyperparameter field's metadata holding its `HyperparameterRange`.
RANGE_KEY = "lerax_hyperparameter_range"


@dataclasses.dataclass(frozen=True)
class HyperparameterRange:
    """The valid range of a hyperparameter field (checked by the algorithm base)."""

    low: float | None
    high: float | None
    low_open: bool


def _to_leaf(value: Any) -> Any:
    # Tracers (an instance built inside `jax.vmap`) and schedules pass through.
    if isinstance(value, jax.core.Tracer) or callable(value):
        return value
    return jnp.asarray(value, dtype=jnp.float32)


def hyperparameter(
    default: float | Any = dataclasses.MISSING,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> Any:
    """Declare a float hyperparameter of an algorithm: an array leaf with a range.

    Use it as the default of a field of a concrete algorithm:

    ```python
    class MyAlgorithm(AbstractOnPolicyAlgorithm):
        learning_rate: Float[Array, ""] = hyperparameter(1e-3, low=0.0, low_open=True)
        gamma: Float[Array, ""] = hyperparameter(0.99, low=0.0, high=1.0, low_open=True)
    ```

    The value (a Python float, as users pass it) is stored as a 0-d float32
    array, so it is a leaf of the algorithm's pytree: a new value reuses the
    compiled program, and `eqx.filter_vmap` over a stack of algorithm instances
    is a hyperparameter sweep in one compile (`lerax.sweep` finds these fields).
    A Python float stored on a Module is static instead, and every new value
    recompiles. A callable (an optax schedule, say) is kept as it is.

    When an instance is built, `AbstractOnPolicyAlgorithm` checks every such
    field against its range and raises a `ValueError` naming the class, the
    field and the value. Values traced inside `jax.vmap`/`jax.jit` are not
    checked. The field is keyword-only, so it can follow fields without
    defaults, and it works with a dataclass `__init__` and a custom one alike.

    Args:
        default: The default value; leave it out to make the argument required.
        low: The lower bound, if any.
        high: The upper bound (inclusive), if any.
        low_open: Whether the lower bound is exclusive (`(low, high]` rather
            than `[low, high]`).

    Returns:
        A dataclass field specification (an `eqx.field`) to assign in the class
        body.

    Raises:
        ValueError: If `low` is greater than `high`.
    """
    if low is not None and high is not None and low > high:
        raise ValueError(
            f"hyperparameter: low={low} is greater than high={high}; "
            "swap them or drop one."
        )
    return eqx.field(
        default=default,
        converter=_to_leaf,
        kw_only=True,
        metadata={RANGE_KEY: HyperparameterRange(low, high, bool(low_open))},
    )
