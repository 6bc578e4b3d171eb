"""`lax.scan` over carries that hold non-array parts (static policy fields, say)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import equinox as eqx
import jax

Carry = TypeVar("Carry")


def filter_scan(
    f: Callable[[Carry, Any], tuple[Carry, Any]],
    init: Carry,
    xs: Any = None,
    *,
    length: int | None = None,
    reverse: bool = False,
    unroll: int | bool = 1,
) -> tuple[Carry, Any]:
    """`jax.lax.scan` whose carry may contain non-array leaves, kept static.

    The loop helper for `train`: a carry such as `(policy, opt_state)` holds
    non-array leaves (activation functions, static fields, optax's
    structure), which `jax.lax.scan` refuses. They are split off, held fixed
    and put back around each call of `f`, so the loop compiles once however
    many iterations it runs.

    Args:
        f: The loop body `(carry, x) -> (carry, y)`; it must not change the carry's
            non-array leaves.
        init: The initial carry.
        xs: What to scan over.
        length: The number of iterations when `xs` is `None`.
        reverse: Scan from the end.
        unroll: How many iterations to unroll per loop step.

    Returns:
        The final carry and the stacked outputs (each leaf of `f`'s `y` with a
        new leading axis of the number of iterations).
    """
    dynamic, static = eqx.partition(init, eqx.is_array)

    def body(dynamic_carry, x):
        carry, y = f(eqx.combine(dynamic_carry, static), x)
        return eqx.filter(carry, eqx.is_array), y

    dynamic, ys = jax.lax.scan(
        body, dynamic, xs, length=length, reverse=reverse, unroll=unroll
    )
    return eqx.combine(dynamic, static), ys
