"""Play whole team episodes; report each agent's return and the team's."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, Key, PyTree

from lerax._checks import check_size
from lerax._key import check_key
from lerax.env import AgentBatchEnv, clip_to_action_space
from lerax.policy import PerAgentPolicy, check_env_and_policy

from ._episodes import play_episodes

_OWNER = "evaluate_team"


class TeamEvaluationResult(eqx.Module):
    """The outcome of `evaluate_team`, one row per episode.

    Attributes:
        agent_returns: Each agent's undiscounted return, in the environment's
            `agents` order.
        team_returns: The episode's sum of the team reward (the mean of the
            agents' rewards at each step: what IPPO/MAPPO log as the return),
            which equals the mean of `agent_returns` over the agents.
        lengths: Number of steps of each episode.
        completed: Whether the episode ended within `max_steps`.
    """

    agent_returns: Float[Array, "num_episodes num_agents"]
    team_returns: Float[Array, " num_episodes"]
    lengths: Int[Array, " num_episodes"]
    completed: Bool[Array, " num_episodes"]


class _TeamEpisode(eqx.Module):
    env_state: PyTree
    policy_state: PyTree
    observation: PyTree
    agent_returns: Float[Array, " num_agents"]
    length: Int[Array, ""]
    done: Bool[Array, ""]
    key: Key[Array, ""]


def _team_reset(policy: Any, num_agents: int, key: Key[Array, ""]) -> PyTree:
    if isinstance(policy, PerAgentPolicy):
        return policy.reset(key=key)
    return jax.vmap(lambda k: policy.reset(key=k))(jax.random.split(key, num_agents))


def _team_act(
    policy: Any,
    num_agents: int,
    state: PyTree,
    observation: PyTree,
    key: Key[Array, ""] | None,
    mask: PyTree,
) -> tuple[PyTree, Any]:
    if isinstance(policy, PerAgentPolicy):
        return policy(state, observation, key=key, action_mask=mask)
    keys = None if key is None else jax.random.split(key, num_agents)

    def act(s, o, k, m):
        return policy(s, o, key=k, action_mask=m)

    return jax.vmap(act)(state, observation, keys, mask)


@eqx.filter_jit
def _evaluate_team(
    env: AgentBatchEnv,
    policy: Any,
    key: Key[Array, ""],
    num_episodes: int,
    deterministic: bool,
    max_steps: int,
    clip_actions: bool,
) -> TeamEvaluationResult:
    num_agents = env.num_agents

    def start(episode_key):
        reset_key, policy_key, loop_key = jax.random.split(episode_key, 3)
        env_state, observation, _ = env.reset(key=reset_key)
        return _TeamEpisode(
            env_state=env_state,
            policy_state=_team_reset(policy, num_agents, policy_key),
            observation=observation,
            agent_returns=jnp.zeros((num_agents,), jnp.float32),
            length=jnp.zeros((), jnp.int32),
            done=jnp.zeros((), bool),
            key=loop_key,
        )

    def advance(episode):
        key, mask_key, action_key, env_key = jax.random.split(episode.key, 4)
        mask = env.action_mask(episode.env_state, key=mask_key)
        policy_state, action = _team_act(
            policy,
            num_agents,
            episode.policy_state,
            episode.observation,
            None if deterministic else action_key,
            mask,
        )
        if clip_actions:
            action = jax.vmap(lambda a: clip_to_action_space(env.action_space, a))(
                action
            )
        env_state, observation, rewards, terminated, truncated = env.agent_step(
            episode.env_state, action, key=env_key
        )
        return _TeamEpisode(
            env_state=env_state,
            policy_state=policy_state,
            observation=observation,
            agent_returns=episode.agent_returns + rewards,
            length=episode.length + 1,
            done=jnp.asarray(terminated | truncated, bool),
            key=key,
        )

    episodes = play_episodes(
        start, advance, key=key, num_episodes=num_episodes, max_steps=max_steps
    )
    return TeamEvaluationResult(
        agent_returns=episodes.agent_returns,
        team_returns=jnp.mean(episodes.agent_returns, axis=-1),
        lengths=episodes.length,
        completed=episodes.done,
    )


def evaluate_team(
    env: AgentBatchEnv,
    policy: Any,
    *,
    key: Key[Array, ""],
    num_episodes: int = 16,
    deterministic: bool = True,
    max_steps: int = 100_000,
    clip_actions: bool = True,
) -> TeamEvaluationResult:
    """Play `num_episodes` team episodes; report every agent's and the team's return.

    The multi-agent counterpart of `evaluate_policy`: the episodes run side by
    side in one compiled `lax.while_loop`, each from its own reset, with every
    agent acting with the shared policy (or its own slice of a
    `PerAgentPolicy`). Pure, so `jax.vmap` over keys or over a batch of
    trained policies works.

    Args:
        env: The agent batch the policy was trained on.
        policy: A shared policy built for `env`, or a `PerAgentPolicy`.
        key: A JAX PRNG key.
        num_episodes: The number of episodes.
        deterministic: Act with each agent's deterministic action rather than
            sampling.
        max_steps: Stop every episode after this many steps; see
            `TeamEvaluationResult.completed`.
        clip_actions: Clip `Box` actions to the action space before the
            environment sees them (as IPPO/MAPPO do by default).

    Returns:
        The per-episode agent returns, team returns, lengths and completion
        flags.

    Raises:
        TypeError: If `env` is not an `AgentBatchEnv` or `key` not a JAX PRNG
            key.
        ValueError: If `num_episodes` or `max_steps` is not a positive int, the
            policy was built for another environment, or a `PerAgentPolicy`
            holds another number of agents.
    """
    check_key(_OWNER, key)
    if not isinstance(env, AgentBatchEnv):
        raise TypeError(
            f"{_OWNER}: env must be a lerax.env.AgentBatchEnv, got "
            f"{type(env).__name__}; use evaluate_policy for one agent."
        )
    check_size(_OWNER, "num_episodes", num_episodes)
    check_size(_OWNER, "max_steps", max_steps)
    check_env_and_policy(env, policy, owner=_OWNER)
    if isinstance(policy, PerAgentPolicy) and policy.num_agents != env.num_agents:
        raise ValueError(
            f"{_OWNER}: the PerAgentPolicy holds {policy.num_agents} agents' "
            f"parameters but {env.name} has {env.num_agents} agents."
        )
    return _evaluate_team(
        env,
        policy,
        key,
        int(num_episodes),
        bool(deterministic),
        int(max_steps),
        bool(clip_actions),
    )
