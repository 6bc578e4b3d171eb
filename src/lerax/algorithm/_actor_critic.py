"""What actor-critic on-policy algorithms share: the step, GAE, and their base."""

# No `from __future__ import annotations` here: Equinox recognises an
# `eqx.AbstractVar` annotation only when it is evaluated; as a string it became
# an ordinary dataclass field (inherited by every subclass as a required
# argument).

from typing import TYPE_CHECKING

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Key

from lerax.buffer import RolloutBuffer
from lerax.callback import AbstractCallback
from lerax.env import AbstractEnvLike, auto_reset, clip_to_action_space
from lerax.policy import AbstractPrivilegedActorCriticPolicy, PrivilegedObservation

from ._base import PolicyType
from ._on_policy import AbstractOnPolicyAlgorithm
from ._on_policy_state import OnPolicyStepState
from ._step import next_step_state, record_step

if TYPE_CHECKING:
    from lerax.policy import AbstractActorCriticPolicy


def actor_critic_step(
    env: AbstractEnvLike,
    policy: "AbstractActorCriticPolicy",
    state: OnPolicyStepState,
    *,
    key: Key[Array, ""],
    callback: AbstractCallback,
    clip_actions: bool = True,
) -> tuple[OnPolicyStepState, RolloutBuffer]:
    """One step of one environment under an actor-critic policy, with auto-reset.

    The `step` of `AbstractActorCriticAlgorithm`, public so that a new
    algorithm on `AbstractOnPolicyAlgorithm` can collect with it: it asks the
    environment for an action mask, samples an action with
    `policy.action_and_value`, steps the environment, tells the callback
    (`callback.on_step` with a `StepContext`), and where the episode ended
    (terminated or truncated) resets the environment (`lerax.env.auto_reset`,
    which follows the env's declared `reset_scheme`) and the policy state.
    Call it on one environment; the base vmaps `step` over `num_envs`.

    The buffer entry keeps the pre-reset next observation (and policy state), so
    post-collection can bootstrap a truncated episode from its true final state.
    For an `lerax.policy.AbstractPrivilegedActorCriticPolicy` both observations
    are `PrivilegedObservation`s, holding the env's `critic_observation` of the
    same state (the next one's taken before any reset).
    It also keeps the raw sampled action and its log-probability; with
    `clip_actions` only the copy sent to the environment (and shown to the
    callback) is clipped to a `Box` action space's bounds.

    Args:
        env: The environment.
        policy: An `AbstractActorCriticPolicy`.
        state: The step state of this environment.
        key: A JAX PRNG key.
        callback: The callback.
        clip_actions: Whether to clip `Box` actions to the bounds before the
            environment sees them.

    Returns:
        The next step state (after any reset) and the buffer entry of this step
        (no leading axes; `advantages` and `returns` are not filled yet).
    """
    mask_key, action_key, env_key, reset_key, policy_key, callback_key = (
        jax.random.split(key, 6)
    )
    action_mask = env.action_mask(state.env_state, key=mask_key)
    # A privileged critic (declared by the policy's base) reads the env's
    # critic observation beside the observation; the actor never does.
    privileged = isinstance(policy, AbstractPrivilegedActorCriticPolicy)
    if privileged:
        critic_key, next_critic_key = jax.random.split(jax.random.fold_in(key, 1))
        policy_observation = PrivilegedObservation(
            observation=state.observation,
            critic_observation=env.critic_observation(state.env_state, key=critic_key),
        )
    else:
        policy_observation = state.observation
    policy_state, action, value, log_prob = policy.action_and_value(
        state.policy_state, policy_observation, key=action_key, action_mask=action_mask
    )
    env_action = (
        clip_to_action_space(env.action_space, action) if clip_actions else action
    )
    env_state, observation, reward, terminated, truncated, _ = env.step(
        state.env_state, env_action, key=env_key
    )
    outcome = record_step(
        state,
        callback,
        action=env_action,
        reward=reward,
        terminated=terminated,
        truncated=truncated,
        action_mask=action_mask,
        key=callback_key,
    )
    if privileged:
        # The pre-reset next state's critic observation: GAE bootstraps a
        # truncated episode (and the rollout's last step) from it.
        next_policy_observation = PrivilegedObservation(
            observation=observation,
            critic_observation=env.critic_observation(env_state, key=next_critic_key),
        )
    else:
        next_policy_observation = observation
    entry = RolloutBuffer(
        observations=policy_observation,
        actions=action,
        rewards=outcome.reward,
        terminations=outcome.terminated,
        truncations=outcome.truncated,
        log_probs=log_prob,
        values=value,
        policy_states=state.policy_state,
        next_observations=next_policy_observation,
        next_policy_states=policy_state,
        action_masks=action_mask,
    )
    # The env's declared `reset_scheme` decides how the reset is computed
    # (every step and selected, or only when some env of the batch is done);
    # the states are the same either way.
    next_env_state, next_observation = auto_reset(
        env, env_state, observation, outcome.done, key=reset_key
    )
    next_state = next_step_state(
        outcome,
        env_state=next_env_state,
        observation=next_observation,
        policy_state=policy_state,
        reset_policy_state=policy.reset(key=policy_key),
    )
    return next_state, entry


