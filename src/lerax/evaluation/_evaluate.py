"""Run a policy for whole episodes and report their returns, in one program."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, Key, PyTree

from lerax._checks import check_size
from lerax._key import check_key
from lerax.env import AbstractEnvLike, clip_to_action_space
from lerax.policy import check_env_and_policy

from ._episodes import play_episodes


class EvaluationResult(eqx.Module):
    """The outcome of `evaluate_policy`, one entry per episode.

    Attributes:
        returns: Undiscounted sum of the rewards of each episode.
        lengths: Number of steps of each episode.
        completed: Whether the episode ended (terminated or truncated by the
            environment) within `max_steps`; `False` means it was cut off by
            `max_steps`, and its return and length are partial.
    """

    returns: Float[Array, " num_episodes"]
    lengths: Int[Array, " num_episodes"]
    completed: Bool[Array, " num_episodes"]


class _Episode(eqx.Module):
    env_state: PyTree
    policy_state: PyTree
    observation: PyTree
    episode_return: Float[Array, ""]
    length: Int[Array, ""]
    done: Bool[Array, ""]
    key: Key[Array, ""]


@eqx.filter_jit
def _evaluate(
    env: AbstractEnvLike,
    policy: Any,
    key: Key[Array, ""],
    num_episodes: int,
    deterministic: bool,
    max_steps: int,
    clip_actions: bool,
) -> EvaluationResult:
    def start(episode_key):
        reset_key, policy_key, loop_key = jax.random.split(episode_key, 3)
        env_state, observation, _ = env.reset(key=reset_key)
        return _Episode(
            env_state=env_state,
            policy_state=policy.reset(key=policy_key),
            observation=observation,
            episode_return=jnp.zeros((), jnp.float32),
            length=jnp.zeros((), jnp.int32),
            done=jnp.zeros((), bool),
            key=loop_key,
        )

    def advance(episode):
        key, mask_key, action_key, env_key = jax.random.split(episode.key, 4)
        action_mask = env.action_mask(episode.env_state, key=mask_key)
        policy_state, action = policy(
            episode.policy_state,
            episode.observation,
            key=None if deterministic else action_key,
            action_mask=action_mask,
        )
        if clip_actions:
            action = clip_to_action_space(env.action_space, action)
        env_state, observation, reward, terminated, truncated, _ = env.step(
            episode.env_state, action, key=env_key
        )
        return _Episode(
            env_state=env_state,
            policy_state=policy_state,
            observation=observation,
            episode_return=episode.episode_return + jnp.asarray(reward, jnp.float32),
            length=episode.length + 1,
            done=jnp.asarray(terminated | truncated, bool),
            key=key,
        )

    episodes = play_episodes(
        start, advance, key=key, num_episodes=num_episodes, max_steps=max_steps
    )
    return EvaluationResult(
        returns=episodes.episode_return,
        lengths=episodes.length,
        completed=episodes.done,
    )


def evaluate_policy(
    env: AbstractEnvLike,
    policy: Any,
    *,
    key: Key[Array, ""],
    num_episodes: int = 16,
    deterministic: bool = True,
    max_steps: int = 100_000,
    clip_actions: bool = True,
) -> EvaluationResult:
    """Play `num_episodes` episodes with `policy` and report their returns.

    The episodes run side by side (`jax.vmap`) in one `lax.while_loop` that stops
    when every episode has ended, so the whole evaluation is one compiled program;
    it is pure, and `jax.vmap` over keys or over a batch of trained policies (for
    example the output of a vmapped `learn`) works. The environment is not reset
    automatically: each episode is played once, from its own reset.

    Args:
        env: The environment.
        policy: An `AbstractPolicy` built for `env` (for example a trained
            `MLPActorCriticPolicy`).
        key: A JAX PRNG key.
        num_episodes: The number of episodes.
        deterministic: Act with the policy's deterministic action (the mode of
            its distribution) rather than sampling.
        max_steps: Stop every episode after this many steps even if the
            environment has not ended it (a guard against environments without a
            time limit); see `EvaluationResult.completed`.
        clip_actions: Clip `Box` actions to the action space's bounds before
            the environment sees them, as `PPO` and `A2C` do by default while
            training (a Gaussian policy's sample, and even its mean, can leave
            the bounds). Pass the value the policy was trained with.

    Returns:
        The per-episode returns, lengths and completion flags.

    Raises:
        TypeError: If `env` is not a lerax environment, or `key` not a JAX PRNG
            key.
        ValueError: If `num_episodes` or `max_steps` is not a positive int, or the
            policy was built for another environment.
    """
    check_key("evaluate_policy", key)
    check_size("evaluate_policy", "num_episodes", num_episodes)
    check_size("evaluate_policy", "max_steps", max_steps)
    check_env_and_policy(env, policy, owner="evaluate_policy")
    return _evaluate(
        env,
        policy,
        key,
        int(num_episodes),
        bool(deterministic),
        int(max_steps),
        bool(clip_actions),
    )
