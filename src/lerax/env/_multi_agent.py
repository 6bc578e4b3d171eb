"""Multi-agent environments: named agents acting together, pure and vmappable.

An `AbstractMultiAgentEnv` is decomposed like the single-agent `AbstractEnv`
(`initial`, `transition`, `observations`, `rewards`, `terminal`, `truncate`,
`action_masks`, `global_state`), with per-agent quantities as dicts keyed by
agent name. The episode ends for the whole team at once: termination and
truncation are single booleans, kept apart as in the single-agent interface,
and the environment never resets itself.

`AgentBatchEnv` is the view of such an environment that one shared policy
trains on: the agents stacked along a leading axis, each observation with the
agent's one-hot id appended (and, for a centralised critic, the global state
beside it). `IPPO` and `MAPPO` (`lerax.algorithm`) take it.
"""

from abc import abstractmethod
from typing import Any, Generic, TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from equinox import AbstractVar
from jaxtyping import Array, Bool, Float, Key

from lerax.space import AbstractSpace, Box, Dict

from ._base import AbstractEnvLike, AbstractEnvLikeState

StateType = TypeVar("StateType")


class AbstractMultiAgentEnv(eqx.Module, Generic[StateType]):
    """An environment in which several named agents act at every step.

    A concrete subclass is final; it declares the attributes below (as fields or
    class attributes) and implements `initial`, `transition`, `observations`,
    `rewards`, `terminal` and `truncate`; `action_masks` (every action valid)
    and `global_state` (none) have defaults. `reset` and `step` are built from
    them here. Every per-agent quantity is a dict keyed by the names in
    `agents`.

    Attributes:
        name: A human-readable name.
        agents: The agents' names, in a fixed order (the order of the stacked
            axis in `AgentBatchEnv`).
        observation_spaces: Each agent's observation space.
        action_spaces: Each agent's action space.
        state_space: The space of `global_state` (what a centralised critic
            reads), or `None` when the environment has no global state.
    """

    name: AbstractVar[str]
    agents: AbstractVar[tuple[str, ...]]
    observation_spaces: AbstractVar[dict[str, AbstractSpace]]
    action_spaces: AbstractVar[dict[str, AbstractSpace]]
    state_space: AbstractVar[AbstractSpace | None]

    @abstractmethod
    def initial(self, *, key: Key[Array, ""]) -> StateType:
        """Sample an initial state.

        Args:
            key: A JAX PRNG key.

        Returns:
            The initial state.
        """

    @abstractmethod
    def transition(
        self, state: StateType, actions: dict[str, Any], *, key: Key[Array, ""]
    ) -> StateType:
        """Advance the state by one joint action (never resets).

        Args:
            state: The current state.
            actions: One action per agent, keyed by name.
            key: A JAX PRNG key.

        Returns:
            The next state.
        """

    @abstractmethod
    def observations(self, state: StateType, *, key: Key[Array, ""]) -> dict[str, Any]:
        """Each agent's observation in `state`.

        Args:
            state: The state.
            key: A JAX PRNG key.

        Returns:
            One observation per agent, keyed by name.
        """

    @abstractmethod
    def rewards(
        self,
        state: StateType,
        actions: dict[str, Any],
        next_state: StateType,
        *,
        key: Key[Array, ""],
    ) -> dict[str, Float[Array, ""]]:
        """Each agent's reward for the transition `state --actions--> next_state`.

        Args:
            state: The state before the actions.
            actions: The joint action.
            next_state: The state after it.
            key: A JAX PRNG key.

        Returns:
            One scalar reward per agent, keyed by name.
        """

    @abstractmethod
    def terminal(self, state: StateType, *, key: Key[Array, ""]) -> Bool[Array, ""]:
        """Whether `state` ends the team's episode by the task's rules.

        Args:
            state: The state.
            key: A JAX PRNG key.

        Returns:
            A scalar boolean; every agent's value of a terminal state is zero.
        """

    @abstractmethod
    def truncate(self, state: StateType) -> Bool[Array, ""]:
        """Whether the team's episode is cut short in `state` (a time limit).

        Args:
            state: The state.

        Returns:
            A scalar boolean; algorithms bootstrap from a truncated state.
        """

    def action_masks(
        self, state: StateType, *, key: Key[Array, ""]
    ) -> dict[str, Any] | None:
        """Each agent's valid actions in `state`, or `None` when all are valid.

        Args:
            state: The state.
            key: A JAX PRNG key.

        Returns:
            One mask per agent (of the kind its action space takes), or `None`.
        """
        del state, key
        return None

    def global_state(self, state: StateType, *, key: Key[Array, ""]) -> Any:
        """The global state a centralised critic reads (an element of `state_space`).

        Args:
            state: The state.
            key: A JAX PRNG key.

        Returns:
            The global state, or `None` when `state_space` is `None`.
        """
        del state, key
        return None

    def reset(
        self, *, key: Key[Array, ""]
    ) -> tuple[StateType, dict[str, Any], dict[str, Any]]:
        """Start an episode.

        Args:
            key: A JAX PRNG key.

        Returns:
            The initial state, the agents' observations and an info dict.
        """
        init_key, obs_key = jax.random.split(key)
        state = self.initial(key=init_key)
        return state, self.observations(state, key=obs_key), {}

    def step(
        self, state: StateType, actions: dict[str, Any], *, key: Key[Array, ""]
    ) -> tuple[
        StateType,
        dict[str, Any],
        dict[str, Float[Array, ""]],
        Bool[Array, ""],
        Bool[Array, ""],
        dict[str, Any],
    ]:
        """Take one joint action. The environment is not reset at an episode's end.

        Args:
            state: The current state.
            actions: One action per agent, keyed by name.
            key: A JAX PRNG key.

        Returns:
            `(next_state, observations, rewards, terminated, truncated, info)`,
            observations and rewards keyed by agent.

        Raises:
            ValueError: At trace time, if `actions` does not name exactly the
                agents or an action does not fit its agent's action space.
        """
        if set(actions) != set(self.agents):
            raise ValueError(
                f"{self.name}: actions are keyed by {sorted(actions)}, but the "
                f"agents are {list(self.agents)}."
            )
        for agent in self.agents:
            self.action_spaces[agent].validate(
                actions[agent], name=f"{self.name}: action of {agent}"
            )
        transition_key, obs_key, reward_key, terminal_key = jax.random.split(key, 4)
        next_state = self.transition(state, actions, key=transition_key)
        observations = self.observations(next_state, key=obs_key)
        rewards = self.rewards(state, actions, next_state, key=reward_key)
        terminated = self.terminal(next_state, key=terminal_key)
        truncated = self.truncate(next_state)
        return next_state, observations, rewards, terminated, truncated, {}