def gae_post_collect(
    policy: "AbstractActorCriticPolicy",
    buffer: RolloutBuffer,
    *,
    gamma: Float[ArrayLike, ""],
    gae_lambda: Float[ArrayLike, ""],
) -> RolloutBuffer:
    """Fill a collected buffer's advantages and returns by GAE.

    The `post_collect` of `AbstractActorCriticAlgorithm`, for a buffer
    collected with `actor_critic_step`. A termination cuts the bootstrap; a
    truncation, and the last step of the rollout, bootstrap from the critic's
    value of the pre-reset next observation. `gae_lambda=1` gives Monte-Carlo
    returns (bootstrapped only there), `gae_lambda=0` one-step TD targets.

    Values of the pre-reset next observations are computed in one batched pass
    over the whole rollout, which is cheaper than one more critic call per step.

    Args:
        policy: The `AbstractActorCriticPolicy` that collected the buffer.
        buffer: A buffer with leading axes `(num_steps, num_envs)`.
        gamma: The discount factor.
        gae_lambda: The GAE lambda.

    Returns:
        The buffer with `advantages` and `returns` (`returns = advantages +
        values`), same leading axes.
    """

    def value(policy_state, observation):
        return policy.value(policy_state, observation)[1]

    next_values = jax.vmap(jax.vmap(value))(
        buffer.next_policy_states, buffer.next_observations
    )
    return buffer.with_gae(next_values, gamma=gamma, gae_lambda=gae_lambda)


def evaluate_buffer(
    policy: "AbstractActorCriticPolicy", buffer: RolloutBuffer
) -> tuple[Float[Array, " *batch"], Float[Array, " *batch"], Float[Array, " *batch"]]:
    """Values, log-probabilities and entropies of a buffer's actions.

    What a loss needs from the policy being trained: differentiate through it
    (inside `eqx.filter_grad`) to get gradients for the actor and the critic.

    A buffer with one leading axis is a batch of independent samples, each
    evaluated from its stored policy state by `policy.evaluate_actions` (the
    batched `evaluate_action`). A buffer with two, `(sequences,
    num_steps)`, holds whole sequences (a recurrent policy's training data):
    each is re-run with `policy.evaluate_sequence`, so gradients flow through
    time, the memory restarting from the stored state at the first step and at
    each episode start.

    Args:
        policy: An `AbstractActorCriticPolicy`.
        buffer: A buffer with one leading batch axis, or two for sequences.

    Returns:
        `(values, log_probs, entropies)` under `policy`, one entry per sample
        (shaped like `buffer.rewards`).
    """
    if buffer.rewards.ndim == 2:
        dones = buffer.terminations | buffer.truncations
        starts = jnp.concatenate([jnp.ones_like(dones[:, :1]), dones[:, :-1]], axis=1)
        return jax.vmap(policy.evaluate_sequence)(
            buffer.policy_states,
            buffer.observations,
            buffer.actions,
            starts,
            buffer.action_masks,
        )

    return policy.evaluate_actions(
        buffer.policy_states,
        buffer.observations,
        buffer.actions,
        action_masks=buffer.action_masks,
    )


def explained_variance(
    values: Float[Array, "..."], returns: Float[Array, "..."]
) -> Float[Array, ""]:
    """`1 - Var[returns - values] / Var[returns]` (NaN when returns are constant).

    How much of the returns' variance the critic explains: the usual diagnostic
    of a value function, logged by PPO and A2C.

    Args:
        values: Predicted values.
        returns: Target returns.

    Returns:
        The explained variance; 1 is perfect, 0 no better than the mean.
    """
    var_returns = jnp.var(returns)
    return jnp.where(
        var_returns > 0,
        1.0 - jnp.var(returns - values) / jnp.where(var_returns > 0, var_returns, 1.0),
        jnp.nan,
    )


class AbstractActorCriticAlgorithm(AbstractOnPolicyAlgorithm[PolicyType]):
    """An on-policy algorithm whose policy is an actor-critic and targets are GAE.

    Supplies the collection half of `AbstractOnPolicyAlgorithm`: `step` acts with
    `policy.action_and_value` and auto-resets finished environments (keeping the
    pre-reset observation; `actor_critic_step`) and `post_collect` fills
    advantages and returns by GAE (`gae_post_collect`). A concrete algorithm
    (`PPO`, `A2C`, or your own) adds its hyperparameters and the attributes
    `num_envs`, `num_steps`, `gamma`, `gae_lambda`, `clip_actions`,
    `on_nonfinite`, `optimizer` and `batch_size`, and the method `train`.

    Attributes:
        gae_lambda: The GAE lambda, in [0, 1].
        clip_actions: Whether `Box` actions are clipped to the action space's
            bounds before the environment sees them (the buffer keeps the raw
            sample and its log-probability, as Stable-Baselines3 does).
    """

    gae_lambda: eqx.AbstractVar[Float[Array, ""]]
    clip_actions: eqx.AbstractVar[bool]

    def step(
        self,
        env: AbstractEnvLike,
        policy: PolicyType,
        state: OnPolicyStepState[PolicyType],
        *,
        key: Key[Array, ""],
        callback: AbstractCallback,
    ) -> tuple[OnPolicyStepState[PolicyType], RolloutBuffer]:
        """Act with the policy in one environment, auto-resetting at episode ends.

        Args:
            env: The environment.
            policy: The current policy.
            state: The step state of this environment.
            key: A JAX PRNG key.
            callback: The callback for this step.

        Returns:
            The new step state and the buffer entry of this step.
        """
        return actor_critic_step(
            env,
            policy,
            state,
            key=key,
            callback=callback,
            clip_actions=self.clip_actions,
        )

    def post_collect(
        self,
        env: AbstractEnvLike,
        policy: PolicyType,
        step_state: OnPolicyStepState[PolicyType],
        buffer: RolloutBuffer,
        *,
        key: Key[Array, ""],
    ) -> RolloutBuffer:
        """Compute GAE advantages and returns.

        Args:
            env: The environment.
            policy: The policy that collected the buffer.
            step_state: The step state after the rollout.
            buffer: The collected buffer.
            key: A JAX PRNG key.

        Returns:
            The buffer with advantages and returns.
        """
        return gae_post_collect(
            policy, buffer, gamma=self.gamma, gae_lambda=self.gae_lambda
        )
