"""The on-policy loop, written once: collect a rollout, post-process it, train.

Everything from `reset` to the last iteration is one compiled program: the rollout
is a `lax.scan` over steps of `jax.vmap`-ed environments and the iterations are a
`lax.scan` too, so `learn` is pure (key in, policy out) and can itself be
`jax.vmap`-ed over keys.
"""

# No `from __future__ import annotations` here: Equinox recognises an
# `eqx.AbstractVar` annotation only when it is evaluated; as a string it became
# an ordinary dataclass field (inherited by every subclass as a required
# argument).

import dataclasses
import functools
import re
from abc import abstractmethod
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, Key, Scalar

from lerax._checks import check_size, plain
from lerax._serialization import structure_entries
from lerax._sharding import check_mesh, current_mesh, replicate, shard_along, tracing_on
from lerax.buffer import RolloutBuffer
from lerax.callback import (
    AbstractCallback,
    EmptyCallback,
    IterationContext,
    ListCallback,
    ResetContext,
)
from lerax.checkpoint import Checkpointer
from lerax.env import AbstractEnvLike
from lerax.policy import check_env_and_policy

from ._base import AbstractAlgorithm, PolicyType
from ._hyperparameter import RANGE_KEY
from ._nonfinite import (
    FAULT_QUANTITIES,
    NonFiniteError,
    all_finite,
    check_on_nonfinite,
    fault_message,
    raise_on_fault,
    reraise_fault,
    select_tree,
)
from ._on_policy_state import (
    AbstractOnPolicyState,
    AbstractOnPolicyStepState,
    OnPolicyState,
    OnPolicyStepState,
)
from ._scan import filter_scan


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


