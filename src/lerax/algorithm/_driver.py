"""The on-policy loop, written once, top to bottom.

`learn_state` (what `AbstractOnPolicyAlgorithm.learn` calls) checks its
arguments on the host, hands the checkpointer the run's identity, then runs
`run_on_policy`: one compiled program that builds the initial state (`reset`)
and scans `iteration` over the iterations. Each iteration collects a rollout
(`collect_rollout`: a `lax.scan` over steps of the algorithm's `step` vmapped
over environments, acting with its `behaviour_policy`), scales rewards when the
state carries a reward normaliser, post-processes the rollout (`post_collect`),
trains on it (`train`), updates a policy's running observation statistics,
applies the NaN guard (`lerax.algorithm._guard.guard`), tells the callbacks and calls
`per_iteration`. The algorithm supplies only `step`, `post_collect`, `train`
and the hooks; everything else is here.

`run_on_policy` is pure (key in, state out), so it can be `jax.vmap`-ed over
keys or over a stack of algorithm instances: `lerax.scale` does both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Int, Key

from lerax._checks import check_size
from lerax._key import check_key
from lerax._sharding import check_mesh, current_mesh, replicate, shard_along, tracing_on
from lerax.buffer import RolloutBuffer
from lerax.callback import (
    AbstractCallback,
    IterationContext,
    ResetContext,
)
from lerax.checkpoint import Checkpointer
from lerax.env import AbstractEnvLike
from lerax.policy import check_critic_observation, check_env_and_policy

from ._guard import guard, raise_if_faulted
from ._identity import run_identity
from ._nonfinite import reraise_fault
from ._on_policy_state import (
    AbstractOnPolicyStepState,
    OnPolicyState,
    OnPolicyStepState,
)
from ._scan import filter_scan

if TYPE_CHECKING:
    from ._on_policy import AbstractOnPolicyAlgorithm


# ------------------------------------------------------------------ the host side


def learn_state(
    algorithm: AbstractOnPolicyAlgorithm,
    env: AbstractEnvLike,
    policy: Any,
    total_timesteps: int,
    *,
    key: Key[Array, ""],
    callback: Sequence[AbstractCallback] | AbstractCallback | None = None,
    checkpointer: Checkpointer | None = None,
    mesh: jax.sharding.Mesh | None = None,
) -> OnPolicyState:
    """Check the arguments, run the compiled program, raise a recorded fault.

    See `AbstractOnPolicyAlgorithm.learn_state`, which calls this.

    Args:
        algorithm: The algorithm.
        env: The environment to train on.
        policy: The policy to train.
        total_timesteps: The training budget in environment steps.
        key: A JAX PRNG key.
        callback: A callback or a sequence of callbacks.
        checkpointer: A `lerax.checkpoint.Checkpointer`, or None.
        mesh: A one-axis `jax.sharding.Mesh`, or None.

    Returns:
        The final algorithm state.

    Raises:
        TypeError: If `env` is not a lerax environment, `checkpointer` not a
            `Checkpointer`, or `mesh` not a `jax.sharding.Mesh`.
        ValueError: If a size, the budget, the env/policy pairing or the mesh is
            invalid, or the checkpoint directory holds another run.
        NonFiniteError: If a NaN or Inf stopped the run.
    """
    check_key(f"{type(algorithm).__name__}.learn", key)
    callback = algorithm.consolidate_callbacks(callback)
    num_iterations = algorithm.num_iterations(total_timesteps)
    check_env_and_policy(env, policy)
    check_critic_observation(env, policy)
    check_mesh(type(algorithm).__name__, mesh, algorithm.num_envs)
    start = 0
    if checkpointer is not None:
        if not isinstance(checkpointer, Checkpointer):
            raise TypeError(
                "checkpointer must be a lerax.checkpoint.Checkpointer, got "
                f"{type(checkpointer).__name__}."
            )
        initial_state = eqx.filter_eval_shape(
            lambda k: reset(
                algorithm,
                env,
                policy,
                key=k,
                callback=callback,
                num_iterations=num_iterations,
            ),
            jax.random.key(0),
        )
        identity = run_identity(algorithm, initial_state, num_iterations)
        start = checkpointer.prepare(identity)
    with reraise_fault():
        state = run_on_policy(
            algorithm,
            env,
            policy,
            num_iterations,
            key=key,
            callback=callback,
            start=start,
            checkpointer=checkpointer,
            mesh=mesh,
        )
        traced = isinstance(state.iteration_count, jax.core.Tracer)
        if not traced and (
            checkpointer is not None or algorithm.nonfinite_mode() == "error"
        ):
            jax.block_until_ready(state)
    if checkpointer is not None and not traced:
        checkpointer.wait()
    return raise_if_faulted(algorithm, state)


def resume(
    algorithm: AbstractOnPolicyAlgorithm,
    state: OnPolicyState,
    num_iterations: int,
    *,
    callback: Sequence[AbstractCallback] | AbstractCallback | None = None,
) -> OnPolicyState:
    """Continue a run from `state` for `num_iterations` more iterations.

    See `AbstractOnPolicyAlgorithm.resume`, which calls this.

    Args:
        algorithm: The algorithm.
        state: A state from `reset`, `learn_state` or an earlier `resume`.
        num_iterations: How many iterations to run.
        callback: The callback(s) the run was started with.

    Returns:
        The state after the iterations.

    Raises:
        ValueError: If `num_iterations` is not a positive int or `state` is
            traced.
        NonFiniteError: If a NaN or Inf stopped the run.
    """
    check_size(type(algorithm).__name__, "num_iterations", num_iterations)
    callback = algorithm.consolidate_callbacks(callback)
    done = state.iteration_count
    if isinstance(done, jax.core.Tracer):
        raise ValueError(
            "resume needs a concrete state (its iteration count sets the new "
            "total); call it outside jax.jit/jax.vmap, or vmap learn_state."
        )
    done = int(np.max(np.asarray(done)))
    total = done + int(num_iterations)
    if total != state.num_iterations:
        ctx = ResetContext(
            num_envs=algorithm.num_envs,
            num_steps=algorithm.num_steps,
            num_iterations=total,
            total_timesteps=total * algorithm.num_envs * algorithm.num_steps,
            policy=state.policy,
            algorithm=algorithm,
            agents=algorithm.agent_names(state.env),
        )
        state = dataclasses.replace(
            state,
            num_iterations=total,
            callback_state=callback.extend(state.callback_state, ctx),
        )
    with reraise_fault():
        state = _resume_program(
            algorithm, state, jnp.int32(done), int(num_iterations), callback
        )
        if algorithm.nonfinite_mode() == "error":
            jax.block_until_ready(state)
    return raise_if_faulted(algorithm, state)


# ------------------------------------------------------- the compiled program


@eqx.filter_jit
def run_on_policy(
    algorithm: AbstractOnPolicyAlgorithm,
    env: AbstractEnvLike,
    policy: Any,
    num_iterations: int,
    *,
    key: Key[Array, ""],
    callback: AbstractCallback,
    start: int = 0,
    checkpointer: Checkpointer | None = None,
    mesh: jax.sharding.Mesh | None = None,
) -> OnPolicyState:
    """A whole on-policy run as one compiled program: `reset`, then the iterations.

    The entry point under `learn`, `learn_state`, `lerax.scale.train_seeds`
    and `lerax.sweep`. It is pure (key in, state out) and traceable, so it can
    be `jax.vmap`-ed over keys, policies or a stack of algorithm instances
    (`lerax.scale` does); it checks nothing on the host beyond the env/policy
    pairing (at trace time) and raises no recorded fault: pass its result to
    `lerax.algorithm.raise_if_faulted` for that.

    Args:
        algorithm: The algorithm.
        env: The environment.
        policy: The initial policy.
        num_iterations: The number of iterations (a static int; see
            `AbstractOnPolicyAlgorithm.num_iterations`).
        key: A JAX PRNG key.
        callback: One callback (`algorithm.consolidate_callbacks(...)` makes one
            of a sequence).
        start: The first iteration to run: 0, or the iteration a checkpoint
            restores (with `checkpointer`).
        checkpointer: A `lerax.checkpoint.Checkpointer` whose directory is
            prepared (`Checkpointer.prepare`), or None.
        mesh: A one-axis `jax.sharding.Mesh` to split the environments over, or
            None.

    Returns:
        The final algorithm state.

    Raises:
        TypeError: If `env` is not a lerax environment.
        ValueError: If the policy was not built for `env`'s spaces.
    """
    check_env_and_policy(env, policy)
    with tracing_on(mesh):
        state = reset(
            algorithm,
            env,
            policy,
            key=key,
            callback=callback,
            num_iterations=num_iterations,
        )
        if start:
            state = checkpointer.restore(state)
            # The restored count is `start`; a constant keeps it unbatched
            # under vmap.
            state = dataclasses.replace(state, iteration_count=jnp.int32(start))
        state = _place(state)
        indices = jnp.arange(start, num_iterations, dtype=jnp.int32)
        return _iterate(
            algorithm, state, indices, num_iterations, callback, checkpointer
        )


@eqx.filter_jit
def _resume_program(algorithm, state, start, num_iterations, callback):
    # `start` is traced, so resuming chunk after chunk of one size reuses one
    # program (as long as the planned total, a static size, does not change).
    indices = start + jnp.arange(num_iterations, dtype=jnp.int32)
    return _iterate(algorithm, state, indices, state.num_iterations, callback, None)


def reset(
    algorithm: AbstractOnPolicyAlgorithm,
    env: AbstractEnvLike,
    policy: Any,
    *,
    key: Key[Array, ""],
    callback: AbstractCallback,
    num_iterations: int = 1,
) -> OnPolicyState:
    """The state of a run before its first iteration.

    Builds the rollout carry of every environment, the optimizer state and the
    callbacks' state, then passes the result through the algorithm's
    `post_reset`.

    Args:
        algorithm: The algorithm.
        env: The environment.
        policy: The policy.
        key: A JAX PRNG key.
        callback: The (consolidated) callback.
        num_iterations: The planned number of iterations (callbacks size their
            records by it).

    Returns:
        The initial algorithm state.
    """
    env_key, callback_key, run_key = jax.random.split(key, 3)
    step_state = jax.vmap(
        lambda k: OnPolicyStepState.initial(env, policy, callback, k)
    )(jax.random.split(env_key, algorithm.num_envs))
    ctx = ResetContext(
        num_envs=algorithm.num_envs,
        num_steps=algorithm.num_steps,
        num_iterations=num_iterations,
        total_timesteps=num_iterations * algorithm.num_envs * algorithm.num_steps,
        policy=policy,
        algorithm=algorithm,
        agents=algorithm.agent_names(env),
    )
    state = OnPolicyState(
        iteration_count=jnp.zeros((), jnp.int32),
        step_state=step_state,
        env=env,
        policy=policy,
        opt_state=algorithm.optimizer.init(eqx.filter(policy, eqx.is_inexact_array)),
        callback_state=callback.reset(ctx, key=callback_key),
        key=run_key,
        fault=jnp.zeros((), jnp.int32),
        fault_iteration=jnp.full((), -1, jnp.int32),
        skipped_updates=jnp.zeros((), jnp.int32),
        num_iterations=num_iterations,
    )
    return algorithm.post_reset(state)


def _iterate(
    algorithm: AbstractOnPolicyAlgorithm,
    state: OnPolicyState,
    indices: Int[Array, " n"],
    num_iterations: int,
    callback: AbstractCallback,
    checkpointer: Checkpointer | None,
) -> OnPolicyState:
    # The iterations `indices` (from 0) of a run of `num_iterations`, one
    # `lax.scan`. The scanned iteration index never depends on the key, so it
    # is not batched by `jax.vmap` and the checkpoint condition stays a real
    # branch under `vmap`.
    def body(state, index):
        key, iteration_key = jax.random.split(state.key)
        state = dataclasses.replace(state, key=key)
        state = iteration(algorithm, state, key=iteration_key, callback=callback)
        state = _place(state)
        if checkpointer is not None:
            checkpointer.maybe_save(state, index, num_iterations)
        return state, None

    if indices.shape[0] == 0:
        return state
    state, _ = filter_scan(body, state, indices)
    return state


def iteration(
    algorithm: AbstractOnPolicyAlgorithm,
    state: OnPolicyState,
    *,
    key: Key[Array, ""],
    callback: AbstractCallback,
) -> OnPolicyState:
    """One iteration: collect, post-process, train, guard, then the callbacks.

    Args:
        algorithm: The algorithm.
        state: The algorithm state.
        key: A JAX PRNG key.
        callback: The (consolidated) callback.

    Returns:
        The algorithm state after the iteration.
    """
    rollout_key, post_key, train_key, callback_key = jax.random.split(key, 4)
    step_state, buffer = collect_rollout(
        algorithm,
        state.env,
        algorithm.behaviour_policy(state),
        state.step_state,
        callback,
        rollout_key,
    )
    # The raw rewards and done flags, for the episode-counting callbacks.
    rewards, dones = buffer.rewards, buffer.terminations | buffer.truncations
    agent_rewards = algorithm.agent_rewards(buffer)
    # Reward scaling (`PPO(normalize_rewards=True)` puts a normaliser in the
    # state in `post_reset`): before post-processing, so GAE sees scaled rewards.
    reward_normalizer = state.reward_normalizer
    if reward_normalizer is not None:
        reward_normalizer, scaled = reward_normalizer.scale(
            buffer.rewards, dones, gamma=algorithm.gamma
        )
        buffer = dataclasses.replace(buffer, rewards=scaled)
        state = dataclasses.replace(state, reward_normalizer=reward_normalizer)
    buffer = algorithm.post_collect(
        state.env, state.policy, step_state, buffer, key=post_key
    )
    # Value normalisation (`MLPActorCriticPolicy(normalize_values=...)`): the
    # critic's return statistics take in this rollout's returns before the
    # update, as skrl's value preprocessor does; the default returns the policy.
    policy = state.policy.update_value_statistics(buffer.returns)
    policy, opt_state, log = algorithm.train(
        policy, state.opt_state, buffer, key=train_key
    )
    # Running observation statistics (a policy with `normalize_observations`)
    # take in this rollout after training, so each rollout is collected and
    # trained on under the same statistics.
    policy = _update_observation_statistics(policy, buffer.observations)
    new_state = state.next(step_state, policy, opt_state)
    if algorithm.nonfinite_mode() != "ignore":
        new_state = guard(algorithm, state, new_state, buffer, log)
    steps_per_iteration = algorithm.num_envs * algorithm.num_steps
    ctx = IterationContext(
        state=state.callback_state,
        step_states=step_state.callback_state,
        iteration=state.iteration_count,
        num_iterations=state.num_iterations,
        timesteps=new_state.iteration_count * steps_per_iteration,
        log=log,
        policy=new_state.policy,
        rewards=rewards,
        dones=dones,
        agent_rewards=agent_rewards,
    )
    new_state = new_state.with_callback_states(
        callback.on_iteration(ctx, key=callback_key)
    )
    return algorithm.per_iteration(new_state)


def collect_rollout(
    algorithm: AbstractOnPolicyAlgorithm,
    env: AbstractEnvLike,
    policy: Any,
    step_state: AbstractOnPolicyStepState,
    callback: AbstractCallback,
    key: Key[Array, ""],
) -> tuple[AbstractOnPolicyStepState, RolloutBuffer]:
    """Collect a rollout: a `lax.scan` over `num_steps` of `step` vmapped over envs.

    Args:
        algorithm: The algorithm (its `step` and `per_step`).
        env: The environment.
        policy: The current policy.
        step_state: The batched step state (leading axis `num_envs`).
        callback: The callback.
        key: A JAX PRNG key.

    Returns:
        The new batched step state and the buffer, with leading axes
        `(num_steps, num_envs)`.
    """

    def one_env(state, k):
        state, entry = algorithm.step(env, policy, state, key=k, callback=callback)
        return algorithm.per_step(state), entry

    def one_step(state, keys):
        state, entry = jax.vmap(one_env)(state, keys)
        # With a mesh (`learn(..., mesh=)`), each device steps its own envs.
        return shard_along(state, 0), shard_along(entry, 0)

    # Every step's per-environment keys in one draw (one hash over all of
    # them instead of one small one per step).
    step_state, buffer = filter_scan(
        one_step,
        step_state,
        jax.random.split(key, (algorithm.num_steps, algorithm.num_envs)),
    )
    return step_state, shard_along(buffer, 1)


# ------------------------------------------------------------------- helpers


def _place(state: OnPolicyState) -> OnPolicyState:
    # With a mesh: the rollout carry split along `num_envs`, the rest replicated.
    if current_mesh() is None:
        return state
    return dataclasses.replace(
        replicate(state), step_state=shard_along(state.step_state, 0)
    )


def _update_observation_statistics(policy: Any, observations: Any) -> Any:
    # Policies that normalise observations keep running statistics (the
    # declared `AbstractPolicy.update_observation_statistics`; the default keeps
    # none and returns the policy, and XLA drops the unused reshape); the
    # rollout's observations (leading axes `(num_steps, num_envs)`) are merged.
    flat = jax.tree.map(lambda x: jnp.reshape(x, (-1,) + x.shape[2:]), observations)
    return policy.update_observation_statistics(flat)
