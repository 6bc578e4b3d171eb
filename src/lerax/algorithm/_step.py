"""The bookkeeping every collecting `step` shares, around its own acting.

`actor_critic_step`, PQN's `q_step` and the multi-agent step each act in their
own way (sample from an actor, act epsilon-greedily, act for every agent), then
do the same: count the episode's return and length, tell the callback, and
where the episode ended start the next one (environment, policy memory,
counters). Written once here so the three cannot drift apart.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Int, Key

from lerax.callback import AbstractCallback, StepContext

from ._on_policy_state import OnPolicyStepState


def select_where(pred: Bool[ArrayLike, ""], on_true: Any, on_false: Any) -> Any:
    """`on_true` where `pred`, else `on_false`, leaf by leaf."""
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


class StepOutcome(eqx.Module):
    """A step's result as the loop records it (see `record_step`).

    Attributes:
        reward: The reward, float32.
        terminated: The termination flag.
        truncated: The truncation flag.
        done: `terminated | truncated`.
        episode_return: The episode's return including this reward.
        episode_length: The episode's length including this step.
        callback_state: The callback state after `on_step`.
    """

    reward: Float[Array, ""]
    terminated: Bool[Array, ""]
    truncated: Bool[Array, ""]
    done: Bool[Array, ""]
    episode_return: Float[Array, ""]
    episode_length: Int[Array, ""]
    callback_state: Any


def record_step(
    state: OnPolicyStepState,
    callback: AbstractCallback,
    *,
    action: Any,
    reward: Float[ArrayLike, ""],
    terminated: Bool[ArrayLike, ""],
    truncated: Bool[ArrayLike, ""],
    action_mask: Any,
    key: Key[Array, ""],
) -> StepOutcome:
    """Count the step into its episode and tell the callback.

    Args:
        state: The step state before the step.
        callback: The callback (`on_step` gets a `StepContext`).
        action: The action the environment saw.
        reward: The (team) reward.
        terminated: Whether the episode terminated.
        truncated: Whether it was truncated.
        action_mask: The mask the action was chosen under (or `None`).
        key: The callback's key.

    Returns:
        The recorded outcome.
    """
    reward = jnp.asarray(reward, jnp.float32)
    terminated = jnp.asarray(terminated, bool)
    truncated = jnp.asarray(truncated, bool)
    done = terminated | truncated
    episode_return = state.episode_return + reward
    episode_length = state.episode_length + 1
    callback_state = callback.on_step(
        StepContext(
            state=state.callback_state,
            observation=state.observation,
            action=action,
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            done=done,
            episode_return=episode_return,
            episode_length=episode_length,
            action_mask=action_mask,
        ),
        key=key,
    )
    return StepOutcome(
        reward=reward,
        terminated=terminated,
        truncated=truncated,
        done=done,
        episode_return=episode_return,
        episode_length=episode_length,
        callback_state=callback_state,
    )


def next_step_state(
    outcome: StepOutcome,
    *,
    env_state: Any,
    observation: Any,
    policy_state: Any,
    reset_policy_state: Any,
) -> OnPolicyStepState:
    """The step state the next step starts from.

    Args:
        outcome: This step's outcome (`record_step`).
        env_state: The environment state, already reset where the episode
            ended (`lerax.env.auto_reset` or a select).
        observation: Its observation, likewise.
        policy_state: The policy state after acting.
        reset_policy_state: A fresh policy state, taken where the episode ended.

    Returns:
        The next `OnPolicyStepState`, with the episode counters zeroed where
        the episode ended.
    """
    done = outcome.done
    return OnPolicyStepState(
        env_state=env_state,
        policy_state=select_where(done, reset_policy_state, policy_state),
        callback_state=outcome.callback_state,
        observation=observation,
        episode_return=jnp.where(done, 0.0, outcome.episode_return),
        episode_length=jnp.where(done, 0, outcome.episode_length),
    )