def require_homogeneous(owner: str, env: AbstractMultiAgentEnv) -> None:
    """Refuse an environment whose agents differ in observation or action space.

    A shared policy (and the agent batch it trains on) needs every agent to
    observe and act in the same spaces.

    Args:
        owner: What needs homogeneous agents, for the message.
        env: The multi-agent environment.

    Raises:
        TypeError: If `env` is not an `AbstractMultiAgentEnv`.
        ValueError: If the agents' spaces differ; the message names the agents
            whose spaces differ from the first agent's.
    """
    if not isinstance(env, AbstractMultiAgentEnv):
        raise TypeError(
            f"{owner}: env must be a lerax AbstractMultiAgentEnv, got "
            f"{type(env).__name__}; wrap a JaxMARL environment with "
            "lerax.compatibility.jaxmarl.JaxMARLToLeraxEnv."
        )
    if not env.agents:
        raise ValueError(f"{owner}: {env.name} has no agents.")
    first = env.agents[0]
    for kind, spaces in (
        ("observation", env.observation_spaces),
        ("action", env.action_spaces),
    ):
        odd = [a for a in env.agents if spaces[a] != spaces[first]]
        if odd:
            raise ValueError(
                f"{owner}: heterogeneous agents are not supported: the {kind} "
                f"space of {', '.join(odd)} differs from that of {first} "
                f"({spaces[first]!r} vs {spaces[odd[0]]!r})."
            )


def _with_id(space: AbstractSpace, num_agents: int, owner: str, what: str) -> Box:
    """A flat Box space with `num_agents` one-hot entries in [0, 1] appended."""
    if not isinstance(space, Box) or len(space.shape) != 1:
        raise ValueError(
            f"{owner}: the agent id is appended to a flat Box {what}, got "
            f"{space!r}; pass agent_id=False or flatten the {what} first."
        )
    low = np.concatenate([np.asarray(space.low), np.zeros(num_agents)])
    high = np.concatenate([np.asarray(space.high), np.ones(num_agents)])
    return Box(low, high, shape=(space.shape[0] + num_agents,), dtype=space.dtype)