def check_number(
    owner: str,
    name: str,
    value,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> None:
    """Raise a `ValueError` naming `name` if a concrete `value` is out of range.

    Traced values (an algorithm built inside `jax.vmap`, say) are not checked.

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


_UNSET = object()


def check_hyperparameters(algorithm: eqx.Module) -> None:
    """Range-check every field of `algorithm` declared with `hyperparameter`.

    Args:
        algorithm: An algorithm instance.

    Raises:
        ValueError: If a concrete value is NaN or out of its field's range (the
            message names the class, the field and the value).
    """
    owner = type(algorithm).__name__
    for field in dataclasses.fields(algorithm):
        bounds = field.metadata.get(RANGE_KEY)
        if bounds is not None:
            check_number(
                owner,
                field.name,
                getattr(algorithm, field.name),
                low=bounds.low,
                high=bounds.high,
                low_open=bounds.low_open,
            )


def update_observation_statistics(policy, observations):
    """Merge a rollout's observations into a policy's running statistics, if any.

    Args:
        policy: The policy; one with an `update_observation_statistics` method
            (`MLPActorCriticPolicy`) has its statistics updated.
        observations: The rollout's observations, leading axes
            `(num_steps, num_envs)`.

    Returns:
        The policy, with updated statistics where it keeps them.
    """
    update = getattr(policy, "update_observation_statistics", None)
    if update is None:
        return policy
    flat = jax.tree.map(lambda x: jnp.reshape(x, (-1,) + x.shape[2:]), observations)
    return update(flat)


class AbstractOnPolicyAlgorithm(AbstractAlgorithm[PolicyType, OnPolicyState]):
    """Base class for on-policy algorithms: the loop is written here, once.

    Each iteration collects a rollout of `num_steps` steps in `num_envs`
    environments with the current policy (`step`, vmapped over environments and
    scanned over steps), post-processes it (`post_collect`), trains on it
    (`train`) and calls the callbacks; `learn` compiles `reset` and all the
    iterations into one program, so it is pure (key in, policy out) and can be
    `jax.vmap`-ed over keys or over a stack of algorithm instances.

    A concrete subclass is a final class (fields and `__init__` in it, nothing
    subclasses it) that provides:

    - the attributes `num_envs` and `num_steps` (static ints: they set shapes),
      `gamma` (the discount; also used by reward scaling), `batch_size` (an int,
      for the reader: the base does not use it), `optimizer` (an optax
      transformation; a property built from array-leaf hyperparameters keeps
      them sweepable) and `on_nonfinite` (a static `"error"`, `"skip"` or
      `"ignore"`: see below);
    - the methods `step` (one environment step, returning the next carry and a
      `RolloutBuffer` entry; `lerax.algorithm.actor_critic_step` is the
      actor-critic one, with auto-reset) and `train` (policy, optimizer state
      and buffer in; policy, optimizer state and a log of scalars out).

    Optional hooks, with defaults that do nothing: `post_collect` (fill
    returns and advantages; `lerax.algorithm.gae_post_collect` does GAE),
    `per_step` (after every step of one environment), `per_iteration` (after
    every iteration) and `post_reset` (adjust the initial state: PPO sets its
    learning-rate anneal horizon there). `AbstractActorCriticAlgorithm` fills
    `step` and `post_collect` for actor-critic policies, leaving `train`.

    Floats that could be swept (learning rate, discount, loss coefficients)
    should be array leaves, declared with `lerax.algorithm.hyperparameter`:
    then a new value compiles nothing and `eqx.filter_vmap` over instances is a
    sweep. Such fields are range-checked when an instance is built.

    `on_nonfinite` decides what a NaN or Inf does. The base checks each
    rollout's observations and rewards; `train` may report a skipped update
    through the log keys `nonfinite_loss` and `nonfinite_gradient` (non-zero
    when it skipped one; `lerax.algorithm.guarded_update` gives both). With
    `"error"` the run stops at the first fault and `learn` raises
    `NonFiniteError`; with `"skip"` a bad update is dropped and counted;
    `"ignore"` checks nothing.

    Attributes:
        optimizer: The optimizer used for training the policy.
        gamma: The discount factor.
        num_envs: The number of parallel environments.
        num_steps: The number of steps to collect per environment.
        batch_size: The batch size for training.
        on_nonfinite: What a NaN or Inf in training does: "error", "skip" or
            "ignore".
    """

    optimizer: eqx.AbstractVar[optax.GradientTransformation]
    gamma: eqx.AbstractVar[float]
    num_envs: eqx.AbstractVar[int]
    num_steps: eqx.AbstractVar[int]
    batch_size: eqx.AbstractVar[int]
    on_nonfinite: eqx.AbstractVar[str]

    def __check_init__(self):
        # A class that lacks `on_nonfinite` is refused by Equinox right after
        # this check (an unset abstract attribute), with a message naming it.
        mode = getattr(self, "on_nonfinite", _UNSET)
        if mode is not _UNSET:
            check_on_nonfinite(type(self).__name__, mode)
        check_hyperparameters(self)

    # ------------------------------------------------------------------ hooks

    def per_iteration(self, state: OnPolicyState) -> OnPolicyState:
        """Process the algorithm state after each iteration (default: no-op).

        An optional hook for algorithm-specific bookkeeping; it runs after the
        callbacks' `on_iteration`.

        Args:
            state: The current algorithm state.

        Returns:
            The updated algorithm state.
        """
        return state

    def per_step(
        self, step_state: AbstractOnPolicyStepState[PolicyType]
    ) -> AbstractOnPolicyStepState[PolicyType]:
        """Process one environment's step carry after each step (default: no-op).

        An optional hook; it runs inside the rollout scan, vmapped over
        environments.

        Args:
            step_state: The step state after the step.

        Returns:
            The updated step state.
        """
        return step_state

    def post_reset(self, state: OnPolicyState[PolicyType]) -> OnPolicyState[PolicyType]:
        """Adjust the initial state `reset` built (default: no-op).

        An optional hook: `reset` calls it last, so an algorithm can set up
        what its options need (PPO sets the learning-rate anneal horizon and the
        reward-scaling state here). The planned number of iterations is
        `state.num_iterations`.

        Args:
            state: The initial state.

        Returns:
            The adjusted initial state.
        """
        return state

    @abstractmethod
    def step(
        self,
        env: AbstractEnvLike,
        policy: PolicyType,
        state: AbstractOnPolicyStepState[PolicyType],
        *,
        key: Key[Array, ""],
        callback: AbstractCallback,
    ) -> tuple[AbstractOnPolicyStepState[PolicyType], RolloutBuffer]:
        """Perform a single environment step and collect rollout data.

        Works on one environment; `collect_rollout` vmaps it.

        Args:
            env: The environment.
            policy: The current policy.
            state: The current step state.
            key: A JAX PRNG key.
            callback: The callback for this step.

        Returns:
            A tuple of the new step state and a rollout buffer entry.
        """

    def post_collect(
        self,
        env: AbstractEnvLike,
        policy: PolicyType,
        step_state: AbstractOnPolicyStepState[PolicyType],
        buffer: RolloutBuffer,
        *,
        key: Key[Array, ""],
    ) -> RolloutBuffer:
        """Process the rollout buffer after collection.

        Override to compute returns, advantages, or other post-collection
        processing. By default returns the buffer unchanged.

        Args:
            env: The environment.
            policy: The current policy.
            step_state: The step state after the rollout.
            buffer: The collected rollout buffer.
            key: A JAX PRNG key.

        Returns:
            The processed rollout buffer.
        """
        del env, policy, step_state, key
        return buffer

    @abstractmethod
    def train(
        self,
        policy: PolicyType,
        opt_state: optax.OptState,
        buffer: RolloutBuffer,
        *,
        key: Key[Array, ""],
    ) -> tuple[PolicyType, optax.OptState, dict[str, Scalar]]:
        """Train the policy using the rollout buffer.

        Args:
            policy: The current policy.
            opt_state: The current optimizer state.
            buffer: The rollout buffer containing collected experiences.
            key: A JAX PRNG key.

        Returns:
            A tuple containing the updated policy, updated optimizer state,
            and a log dictionary of scalars.
        """

    # ------------------------------------------------------- the loop, once

    def num_iterations(self, total_timesteps: int) -> int:
        """The number of iterations `learn` makes for `total_timesteps`.

        Each iteration collects `num_envs * num_steps` steps; the count is rounded
        down, so at most `total_timesteps` steps are taken.

        Args:
            total_timesteps: The training budget in environment steps.

        Returns:
            `total_timesteps // (num_envs * num_steps)`.

        Raises:
            ValueError: If the budget is smaller than one iteration.
        """
        if isinstance(total_timesteps, bool) or not isinstance(
            total_timesteps, (int, np.integer)
        ):
            raise ValueError(
                f"total_timesteps must be a Python int, got {plain(total_timesteps)}."
            )
        per_iteration = self.num_envs * self.num_steps
        if total_timesteps < per_iteration:
            raise ValueError(
                f"total_timesteps={total_timesteps} is smaller than one iteration "
                f"(num_envs * num_steps = {self.num_envs} * {self.num_steps} = "
                f"{per_iteration}); raise total_timesteps or lower num_envs/num_steps."
            )
        return int(total_timesteps) // per_iteration

    def consolidate_callbacks(
        self,
        callback: Sequence[AbstractCallback] | AbstractCallback | None = None,
    ) -> AbstractCallback:
        """Turn `None`, one callback or a sequence of callbacks into one callback.

        Args:
            callback: `None`, a callback, or a sequence of callbacks.

        Returns:
            `EmptyCallback()` for `None`, the callback itself, or a `ListCallback`.

        Raises:
            TypeError: If `callback` is none of these.
        """
        if callback is None:
            return EmptyCallback()
        if isinstance(callback, AbstractCallback):
            return callback
        if isinstance(callback, Sequence) and not isinstance(callback, str):
            return ListCallback(callback)
        raise TypeError(
            f"callback must be None, an AbstractCallback or a sequence of them, "
            f"got {type(callback).__name__}."
        )

    def collect_rollout(
        self,
        env: AbstractEnvLike,
        policy: PolicyType,
        step_state: AbstractOnPolicyStepState[PolicyType],
        callback: AbstractCallback,
        key: Key[Array, ""],
    ) -> tuple[AbstractOnPolicyStepState[PolicyType], RolloutBuffer]:
        """Collect a rollout using the current policy.

        A `lax.scan` over `num_steps` of `step` vmapped over `num_envs`.

        Args:
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
            state, entry = self.step(env, policy, state, key=k, callback=callback)
            return self.per_step(state), entry

        def one_step(state, keys):
            state, entry = jax.vmap(one_env)(state, keys)
            # With a mesh (`learn(..., mesh=)`), each device steps its own envs.
            return shard_along(state, 0), shard_along(entry, 0)

        # Every step's per-environment keys in one draw (one hash over all of
        # them instead of one small one per step).
        step_state, buffer = filter_scan(
            one_step,
            step_state,
            jax.random.split(key, (self.num_steps, self.num_envs)),
        )
        return step_state, shard_along(buffer, 1)

    def reset(
        self,
        env: AbstractEnvLike,
        policy: PolicyType,
        *,
        key: Key[Array, ""],
        callback: AbstractCallback,
        num_iterations: int = 1,
    ) -> OnPolicyState[PolicyType]:
        """The state of a run before its first iteration.

        Builds the rollout carry of every environment, the optimizer state and
        the callbacks' state, then passes the result through `post_reset`.

        Args:
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
        )(jax.random.split(env_key, self.num_envs))
        ctx = ResetContext(
            num_envs=self.num_envs,
            num_steps=self.num_steps,
            num_iterations=num_iterations,
            total_timesteps=num_iterations * self.num_envs * self.num_steps,
            policy=policy,
            algorithm=self,
        )
        state = OnPolicyState(
            iteration_count=jnp.zeros((), jnp.int32),
            step_state=step_state,
            env=env,
            policy=policy,
            opt_state=self.optimizer.init(eqx.filter(policy, eqx.is_inexact_array)),
            callback_state=callback.reset(ctx, key=callback_key),
            key=run_key,
            fault=jnp.zeros((), jnp.int32),
            fault_iteration=jnp.full((), -1, jnp.int32),
            skipped_updates=jnp.zeros((), jnp.int32),
            num_iterations=num_iterations,
        )
        return self.post_reset(state)

    def iteration(
        self,
        state: AbstractOnPolicyState[PolicyType],
        *,
        key: Key[Array, ""],
        callback: AbstractCallback,
    ) -> AbstractOnPolicyState[PolicyType]:
        """One iteration: collect, post-process, train, then the callback.

        Args:
            state: The algorithm state.
            key: A JAX PRNG key.
            callback: The (consolidated) callback.

        Returns:
            The algorithm state after the iteration.
        """
        rollout_key, post_key, train_key, callback_key = jax.random.split(key, 4)

        def work(state):
            step_state, buffer = self.collect_rollout(
                state.env, state.policy, state.step_state, callback, rollout_key
            )
            # The raw rewards and done flags, for the episode-counting callbacks.
            rollout = (buffer.rewards, buffer.terminations | buffer.truncations)
            reward_normalizer = getattr(state, "reward_normalizer", None)
            if reward_normalizer is not None:
                reward_normalizer, rewards = reward_normalizer.scale(
                    buffer.rewards,
                    buffer.terminations | buffer.truncations,
                    gamma=self.gamma,
                )
                buffer = dataclasses.replace(buffer, rewards=rewards)
            buffer = self.post_collect(
                state.env, state.policy, step_state, buffer, key=post_key
            )
            policy, opt_state, log = self.train(
                state.policy, state.opt_state, buffer, key=train_key
            )
            # Running observation statistics (a policy with
            # `normalize_observations`) take in this rollout after training, so
            # each rollout is collected and trained on under the same statistics.
            policy = update_observation_statistics(policy, buffer.observations)
            return (
                step_state,
                buffer,
                policy,
                opt_state,
                log,
                reward_normalizer,
                rollout,
            )

        (step_state, buffer, policy, opt_state, log, reward_normalizer, rollout) = work(
            state
        )
        if reward_normalizer is not None:
            state = dataclasses.replace(state, reward_normalizer=reward_normalizer)
        new_state = state.next(step_state, policy, opt_state)
        if self.nonfinite_mode() != "ignore":
            new_state = self._guard(state, new_state, buffer, log)
        ctx = IterationContext(
            state=state.callback_state,
            step_states=step_state.callback_state,
            iteration=state.iteration_count,
            num_iterations=getattr(state, "num_iterations", 0),
            timesteps=new_state.iteration_count * (self.num_envs * self.num_steps),
            log=log,
            policy=new_state.policy,
            rewards=rollout[0],
            dones=rollout[1],
        )
        new_state = new_state.with_callback_states(
            callback.on_iteration(ctx, key=callback_key)
        )
        return self.per_iteration(new_state)

    def nonfinite_mode(self) -> str:
        """How this algorithm treats NaN and Inf: "error", "skip" or "ignore".

        Returns:
            The value of the algorithm's `on_nonfinite` attribute.
        """
        return self.on_nonfinite

    def _guard(self, state, new_state, buffer, log):
        # Observations and rewards are checked once per rollout; the loss and the
        # gradient per update, by `train`, which skips bad updates and counts
        # them in the log as `nonfinite_loss` / `nonfinite_gradient`.
        if not hasattr(new_state, "fault"):
            return new_state
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
        skipped = jnp.where(
            rollout_ok, (bad_losses + bad_gradients).astype(jnp.int32), 1
        )
        kept = dataclasses.replace(
            new_state,
            policy=select_tree(rollout_ok, new_state.policy, state.policy),
            opt_state=select_tree(rollout_ok, new_state.opt_state, state.opt_state),
        )
        fault = jnp.where(first, code, state.fault)
        fault_iteration = jnp.where(first, state.iteration_count, state.fault_iteration)
        if self.nonfinite_mode() == "error":
            # Stop the run soon after a fault: every `_FAULT_REPORT_EVERY`
            # iterations (and at the last) the host raises `NonFiniteError`
            # from inside the compiled program if a fault was recorded, which
            # aborts it; `learn` re-raises it as that type. A host call per
            # iteration would cost a few percent of throughput; the condition
            # is on the iteration count, which is never batched by vmap.
            report = functools.partial(
                raise_on_fault, type(self).__name__, state.num_iterations
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
        self, state: OnPolicyState[PolicyType]
    ) -> OnPolicyState[PolicyType]:
        """Raise the `NonFiniteError` a run recorded (with `on_nonfinite="error"`).

        Concrete states are read on the host (this waits for the run to finish).
        Inside a trace (`jax.vmap` or `jax.jit` of `learn`) the error is attached
        to the returned state with `eqx.branched_error_if` instead, naming the
        quantity.

        Args:
            state: The state a run returned.

        Returns:
            `state` (with the runtime check attached when traced).

        Raises:
            NonFiniteError: If the run stopped on a non-finite value.
        """
        if self.nonfinite_mode() != "error" or not hasattr(state, "fault"):
            return state
        owner = type(self).__name__
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
            raise NonFiniteError(
                fault_message(owner, code, iteration, state.num_iterations)
            )
        return state

    def run_identity(
        self,
        env: AbstractEnvLike,
        policy: PolicyType,
        callback: AbstractCallback,
        num_iterations: int,
    ) -> dict[str, str]:
        """What must match for a checkpoint to continue this run.

        The algorithm's class, static settings and hyperparameter values, and
        the structure (types, static fields, array shapes and dtypes) of the
        whole initial state: environment, policy, optimizer and callbacks.

        Args:
            env: The environment.
            policy: The policy.
            callback: The (consolidated) callback.
            num_iterations: The planned number of iterations.

        Returns:
            `path -> description` entries.
        """
        identity = {
            "algorithm": f"{type(self).__module__}.{type(self).__qualname__}",
            "num_iterations": str(num_iterations),
        }
        for field in dataclasses.fields(self):
            if isinstance(getattr(type(self), field.name, None), property):
                continue  # derived (the optimizer, the batch size)
            value = getattr(self, field.name, None)
            if isinstance(value, jax.core.Tracer):
                described = "traced"
            elif eqx.is_array(value):
                described = np.array2string(np.asarray(value), precision=8)
            elif callable(value):
                described = (
                    f"{getattr(value, '__module__', '?')}."
                    f"{getattr(value, '__qualname__', type(value).__qualname__)}"
                )
            else:
                described = re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))
            identity[f"algorithm.{field.name}"] = described
        template = eqx.filter_eval_shape(
            lambda k: self.reset(
                env, policy, key=k, callback=callback, num_iterations=num_iterations
            ),
            jax.random.key(0),
        )
        try:
            entries = structure_entries(template)
        except Exception:  # an object the describer refuses: shapes still count
            entries = [
                (jax.tree_util.keystr(path), f"{leaf.dtype}{list(leaf.shape)}")
                for path, leaf in jax.tree_util.tree_flatten_with_path(template)[0]
                if isinstance(leaf, jax.ShapeDtypeStruct)
            ]
        for path, description in entries:
            identity[f"state.{path}"] = description
        return identity

    def check_compatible(self, env: AbstractEnvLike, policy: PolicyType) -> None:
        """Check, before compiling, that `policy` was built for `env`.

        Args:
            env: The environment.
            policy: The policy.

        Raises:
            TypeError: If `env` is not an `AbstractEnvLike`.
            ValueError: If the policy's action or observation space differs from
                the environment's.
        """
        check_env_and_policy(env, policy)

    def resume(
        self,
        state: OnPolicyState[PolicyType],
        num_iterations: int,
        *,
        callback: Sequence[AbstractCallback] | AbstractCallback | None = None,
    ) -> OnPolicyState[PolicyType]:
        """Continue a run from `state` for `num_iterations` more iterations.

        Compiled as one program; `resume(learn_state(..., n1), n2)` is bit-for-bit
        a run of `n1 + n2` iterations. The run's planned total becomes
        `state.iteration_count + num_iterations` (progress shows it) and the
        callbacks' per-iteration records grow to it (`AbstractCallback.extend`).
        The callback must be the one the state was made with (its state is in
        `state`).

        Args:
            state: A state from `reset`, `learn_state` or an earlier `resume`.
            num_iterations: How many iterations to run.
            callback: The callback(s) the run was started with.

        Returns:
            The state after the iterations.

        Raises:
            ValueError: If `num_iterations` is not a positive int.
            NonFiniteError: If a NaN or Inf stopped the run.
        """
        check_size(type(self).__name__, "num_iterations", num_iterations)
        callback = self.consolidate_callbacks(callback)
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
                num_envs=self.num_envs,
                num_steps=self.num_steps,
                num_iterations=total,
                total_timesteps=total * self.num_envs * self.num_steps,
                policy=state.policy,
                algorithm=self,
            )
            state = dataclasses.replace(
                state,
                num_iterations=total,
                callback_state=callback.extend(state.callback_state, ctx),
            )
        with reraise_fault():
            state = _resume(self, state, jnp.int32(done), int(num_iterations), callback)
            if self.nonfinite_mode() == "error":
                jax.block_until_ready(state)
        return self.raise_if_faulted(state)

    def learn_state(
        self,
        env: AbstractEnvLike,
        policy: PolicyType,
        total_timesteps: int,
        *,
        key: Key[Array, ""],
        callback: Sequence[AbstractCallback] | AbstractCallback | None = None,
        checkpointer: Checkpointer | None = None,
        mesh: jax.sharding.Mesh | None = None,
    ) -> OnPolicyState[PolicyType]:
        """Like `learn`, but return the whole final state, callback states included.

        Args:
            env: The environment to train on.
            policy: The policy to train.
            total_timesteps: The total number of timesteps to train for.
            key: A JAX PRNG key.
            callback: A callback or list of callbacks to use during training.
            checkpointer: A `lerax.checkpoint.Checkpointer`: save the state
                periodically and continue from the newest checkpoint in its
                directory, if any.
            mesh: A one-axis `jax.sharding.Mesh`: the environments (and the
                rollout buffer and minibatches) are split along `num_envs` over
                its devices, the policy and optimizer state are replicated, and
                XLA inserts the gradient all-reduce. None (the default) runs on
                the default device and adds nothing to the program.

        Returns:
            The final algorithm state.

        Raises:
            TypeError: If `env` is not a lerax environment, `checkpointer` not a
                `Checkpointer`, or `mesh` not a `jax.sharding.Mesh`.
            ValueError: If a size, the budget or the env/policy pairing is
                invalid, the checkpoint directory holds another run, or the
                mesh has more than one axis or does not divide `num_envs`.
            NonFiniteError: If a NaN or Inf stopped the run (with
                `on_nonfinite="error"`).
        """
        callback = self.consolidate_callbacks(callback)
        num_iterations = self.num_iterations(total_timesteps)
        self.check_compatible(env, policy)
        check_mesh(type(self).__name__, mesh, self.num_envs)
        start = 0
        if checkpointer is not None:
            if not isinstance(checkpointer, Checkpointer):
                raise TypeError(
                    "checkpointer must be a lerax.checkpoint.Checkpointer, got "
                    f"{type(checkpointer).__name__}."
                )
            identity = self.run_identity(env, policy, callback, num_iterations)
            start = checkpointer.prepare(identity)
        with reraise_fault():
            state = _learn(
                self,
                env,
                policy,
                num_iterations,
                start,
                key,
                callback,
                checkpointer,
                mesh,
            )
            traced = isinstance(state.iteration_count, jax.core.Tracer)
            if not traced and (
                checkpointer is not None or self.nonfinite_mode() == "error"
            ):
                jax.block_until_ready(state)
        if checkpointer is not None and not traced:
            checkpointer.wait()
        return self.raise_if_faulted(state)

    def learn(
        self,
        env: AbstractEnvLike,
        policy: PolicyType,
        total_timesteps: int,
        *,
        key: Key[Array, ""],
        callback: Sequence[AbstractCallback] | AbstractCallback | None = None,
        checkpointer: Checkpointer | None = None,
        mesh: jax.sharding.Mesh | None = None,
    ) -> PolicyType:
        """Train the policy on the environment for a given number of timesteps.

        The whole run is one compiled program; a second call with the same
        shapes and static configuration compiles nothing.

        Args:
            env: The environment to train on.
            policy: The policy to train.
            total_timesteps: The total number of timesteps to train for (rounded
                down to whole iterations of `num_envs * num_steps`).
            key: A JAX PRNG key.
            callback: A callback or list of callbacks to use during training.
            checkpointer: A `lerax.checkpoint.Checkpointer`: save the state
                periodically and continue from the newest checkpoint in its
                directory, if any.
            mesh: A one-axis `jax.sharding.Mesh`: the environments (and the
                rollout buffer and minibatches) are split along `num_envs` over
                its devices, the policy and optimizer state are replicated, and
                XLA inserts the gradient all-reduce. None (the default) runs on
                the default device and adds nothing to the program.

        Returns:
            The trained policy.

        Raises:
            TypeError: If `env` is not a lerax environment, or `mesh` not a
                `jax.sharding.Mesh`.
            ValueError: If a size, the budget or the env/policy pairing is
                invalid, the checkpoint directory holds another run, or the
                mesh has more than one axis or does not divide `num_envs`.
            NonFiniteError: If a NaN or Inf stopped the run (with
                `on_nonfinite="error"`).
        """
        return self.learn_state(
            env,
            policy,
            total_timesteps,
            key=key,
            callback=callback,
            checkpointer=checkpointer,
            mesh=mesh,
        ).policy


# How often (in iterations) the "error" mode asks the host whether to stop.
_FAULT_REPORT_EVERY = 8


def _run(algorithm, state, indices, num_iterations, callback, checkpointer):
    """The iterations `indices` (from 0) of a run of `num_iterations`, one `lax.scan`.

    The scanned iteration index never depends on the key, so it is not batched
    by `jax.vmap` and the checkpoint condition stays a real branch under `vmap`.
    """

    def iteration(state):
        key, iteration_key = jax.random.split(state.key)
        state = dataclasses.replace(state, key=key)
        return algorithm.iteration(state, key=iteration_key, callback=callback)

    def body(state, index):
        state = _place(iteration(state))
        if checkpointer is not None:
            checkpointer.maybe_save(state, index, num_iterations)
        return state, None

    if indices.shape[0] == 0:
        return state
    state, _ = filter_scan(body, state, indices)
    return state


def _place(state):
    # With a mesh: the rollout carry split along `num_envs`, the rest replicated.
    if current_mesh() is None:
        return state
    return dataclasses.replace(
        replicate(state), step_state=shard_along(state.step_state, 0)
    )


@eqx.filter_jit
def _learn(
    algorithm, env, policy, num_iterations, start, key, callback, checkpointer, mesh
):
    with tracing_on(mesh):
        state = algorithm.reset(
            env, policy, key=key, callback=callback, num_iterations=num_iterations
        )
        if start:
            state = checkpointer.restore(state)
            # The restored count is `start`; a constant keeps it unbatched
            # under vmap.
            state = dataclasses.replace(state, iteration_count=jnp.int32(start))
        state = _place(state)
        indices = jnp.arange(start, num_iterations, dtype=jnp.int32)
        return _run(algorithm, state, indices, num_iterations, callback, checkpointer)


@eqx.filter_jit
def _resume(algorithm, state, start, num_iterations, callback):
    # `start` is traced, so resuming chunk after chunk of one size reuses one
    # program (as long as the planned total, a static size, does not change).
    indices = start + jnp.arange(num_iterations, dtype=jnp.int32)
    return _run(algorithm, state, indices, state.num_iterations, callback, None)
