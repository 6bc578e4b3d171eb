"""Many seeds in one compiled program: `train_seeds`, `stack` and `select`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Key, PyTree

from lerax._key import check_key
from lerax._sharding import check_mesh
from lerax.algorithm import (
    AbstractOnPolicyAlgorithm,
    OnPolicyState,
    raise_if_faulted,
    run_on_policy,
)
from lerax.callback import AbstractCallback
from lerax.env import AbstractEnvLike
from lerax.policy import AbstractPolicy

T = TypeVar("T")

PolicySource = (
    AbstractPolicy | Sequence[AbstractPolicy] | Callable[[Key[Array, ""]], Any]
)


def stack(trees: Sequence[T]) -> T:
    """Stack pytrees of one structure along a new leading axis of their arrays.

    Static parts (sizes, spaces, activation functions) must be equal; they are
    kept once.

    Args:
        trees: Policies (or any pytrees) of the same structure and shapes.

    Returns:
        One pytree whose array leaves have a leading axis `len(trees)`.

    Raises:
        ValueError: If `trees` is empty or the trees differ in structure, static
            fields or array shapes (the message names the first mismatch).
    """
    if len(trees) == 0:
        raise ValueError("stack: got no trees to stack.")
    parts = [eqx.partition(tree, eqx.is_array) for tree in trees]
    dynamic0, static0 = parts[0]
    treedef0 = jax.tree.structure(dynamic0)
    shapes0 = [(x.shape, x.dtype) for x in jax.tree.leaves(dynamic0)]
    for i, (dynamic, static) in enumerate(parts[1:], start=1):
        shapes = [(x.shape, x.dtype) for x in jax.tree.leaves(dynamic)]
        if (
            jax.tree.structure(dynamic) != treedef0
            or not eqx.tree_equal(static, static0)
            or shapes != shapes0
        ):
            raise ValueError(
                f"stack: tree {i} differs from tree 0 in structure, static fields "
                "or array shapes; only trees built alike can be stacked."
            )
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *[d for d, _ in parts])
    return eqx.combine(stacked, static0)


def _leading_size(stacked: PyTree, depth: int) -> tuple[int, ...]:
    leaves = jax.tree.leaves(eqx.filter(stacked, eqx.is_array))
    if not leaves or min(x.ndim for x in leaves) < depth:
        raise ValueError(
            f"select: the tree has no {depth} leading stacked axis(es) to index."
        )
    return tuple(leaves[0].shape[:depth])


def select(stacked: T, index: int | tuple[int, ...]) -> T:
    """One member of a stack: a seed of `train_seeds`, a cell of `sweep`.

    Indexes the leading axis (or axes, for a tuple) of every array leaf, so the
    result is an ordinary policy (or state) that can be evaluated or
    `serialize`d.

    Args:
        stacked: A pytree with stacked array leaves (`state.policy` of
            `train_seeds`, or `SweepResult.state.policy` with two axes
            `(configuration, seed)`).
        index: The member's index, or a tuple of indices for nested stacks.

    Returns:
        The member, with the stacked axes removed.

    Raises:
        TypeError: If an index is not an int.
        IndexError: If an index is out of range (the message gives the size).
        ValueError: If the tree has fewer stacked axes than indices.
    """
    indices = index if isinstance(index, tuple) else (index,)
    for i in indices:
        if isinstance(i, bool) or not isinstance(i, int | np.integer):
            raise TypeError(f"select: index must be an int, got {type(i).__name__}.")
    sizes = _leading_size(stacked, len(indices))
    for axis, (i, n) in enumerate(zip(indices, sizes, strict=True)):
        if not -n <= i < n:
            raise IndexError(
                f"select: index {int(i)} is out of range for stacked axis {axis} "
                f"of size {n}."
            )
    dynamic, static = eqx.partition(stacked, eqx.is_array)
    picked = jax.tree.map(lambda x: x[tuple(int(i) for i in indices)], dynamic)
    return eqx.combine(picked, static)


def seed_keys(keys: Key[Array, " num_seeds"], owner: str) -> Key[Array, " num_seeds"]:
    """Check a batch of seed keys (typed, or raw `uint32[num_seeds, 2]`).

    Args:
        keys: The keys.
        owner: The function they were given to, for the message.

    Returns:
        Typed keys of shape `(num_seeds,)`.

    Raises:
        TypeError: If `keys` is not JAX PRNG keys (typed, or raw uint32 data).
        ValueError: If `keys` is not a 1-d batch of at least one key.
    """
    check_key(owner, keys, name="keys", batched=True)
    if not jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
        keys = jax.random.wrap_key_data(keys)
    if keys.ndim != 1 or keys.shape[0] < 1:
        raise ValueError(
            f"{owner}: keys must have shape (num_seeds,) with num_seeds >= 1, got "
            f"shape {tuple(keys.shape)}."
        )
    return keys


def initial_policies(
    policy: PolicySource, policy_keys: Key[Array, " num_seeds"], owner: str
) -> AbstractPolicy:
    """Build or stack one initial policy per seed, outside any compiled program.

    Args:
        policy: A policy shared by every seed, a sequence of policies (one per
            seed), or a function `key -> policy`.
        policy_keys: One key per seed (used by a function).
        owner: The function they were given to, for the message.

    Returns:
        The stacked policies (leading axis `num_seeds`).

    Raises:
        TypeError: If `policy` is none of the three.
        ValueError: If the number of policies differs from the number of keys,
            or a constructor is given traced keys (inside `jax.jit`/`jax.vmap`).
    """
    num_seeds = policy_keys.shape[0]
    if isinstance(policy, AbstractPolicy):
        policies = [policy] * num_seeds
    elif isinstance(policy, Sequence) and not isinstance(policy, str):
        policies = list(policy)
        if len(policies) != num_seeds:
            raise ValueError(
                f"{owner}: got {len(policies)} policies for {num_seeds} keys; give "
                "one policy per seed, one shared policy, or a function key -> policy."
            )
    elif callable(policy):
        if isinstance(policy_keys, jax.core.Tracer):
            raise ValueError(
                f"{owner}: a policy constructor needs concrete keys, but the keys "
                "are traced (inside jax.jit or jax.vmap). Call it outside: building "
                "policies inside a compiled, vmapped program batches the "
                "orthogonal initialiser's QR decompositions, which can deadlock "
                "XLA:CPU. Or pass policies built beforehand."
            )
        # One seed at a time, eagerly, on purpose (see the message above).
        policies = [policy(k) for k in policy_keys]
    else:
        raise TypeError(
            f"{owner}: policy must be a lerax policy, a sequence of them or a "
            f"function key -> policy, got {type(policy).__name__}."
        )
    return stack(policies)


def prepare(
    owner: str,
    algorithm: AbstractOnPolicyAlgorithm,
    env: AbstractEnvLike,
    policy: PolicySource,
    total_timesteps: int,
    keys: Key[Array, " num_seeds"],
    callback: Sequence[AbstractCallback] | AbstractCallback | None,
    mesh: jax.sharding.Mesh | None,
) -> tuple[AbstractPolicy, Key[Array, " num_seeds"], int, AbstractCallback]:
    """The host-side checks and set-up `train_seeds` and `sweep` share.

    Args:
        owner: The calling function, for messages.
        algorithm: The algorithm.
        env: The environment.
        policy: See `train_seeds`.
        total_timesteps: The budget per seed.
        keys: One key per seed.
        callback: The callback(s).
        mesh: A mesh or None.

    Returns:
        The stacked initial policies, the learn keys, the number of iterations
        and the consolidated callback.
    """
    if not isinstance(algorithm, AbstractOnPolicyAlgorithm):
        raise TypeError(
            f"{owner}: algorithm must be a lerax on-policy algorithm (PPO, A2C), "
            f"got {type(algorithm).__name__}."
        )
    keys = seed_keys(keys, owner)
    split = jax.vmap(jax.random.split)(keys)
    policy_keys, learn_keys = split[:, 0], split[:, 1]
    policies = initial_policies(policy, policy_keys, owner)
    callback = algorithm.consolidate_callbacks(callback)
    num_iterations = algorithm.num_iterations(total_timesteps)
    check_mesh(owner, mesh, algorithm.num_envs)
    return policies, learn_keys, num_iterations, callback


@eqx.filter_jit
def _train_seeds(algorithm, env, policies, num_iterations, keys, callback, mesh):
    def one_seed(policy, key):
        return run_on_policy(
            algorithm,
            env,
            policy,
            num_iterations,
            key=key,
            callback=callback,
            mesh=mesh,
        )

    return eqx.filter_vmap(one_seed)(policies, keys)


def train_seeds(
    algorithm: AbstractOnPolicyAlgorithm,
    env: AbstractEnvLike,
    policy: PolicySource,
    total_timesteps: int,
    keys: Key[Array, " num_seeds"],
    *,
    callback: Sequence[AbstractCallback] | AbstractCallback | None = None,
    mesh: jax.sharding.Mesh | None = None,
) -> OnPolicyState:
    """Train one agent per key, all in one compiled program (`jax.vmap` of `learn`).

    Seed `i` is exactly the run `algorithm.learn_state(env, policy_i,
    total_timesteps, key=learn_key_i)` with `policy_key_i, learn_key_i =
    jax.random.split(keys[i])`, up to float rounding (vmapping batches the
    matrix products). The initial policies are built before compiling, one seed
    at a time: a constructor `make_policy(policy_key_i)` is called eagerly per
    seed (never vmapped inside `jax.jit`, which can deadlock XLA:CPU on the
    orthogonal initialiser's batched QR decomposition).

    Args:
        algorithm: The algorithm (PPO, A2C).
        env: The environment.
        policy: A function `key -> policy` (each seed gets its own
            initialisation), one policy (every seed starts from it), or a
            sequence of `len(keys)` policies.
        total_timesteps: The budget per seed.
        keys: One PRNG key per seed, shape `(num_seeds,)`.
        callback: A callback or list of callbacks; each seed has its own state
            (`state.callback_state` has a leading seed axis).
        mesh: A one-axis `jax.sharding.Mesh`: each seed's environments are split
            along `num_envs` over its devices (see `learn`).

    Returns:
        The final states, stacked: `state.policy` holds every seed's policy
        (take one with `select(state.policy, i)`), `state.callback_state` every
        seed's records.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If the keys, policies, sizes or mesh are invalid, or a
            constructor is given traced keys.
        NonFiniteError: If a NaN or Inf stopped a seed (with
            `on_nonfinite="error"`).
    """
    policies, learn_keys, num_iterations, callback = prepare(
        "train_seeds", algorithm, env, policy, total_timesteps, keys, callback, mesh
    )
    state = _train_seeds(
        algorithm, env, policies, num_iterations, learn_keys, callback, mesh
    )
    return raise_if_faulted(algorithm, state)
