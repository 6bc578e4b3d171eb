"""Declaring a sweepable hyperparameter in one line, and checking it.

`hyperparameter()` declares an array-leaf field with a range;
`check_hyperparameters` (run by the algorithm base's `__check_init__`) checks
every such field of an instance with `check_number`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from lerax._checks import plain

# The key of a hyperparameter field's metadata holding its `HyperparameterRange`.
RANGE_KEY = "lerax_hyperparameter_range"


@dataclasses.dataclass(frozen=True)
class HyperparameterRange:
    """The valid range of a hyperparameter field (checked by the algorithm base)."""

    low: float | None
    high: float | None
    low_open: bool


def as_leaf(value: float) -> Float[Array, ""]:
    """A float hyperparameter as a float32 array leaf (tracers pass through).

    Args:
        value: A Python float, an array, or a tracer.

    Returns:
        The value as a 0-d float32 array, so it can be vmapped over.
    """
    if isinstance(value, jax.core.Tracer):
        return value
    return jnp.asarray(value, dtype=jnp.float32)


def _to_leaf(value: Any) -> Any:
    # Tracers (an instance built inside `jax.vmap`), schedules and `None` (an
    # option left off) pass through.
    if value is None or callable(value):
        return value
    return as_leaf(value)


def check_number(
    owner: str,
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> None:
    """Raise a `ValueError` naming `name` if a concrete `value` is out of range.

    Traced values (an algorithm built inside `jax.vmap`, say) and callables (a
    schedule) are not checked; arrays are checked entry by entry.

    Args:
        owner: The class the value belongs to, for the message.
        name: The argument's name.
        value: The value.
        low: The lower bound, if any.
        high: The upper bound (inclusive), if any.
        low_open: Whether the lower bound is exclusive.

    Raises:
        ValueError: If the value is NaN or out of range. The message shows the
            value as a plain number (`got -1.0`), never as an array repr, though
            hyperparameters are stored as array leaves.
    """
    if isinstance(value, jax.core.Tracer) or callable(value):
        return
    arr = np.asarray(value, dtype=np.float64)
    bad = np.isnan(arr).any()
    if low is not None:
        bad |= (arr <= low).any() if low_open else (arr < low).any()
    if high is not None:
        bad |= (arr > high).any()
    if bad:
        lo = "" if low is None else ("(" if low_open else "[") + f"{low}"
        hi = "" if high is None else f"{high}]"
        interval = f"{lo or '(-inf'}, {hi or 'inf)'}"
        raise ValueError(f"{owner}: {name} must be in {interval}, got {plain(value)}.")


def check_hyperparameters(algorithm: eqx.Module) -> None:
    """Range-check every field of `algorithm` declared with `hyperparameter`.

    A field left at `None` (an optional hyperparameter switched off) is not
    checked.

    Args:
        algorithm: An algorithm instance.

    Raises:
        ValueError: If a concrete value is NaN or out of its field's range (the
            message names the class, the field and the value).
    """
    owner = type(algorithm).__name__
    for field in dataclasses.fields(algorithm):
        bounds = field.metadata.get(RANGE_KEY)
        value = getattr(algorithm, field.name)  # a declared field, by name
        if bounds is not None and value is not None:
            check_number(
                owner,
                field.name,
                value,
                low=bounds.low,
                high=bounds.high,
                low_open=bounds.low_open,
            )


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
    recompiles. A callable (an optax schedule, say) and `None` (an optional
    hyperparameter left off) are kept as they are.

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
