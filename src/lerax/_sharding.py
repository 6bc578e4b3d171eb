"""Where arrays live when a run is spread over the devices of a `jax.sharding.Mesh`.

`learn(..., mesh=mesh)` traces its program inside `tracing_on(mesh)`; the loop
then calls `shard_along` on the per-environment arrays (the rollout carry, the
rollout buffer, the minibatches) and `replicate` on the rest (policy, optimizer
state). Both only add `jax.lax.with_sharding_constraint`s, so XLA partitions the
one program and inserts the collectives itself: the gradient of a loss averaged
over a sharded minibatch becomes a local sum plus an all-reduce. Outside
`tracing_on` (the default, `mesh=None`) both are the identity and add nothing to
the program.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

import equinox as eqx
import jax
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

_MESH: contextvars.ContextVar[Mesh | None] = contextvars.ContextVar(
    "lerax_mesh", default=None
)
# True while tracing a program whose batch of runs (a population's members) is
# split over devices by its caller (`lerax.pbt(mesh=)`): host callbacks are then
# unordered, as under `tracing_on`, while the runs' own arrays are not split.
_RUNS_SPLIT: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "lerax_runs_split", default=False
)


def check_mesh(owner: str, mesh: Any, num_envs: int, *, what: str = "num_envs") -> None:
    """Raise if `mesh` cannot shard `num_envs` environments (host side, pre-compile).

    Args:
        owner: The class or function the mesh was given to, for the message.
        mesh: The mesh (or None, which is always fine).
        num_envs: The size split over the mesh (the algorithm's number of
            environments, or a population's members).
        what: The name of that size, for the message.

    Raises:
        TypeError: If `mesh` is not a `jax.sharding.Mesh`.
        ValueError: If the mesh has more than one axis, or its size does not
            divide `num_envs`.
    """
    if mesh is None:
        return
    if not isinstance(mesh, Mesh):
        raise TypeError(
            f"{owner}: mesh must be a jax.sharding.Mesh (for example "
            f"jax.make_mesh((jax.device_count(),), ('envs',))), got "
            f"{type(mesh).__name__}."
        )
    if len(mesh.axis_names) != 1:
        raise ValueError(
            f"{owner}: mesh must have one axis ({what} is split along it), got "
            f"{len(mesh.axis_names)} axes {tuple(mesh.axis_names)}."
        )
    if num_envs % mesh.size:
        raise ValueError(
            f"{owner}: {what}={num_envs} does not divide over the mesh's "
            f"{mesh.size} devices; choose {what} a multiple of {mesh.size}."
        )


@contextlib.contextmanager
def tracing_on(mesh: Mesh | None) -> Iterator[None]:
    """Make `shard_along` and `replicate` target `mesh` while tracing.

    Args:
        mesh: The mesh, or None (both helpers are then the identity).

    Yields:
        Nothing.
    """
    if mesh is not None:
        # Auto axes: the constraints below steer XLA's partitioner, whatever axis
        # types the caller's mesh has (`jax.make_mesh` makes Explicit ones).
        mesh = Mesh(mesh.devices, mesh.axis_names, axis_types=(AxisType.Auto,))
    token = _MESH.set(mesh)
    try:
        yield
    finally:
        _MESH.reset(token)


@contextlib.contextmanager
def runs_split(split: bool) -> Iterator[None]:
    """Mark the program being traced as split over devices along its runs.

    Args:
        split: Whether it is (False changes nothing).

    Yields:
        Nothing.
    """
    token = _RUNS_SPLIT.set(bool(split) or _RUNS_SPLIT.get())
    try:
        yield
    finally:
        _RUNS_SPLIT.reset(token)


def spread_over_devices() -> bool:
    """Whether the program being traced runs over several devices of a mesh.

    Either its environments are split (`tracing_on`) or its runs are
    (`runs_split`); JAX then supports no ordered host callbacks.

    Returns:
        True inside either context.
    """
    return _MESH.get() is not None or _RUNS_SPLIT.get()


def current_mesh() -> Mesh | None:
    """The mesh of the program being traced, if any.

    Returns:
        The mesh set by `tracing_on`, or None.
    """
    return _MESH.get()


def shard_along(tree: Any, axis: int) -> Any:
    """Constrain the array leaves of `tree` to be split along `axis` over the mesh.

    Leaves without that axis, or whose size along it does not divide by the mesh
    size, are left to XLA.

    Args:
        tree: A pytree.
        axis: The axis to split (0 for `num_envs`-leading arrays).

    Returns:
        `tree`, constrained (unchanged when no mesh is set).
    """
    mesh = _MESH.get()
    if mesh is None:
        return tree
    sharding = NamedSharding(mesh, PartitionSpec(*([None] * axis), mesh.axis_names[0]))

    def constrain(x):
        if not eqx.is_array(x) or x.ndim <= axis or x.shape[axis] % mesh.size:
            return x
        return jax.lax.with_sharding_constraint(x, sharding)

    return jax.tree.map(constrain, tree)


def replicate(tree: Any) -> Any:
    """Constrain the array leaves of `tree` to be copied on every device of the mesh.

    Args:
        tree: A pytree.

    Returns:
        `tree`, constrained (unchanged when no mesh is set).
    """
    mesh = _MESH.get()
    if mesh is None:
        return tree
    sharding = NamedSharding(mesh, PartitionSpec())
    return jax.tree.map(
        lambda x: (
            jax.lax.with_sharding_constraint(x, sharding) if eqx.is_array(x) else x
        ),
        tree,
    )
