"""One parameter set per agent: policies stacked along a leading agent axis.

`PerAgentPolicy` holds `num_agents` policies of one class and shape as a single
policy whose array leaves have a leading `num_agents` axis. Acting, evaluation
and training apply them with `jax.vmap` over that axis (one program for all the
agents, never a Python loop over them); `lerax.algorithm.IPPO` and `MAPPO`
train each agent's slice on that agent's own samples.
"""

from collections.abc import Sequence
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Key

from lerax.space import AbstractSpace

from ._base import AbstractActorCriticPolicy, AbstractPolicy

_OWNER = "PerAgentPolicy"


def _stack(policies: Sequence[AbstractActorCriticPolicy]) -> AbstractActorCriticPolicy:
    first_arrays, first_static = eqx.partition(policies[0], eqx.is_array)
    arrays = [first_arrays]
    for i, policy in enumerate(policies[1:], start=1):
        if type(policy) is not type(policies[0]):
            raise ValueError(
                f"{_OWNER}: every agent's policy must be of one class; policy {i} "
                f"is a {type(policy).__name__}, policy 0 a "
                f"{type(policies[0]).__name__}."
            )
        policy_arrays, static = eqx.partition(policy, eqx.is_array)
        same = jax.tree.structure(policy_arrays) == jax.tree.structure(first_arrays)
        if not same or not eqx.tree_equal(static, first_static):
            raise ValueError(
                f"{_OWNER}: policy {i} differs in structure or settings from "
                "policy 0; build every agent's policy with the same arguments "
                "(only the key may differ)."
            )
        for x, y in zip(
            jax.tree.leaves(policy_arrays), jax.tree.leaves(first_arrays), strict=True
        ):
            if jnp.shape(x) != jnp.shape(y) or jnp.result_type(x) != jnp.result_type(y):
                raise ValueError(
                    f"{_OWNER}: policy {i} has an array of shape {jnp.shape(x)} "
                    f"where policy 0 has {jnp.shape(y)}; build every agent's "
                    "policy with the same arguments."
                )
        arrays.append(policy_arrays)
    stacked = jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *arrays)
    return eqx.combine(stacked, first_static)


def _agents_last_to_first(x: Array, num_agents: int) -> Array:
    # (..., groups * num_agents) agent-minor -> (num_agents, ..., groups)
    x = jnp.reshape(x, x.shape[:-1] + (-1, num_agents))
    return jnp.moveaxis(x, -1, 0)