class AgentBatchState(AbstractEnvLikeState):
    """The state of an `AgentBatchEnv`: the multi-agent environment's state.

    Attributes:
        env_state: The wrapped multi-agent environment's state.
    """

    env_state: Any


class AgentBatchEnv(AbstractEnvLike[AgentBatchState, Any, Any, Any]):
    """A homogeneous multi-agent environment as a batch of agents for one policy.

    Its `observation_space` and `action_space` are one agent's, so a policy
    built from it (`MLPActorCriticPolicy(batch_env, key=...)`) is the policy
    every agent shares (parameter sharing). Everything it returns is stacked
    over the agents along a leading axis, in `env.agents` order: `reset` and
    `observation` give `(num_agents, ...)` observations, `agent_step` takes
    `(num_agents, ...)` actions and returns per-agent rewards. With `agent_id`
    each agent's observation ends with its one-hot id, so the shared policy
    can still act differently per agent. With `central_critic` the observation
    is a `Dict` of the agent's `"observation"` and the environment's global
    `"state"` (with the id too), for MAPPO's critic
    (`lerax.policy.MLPCentralCriticPolicy`).

    It is an `AbstractEnvLike` so that the on-policy loop can carry it, but it
    is stepped by `IPPO`/`MAPPO` through `agent_step`, not by `step` (whose
    action would be one agent's).

    Attributes:
        env: The multi-agent environment.
        agent_id: Whether each observation ends with the agent's one-hot id.
        central_critic: Whether observations carry the global state for a
            centralised critic.
        observation_space: One agent's observation space (as the policy sees it).
        action_space: One agent's action space.
    """

    env: AbstractMultiAgentEnv
    agent_id: bool = eqx.field(static=True)
    central_critic: bool = eqx.field(static=True)
    observation_space: AbstractSpace
    action_space: AbstractSpace

    def __init__(
        self,
        env: AbstractMultiAgentEnv,
        *,
        agent_id: bool = True,
        central_critic: bool = False,
    ):
        """Stack `env`'s agents.

        Args:
            env: A multi-agent environment whose agents share observation and
                action spaces.
            agent_id: Append each agent's one-hot id to its observation (and to
                the global state with `central_critic`); needs flat `Box`
                observations.
            central_critic: Give the policy the global state beside each
                agent's observation (`Dict(observation=..., state=...)`).

        Raises:
            TypeError: If `env` is not an `AbstractMultiAgentEnv`.
            ValueError: If the agents' spaces differ (the message names the
                agents), or `central_critic` is asked of an environment without
                a global state.
        """
        owner = "AgentBatchEnv"
        require_homogeneous(owner, env)
        first = env.agents[0]
        num_agents = len(env.agents)
        observation_space = env.observation_spaces[first]
        if agent_id:
            observation_space = _with_id(
                observation_space, num_agents, owner, "observation"
            )
        if central_critic:
            if env.state_space is None:
                raise ValueError(
                    f"{owner}: central_critic needs a global state, but "
                    f"{env.name} has state_space=None."
                )
            state_space = env.state_space
            if agent_id:
                state_space = _with_id(state_space, num_agents, owner, "global state")
            observation_space = Dict(
                {"observation": observation_space, "state": state_space}
            )
        self.env = env
        self.agent_id = bool(agent_id)
        self.central_critic = bool(central_critic)
        self.observation_space = observation_space
        self.action_space = env.action_spaces[first]

    @property
    def name(self) -> str:
        """The multi-agent environment's name."""
        return self.env.name

    @property
    def num_agents(self) -> int:
        """The number of agents."""
        return len(self.env.agents)

    def _stack(self, values: dict[str, Any]) -> Any:
        return jax.tree.map(
            lambda *xs: jnp.stack(xs), *[values[a] for a in self.env.agents]
        )

    def _unstack(self, values: Any) -> dict[str, Any]:
        return {
            a: jax.tree.map(lambda x, i=i: x[i], values)
            for i, a in enumerate(self.env.agents)
        }

    def _append_id(self, x: Array) -> Array:
        eye = jnp.eye(self.num_agents, dtype=x.dtype)
        return jnp.concatenate([x, eye], axis=-1)

    def initial(self, *, key: Key[Array, ""]) -> AgentBatchState:
        return AgentBatchState(env_state=self.env.initial(key=key))

    def transition(
        self, state: AgentBatchState, action: Any, *, key: Key[Array, ""]
    ) -> AgentBatchState:
        actions = self._unstack(action)
        return AgentBatchState(self.env.transition(state.env_state, actions, key=key))

    def observation(self, state: AgentBatchState, *, key: Key[Array, ""]) -> Any:
        """The agents' observations, stacked (as the shared policy sees them).

        Args:
            state: The state.
            key: A JAX PRNG key.

        Returns:
            The observations with a leading `num_agents` axis (a `Dict` of
            observation and global state with `central_critic`).
        """
        obs_key, state_key = jax.random.split(key)
        observation = self._stack(self.env.observations(state.env_state, key=obs_key))
        if self.agent_id:
            observation = self._append_id(observation)
        if not self.central_critic:
            return observation
        world = self.env.global_state(state.env_state, key=state_key)
        world = jnp.broadcast_to(world, (self.num_agents,) + jnp.shape(world))
        if self.agent_id:
            world = self._append_id(world)
        return {"observation": observation, "state": world}

    def agent_rewards(
        self,
        state: AgentBatchState,
        action: Any,
        next_state: AgentBatchState,
        *,
        key: Key[Array, ""],
    ) -> Float[Array, " num_agents"]:
        """Each agent's reward, stacked in `env.agents` order.

        Args:
            state: The state before the actions.
            action: The stacked actions.
            next_state: The state after them.
            key: A JAX PRNG key.

        Returns:
            The rewards, shape `(num_agents,)`.
        """
        rewards = self.env.rewards(
            state.env_state, self._unstack(action), next_state.env_state, key=key
        )
        return jnp.stack(
            [jnp.asarray(rewards[a], jnp.float32).reshape(()) for a in self.env.agents]
        )

    def reward(
        self,
        state: AgentBatchState,
        action: Any,
        next_state: AgentBatchState,
        *,
        key: Key[Array, ""],
    ) -> Float[Array, ""]:
        """The team reward: the mean of the agents' rewards.

        Args:
            state: The state before the actions.
            action: The stacked actions.
            next_state: The state after them.
            key: A JAX PRNG key.

        Returns:
            A scalar.
        """
        return jnp.mean(self.agent_rewards(state, action, next_state, key=key))

    def terminal(
        self, state: AgentBatchState, *, key: Key[Array, ""]
    ) -> Bool[Array, ""]:
        return jnp.asarray(self.env.terminal(state.env_state, key=key), bool)

    def truncate(self, state: AgentBatchState) -> Bool[Array, ""]:
        return jnp.asarray(self.env.truncate(state.env_state), bool)

    def action_mask(self, state: AgentBatchState, *, key: Key[Array, ""]) -> Any:
        """The agents' action masks, stacked, or `None`.

        Args:
            state: The state.
            key: A JAX PRNG key.

        Returns:
            Masks with a leading `num_agents` axis, or `None`.
        """
        masks = self.env.action_masks(state.env_state, key=key)
        return None if masks is None else self._stack(masks)

    def agent_step(
        self, state: AgentBatchState, action: Any, *, key: Key[Array, ""]
    ) -> tuple[
        AgentBatchState,
        Any,
        Float[Array, " num_agents"],
        Bool[Array, ""],
        Bool[Array, ""],
    ]:
        """Step every agent at once (never resets).

        Args:
            state: The current state.
            action: The agents' actions, stacked along a leading axis.
            key: A JAX PRNG key.

        Returns:
            `(next_state, observations, rewards, terminated, truncated)`:
            observations and rewards stacked over the agents; the episode flags
            are the team's.

        Raises:
            ValueError: At trace time, if an action does not fit the action
                space.
        """
        transition_key, obs_key, reward_key, terminal_key = jax.random.split(key, 4)
        for agent, one in self._unstack(action).items():
            self.action_space.validate(one, name=f"{self.name}: action of {agent}")
        next_state = self.transition(state, action, key=transition_key)
        observation = self.observation(next_state, key=obs_key)
        rewards = self.agent_rewards(state, action, next_state, key=reward_key)
        terminated = self.terminal(next_state, key=terminal_key)
        truncated = self.truncate(next_state)
        return next_state, observation, rewards, terminated, truncated
