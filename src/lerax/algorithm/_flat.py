"""Training on one flat parameter vector: fewer, larger operations per update.

A policy's trainable arrays are a dozen small leaves (weights and biases of each
layer). Per-leaf optimizer steps compile to a dozen small fused kernels per
minibatch update (clip, Adam moments, bias correction, apply, the NaN guard's
select), and on a CPU each kernel has a fixed cost comparable to its work. With
the leaves raveled into one vector once per iteration, the gradient arrives as
one vector and the optimizer is one elementwise pass over it: PPO's minibatch
step at the defaults compiles to 82 fusions instead of 140 and 4 copies instead
of 26 (see docs/benchmarks.md). The optimizer's arithmetic is elementwise, so the
result equals the per-leaf step up to float rounding of the global-norm sum.

Leaves of several float dtypes are raveled in their common (promoted) dtype
and cast back by `restore`, so the optimizer then runs in that dtype.

The optimizer state keeps its public, per-leaf layout outside the loop:
`FlatView` ravels every parameter-shaped subtree of it (Adam's moments) on the
way in and unravels it on the way out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float, PyTree


class FlatView:
    """A policy's trainable arrays and its optimizer state as flat vectors.

    Build it once (per iteration) outside a training loop, carry `vector` and
    `opt_state` through the loop, get the policy for a loss with `policy`, and
    put everything back with `restore` after the loop. Not a pytree: it holds
    the unravel function and the policy's non-trainable part, which must not
    change inside the loop.

    Attributes:
        vector: The policy's inexact-array leaves, raveled in tree order.
        opt_state: The optimizer state with every parameter-shaped subtree
            raveled the same way (other leaves, such as step counts, as they are).
    """

    def __init__(self, policy: PyTree, opt_state: PyTree):
        params, self._static = eqx.partition(policy, eqx.is_inexact_array)
        self.vector, self._unravel = ravel_pytree(params)
        params_def = jax.tree.structure(params)
        self._is_params = lambda x: jax.tree.structure(x) == params_def
        nodes, self._outer = jax.tree.flatten(opt_state, is_leaf=self._is_params)
        self._flags = [self._is_params(node) for node in nodes]
        self.opt_state = self._outer.unflatten(
            [
                ravel_pytree(node)[0] if flag else node
                for node, flag in zip(nodes, self._flags, strict=True)
            ]
        )

    def policy(self, vector: Float[Array, " n"]) -> PyTree:
        """The policy whose trainable arrays are `vector`.

        Args:
            vector: A parameter vector laid out as `self.vector`.

        Returns:
            The policy.
        """
        return eqx.combine(self._unravel(vector), self._static)

    def restore(self, vector: Float[Array, " n"], opt_state: PyTree) -> tuple[Any, Any]:
        """The policy and the per-leaf optimizer state of a vector and flat state.

        Args:
            vector: The trained parameter vector.
            opt_state: The optimizer state in the flat layout.

        Returns:
            `(policy, opt_state)` in their usual layouts.
        """
        nodes = self._outer.flatten_up_to(opt_state)
        opt_state = self._outer.unflatten(
            [
                self._unravel(node) if flag else node
                for node, flag in zip(nodes, self._flags, strict=True)
            ]
        )
        return self.policy(vector), opt_state


def flat_loss(
    loss: Callable[..., tuple[Float[Array, ""], Any]], view: FlatView
) -> Callable[..., tuple[Float[Array, ""], Any]]:
    """`loss(policy, *args)` as a function of the parameter vector.

    Args:
        loss: A loss taking the policy first and returning `(loss, aux)`.
        view: The flat view the vector belongs to.

    Returns:
        `lambda vector, *args: loss(view.policy(vector), *args)`.
    """

    def of_vector(vector, *args):
        return loss(view.policy(vector), *args)

    return of_vector


def apply_flat_updates(
    vector: Float[Array, " n"], updates: Float[Array, " n"]
) -> Float[Array, " n"]:
    """`vector + updates`, keeping the vector's dtype.

    Args:
        vector: The parameters.
        updates: The optimizer's updates.

    Returns:
        The new parameters.
    """
    return (vector + updates).astype(vector.dtype)