class PerAgentPolicy(AbstractPolicy[Any, Any, Any, Any]):
    """One parameter set per agent, stacked along a leading axis.

    Built from one policy per agent (same class and arguments; typically
    different keys), in the agents' order. `IPPO` and `MAPPO` train it as
    `num_agents` independent policies on one compiled program: each agent
    acts, is evaluated and is updated (with its own optimizer state and
    minibatch shuffle) by a `jax.vmap` over the agent axis. No agent id is
    needed in the observation (`AgentBatchEnv(env, agent_id=False)` works; an
    id does no harm).

    Called directly, it acts for the whole team: the observations, states and
    masks it takes and returns have a leading `num_agents` axis, as
    `AgentBatchEnv` stacks them. `agent(i)` is one agent's policy.

    Attributes:
        name: `"PerAgentPolicy"`.
        policies: The agents' policies as one policy whose array leaves have a
            leading `num_agents` axis.
        num_agents: The number of agents.
        observation_space: One agent's observation space.
        action_space: One agent's action space.
    """

    name: ClassVar[str] = "PerAgentPolicy"

    policies: AbstractActorCriticPolicy
    num_agents: int = eqx.field(static=True)
    observation_space: AbstractSpace
    action_space: AbstractSpace

    def __init__(self, policies: Sequence[AbstractActorCriticPolicy]):
        """Stack one actor-critic policy per agent.

        Args:
            policies: The agents' policies, in the order of the environment's
                `agents`; of one class, built with the same arguments.

        Raises:
            TypeError: If `policies` is empty or holds something that is not an
                `AbstractActorCriticPolicy`.
            ValueError: If the policies differ in class, structure, settings or
                array shapes (the message names the first that differs).
        """
        policies = list(policies)
        if not policies:
            raise TypeError(f"{_OWNER}: give at least one policy.")
        for i, policy in enumerate(policies):
            if not isinstance(policy, AbstractActorCriticPolicy):
                raise TypeError(
                    f"{_OWNER}: policy {i} must be a lerax "
                    f"AbstractActorCriticPolicy, got {type(policy).__name__}."
                )
        self.policies = _stack(policies)
        self.num_agents = len(policies)
        self.observation_space = policies[0].observation_space
        self.action_space = policies[0].action_space

    def agent(self, index: int) -> AbstractActorCriticPolicy:
        """One agent's policy.

        Args:
            index: The agent's position in the environment's `agents`.

        Returns:
            That agent's policy (the stacked arrays' slice `index`).

        Raises:
            IndexError: If `index` is not in `[0, num_agents)`.
        """
        if not 0 <= index < self.num_agents:
            raise IndexError(
                f"{_OWNER}: agent index {index} out of range for "
                f"{self.num_agents} agents."
            )
        arrays, static = eqx.partition(self.policies, eqx.is_array)
        return eqx.combine(jax.tree.map(lambda x: x[index], arrays), static)

    def __call__(
        self,
        state: Any,
        observation: Any,
        *,
        key: Key[Array, ""] | None = None,
        action_mask: Any | None = None,
    ) -> tuple[Any, Any]:
        """Every agent acts on its own observation with its own parameters.

        Args:
            state: The agents' policy states, stacked (leading `num_agents`).
            observation: The agents' observations, stacked.
            key: An optional JAX PRNG key (split over the agents) to sample;
                without one every agent acts deterministically.
            action_mask: The agents' masks, stacked, or `None`.

        Returns:
            The agents' new states and actions, stacked.
        """
        keys = None if key is None else jax.random.split(key, self.num_agents)

        def act(policy, state, observation, key, mask):
            return policy(state, observation, key=key, action_mask=mask)

        return eqx.filter_vmap(act)(
            self.policies, state, observation, keys, action_mask
        )

    def reset(self, *, key: Key[Array, ""]) -> Any:
        """Every agent's initial policy state, stacked.

        Args:
            key: A JAX PRNG key (split over the agents).

        Returns:
            The initial states with a leading `num_agents` axis.
        """
        keys = jax.random.split(key, self.num_agents)
        return eqx.filter_vmap(lambda policy, k: policy.reset(key=k))(
            self.policies, keys
        )

    def update_observation_statistics(self, observations: Any) -> "PerAgentPolicy":
        """Each agent's running statistics take in that agent's observations.

        Args:
            observations: Observations with one leading batch axis ordered
                agent-minor (entry `j` is agent `j % num_agents`'s), as IPPO's
                folded rollout is.

        Returns:
            The policy with every agent's statistics updated.
        """
        per_agent = jax.tree.map(
            lambda x: jnp.moveaxis(
                jnp.reshape(x, (-1, self.num_agents) + x.shape[1:]), 1, 0
            ),
            observations,
        )
        policies = eqx.filter_vmap(
            lambda policy, obs: policy.update_observation_statistics(obs)
        )(self.policies, per_agent)
        return eqx.tree_at(lambda p: p.policies, self, policies)

    def update_value_statistics(self, returns: Float[Array, "..."]) -> "PerAgentPolicy":
        """Each agent's critic statistics take in that agent's returns.

        Args:
            returns: Returns whose last axis is ordered agent-minor (column `j`
                is agent `j % num_agents`'s), as IPPO's folded rollout is.

        Returns:
            The policy with every agent's statistics updated.
        """
        per_agent = _agents_last_to_first(returns, self.num_agents)
        policies = eqx.filter_vmap(lambda policy, r: policy.update_value_statistics(r))(
            self.policies, per_agent
        )
        return eqx.tree_at(lambda p: p.policies, self, policies)
