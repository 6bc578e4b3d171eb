"""JaxMARL environments as lerax multi-agent environments: `JaxMARLToLeraxEnv`.

JaxMARL's `step` resets automatically when `dones["__all__"]` is set, so the
observation it returns at an episode's end is already the next episode's. The
adapter calls the non-resetting `step_env` instead and keeps the observations
it returns in its state: the algorithm bootstraps from the true last
observation, then resets. JaxMARL has a single episode flag per team and does
not tell termination from truncation; `end_as` says which one it means
(termination by default, as JaxMARL's own IPPO/MAPPO scripts treat it).
Action masks come from `get_avail_actions` where the environment implements
it; the global state is every agent's observation concatenated in agent order
(the MPE world state of JaxMARL's MAPPO scripts).

JaxMARL is imported lazily: `pip install 'lerax[jaxmarl]'`.
"""

from __future__ import annotations

from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Key

from lerax._optional import import_extra
from lerax.env import AbstractEnvState, AbstractMultiAgentEnv
from lerax.space import AbstractSpace, Box, Discrete, MultiDiscrete

EndAs = Literal["termination", "truncation"]


def _jaxmarl() -> Any:
    return import_extra("jaxmarl", "jaxmarl", owner="JaxMARLToLeraxEnv")


def convert_jaxmarl_space(space: Any) -> AbstractSpace:
    """Convert a JaxMARL space into the equivalent lerax space.

    `Discrete(n)` becomes `Discrete(n)`, `MultiDiscrete` becomes
    `MultiDiscrete`, and `Box` becomes a float32 `Box` with its bounds
    broadcast to its shape (integer boxes are observed as float32).

    Args:
        space: A `jaxmarl.environments.spaces` space.

    Returns:
        The lerax space.

    Raises:
        ImportError: If JaxMARL is not installed.
        NotImplementedError: If the space has no lerax equivalent (the message
            names it).
    """
    spaces = import_extra(
        "jaxmarl.environments.spaces", "jaxmarl", owner="convert_jaxmarl_space"
    )
    if isinstance(space, spaces.Discrete):
        return Discrete(int(space.n))
    if isinstance(space, spaces.MultiDiscrete):
        return MultiDiscrete(tuple(int(n) for n in np.asarray(space.num_categories)))
    if isinstance(space, spaces.Box):
        shape = tuple(int(s) for s in np.atleast_1d(np.asarray(space.shape, int)))
        low = np.broadcast_to(np.asarray(space.low, np.float64), shape)
        high = np.broadcast_to(np.asarray(space.high, np.float64), shape)
        return Box(low, high, shape=shape, dtype="float32")
    raise NotImplementedError(
        f"JaxMARL space {space!r} (of type {type(space).__name__}) has no lerax "
        "equivalent; supported kinds are Discrete, MultiDiscrete and Box."
    )


class JaxMARLEnvState(AbstractEnvState):
    """The state of a `JaxMARLToLeraxEnv`.

    JaxMARL computes observations, rewards and the done flag together in
    `step_env`; they are kept here so that one step makes one `step_env` call.

    Attributes:
        env_state: The JaxMARL environment state.
        observations: The agents' observations in this state.
        rewards: The agents' rewards for the transition into it (0 after reset).
        done: JaxMARL's `dones["__all__"]` (False after reset).
    """

    env_state: Any
    observations: dict[str, Any]
    rewards: dict[str, Float[Array, ""]]
    done: Bool[Array, ""]


def _strong(x: Any) -> Any:
    # Fixed dtypes and no weak types keep `lax.scan` carries identical.
    x = jnp.asarray(x)
    return jnp.asarray(x, dtype=x.dtype)


class JaxMARLToLeraxEnv(AbstractMultiAgentEnv[JaxMARLEnvState]):
    """A JaxMARL environment as a lerax `AbstractMultiAgentEnv`.

    The JaxMARL environment object is static configuration (hashed by
    identity), so a jitted function taking the adapter compiles once per
    environment object.

    Example:
        ```python
        env = JaxMARLToLeraxEnv.from_name("MPE_simple_spread_v3")
        state, observations, info = env.reset(key=key)
        actions = {agent: jnp.int32(0) for agent in env.agents}
        state, observations, rewards, terminated, truncated, info = env.step(
            state, actions, key=key
        )
        ```

    Attributes:
        jaxmarl_env: The wrapped JaxMARL environment (static).
        name: The environment's name.
        agents: The agents' names, JaxMARL's order.
        observation_spaces: Each agent's converted observation space.
        action_spaces: Each agent's converted action space.
        state_space: The space of the global state: every agent's
            observation, concatenated in agent order.
        end_as: Whether JaxMARL's done flag is a termination or a truncation.
        has_action_masks: Whether the environment implements
            `get_avail_actions`.
    """

    jaxmarl_env: Any = eqx.field(static=True)
    name: str = eqx.field(static=True)
    agents: tuple[str, ...] = eqx.field(static=True)
    observation_spaces: dict[str, AbstractSpace]
    action_spaces: dict[str, AbstractSpace]
    state_space: AbstractSpace
    end_as: str = eqx.field(static=True)
    has_action_masks: bool = eqx.field(static=True)

    def __init__(self, jaxmarl_env: Any, *, end_as: EndAs = "termination"):
        """Adapt `jaxmarl_env`.

        Args:
            jaxmarl_env: A JaxMARL `MultiAgentEnv`.
            end_as: `"termination"` (default; JaxMARL's scripts zero the value
                at the done flag) or `"truncation"` (the flag is a time limit:
                bootstrap from the last observation).

        Raises:
            ImportError: If JaxMARL is not installed.
            ValueError: If `jaxmarl_env` is not a JaxMARL environment or
                `end_as` is unknown.
            NotImplementedError: If a space has no lerax equivalent.
        """
        base = _jaxmarl().environments.multi_agent_env.MultiAgentEnv
        if not isinstance(jaxmarl_env, base):
            raise ValueError(
                "JaxMARLToLeraxEnv: jaxmarl_env must be a JaxMARL MultiAgentEnv, "
                f"got {type(jaxmarl_env).__name__}."
            )
        if end_as not in ("termination", "truncation"):
            raise ValueError(
                "JaxMARLToLeraxEnv: end_as must be 'termination' or 'truncation', "
                f"got {end_as!r}."
            )
        self.jaxmarl_env = jaxmarl_env
        self.name = str(jaxmarl_env.name)
        self.agents = tuple(str(a) for a in jaxmarl_env.agents)
        self.observation_spaces = {
            a: convert_jaxmarl_space(jaxmarl_env.observation_space(a))
            for a in self.agents
        }
        self.action_spaces = {
            a: convert_jaxmarl_space(jaxmarl_env.action_space(a)) for a in self.agents
        }
        self.end_as = end_as
        _, state = jax.eval_shape(jaxmarl_env.reset, jax.random.key(0))
        self.has_action_masks = _implements(jaxmarl_env.get_avail_actions, state)
        size = sum(s.flat_size for s in self.observation_spaces.values())
        self.state_space = Box(-np.inf, np.inf, shape=(size,))

    @classmethod
    def from_name(
        cls, name: str, *, end_as: EndAs = "termination", **kwargs: Any
    ) -> JaxMARLToLeraxEnv:
        """Make a registered JaxMARL environment.

        Args:
            name: A name in `jaxmarl.registered_envs`, such as
                `"MPE_simple_spread_v3"`.
            end_as: See `__init__`.
            **kwargs: Passed to `jaxmarl.make`.

        Returns:
            The adapted environment.

        Raises:
            ImportError: If JaxMARL is not installed.
            ValueError: If `name` is not registered (the message lists the
                registered names).
        """
        jaxmarl = _jaxmarl()
        if name not in jaxmarl.registered_envs:
            raise ValueError(
                f"JaxMARLToLeraxEnv.from_name: unknown JaxMARL environment "
                f"{name!r}; available: {', '.join(jaxmarl.registered_envs)}."
            )
        return cls(jaxmarl.make(name, **kwargs), end_as=end_as)

    def _state(
        self, env_state: Any, observations: Any, rewards: Any, done: Any
    ) -> JaxMARLEnvState:
        return JaxMARLEnvState(
            env_state=jax.tree.map(_strong, env_state),
            observations={
                a: jnp.asarray(observations[a], jnp.float32).reshape(
                    self.observation_spaces[a].shape
                )
                for a in self.agents
            },
            rewards={
                a: jnp.asarray(rewards[a], jnp.float32).reshape(()) for a in self.agents
            },
            done=jnp.asarray(done, bool).reshape(()),
        )

    def initial(self, *, key: Key[Array, ""]) -> JaxMARLEnvState:
        observations, env_state = self.jaxmarl_env.reset(key)
        zeros = {a: 0.0 for a in self.agents}
        return self._state(env_state, observations, zeros, False)

    def transition(
        self, state: JaxMARLEnvState, actions: dict[str, Any], *, key: Key[Array, ""]
    ) -> JaxMARLEnvState:
        actions = {
            a: jnp.asarray(actions[a], self.action_spaces[a].dtype) for a in self.agents
        }
        observations, env_state, rewards, dones, _ = self.jaxmarl_env.step_env(
            key, state.env_state, actions
        )
        return self._state(env_state, observations, rewards, dones["__all__"])

    def observations(
        self, state: JaxMARLEnvState, *, key: Key[Array, ""]
    ) -> dict[str, Any]:
        del key
        return state.observations

    def rewards(
        self,
        state: JaxMARLEnvState,
        actions: dict[str, Any],
        next_state: JaxMARLEnvState,
        *,
        key: Key[Array, ""],
    ) -> dict[str, Float[Array, ""]]:
        del state, actions, key
        return next_state.rewards

    def terminal(
        self, state: JaxMARLEnvState, *, key: Key[Array, ""]
    ) -> Bool[Array, ""]:
        del key
        return state.done if self.end_as == "termination" else jnp.zeros((), bool)

    def truncate(self, state: JaxMARLEnvState) -> Bool[Array, ""]:
        return state.done if self.end_as == "truncation" else jnp.zeros((), bool)

    def action_masks(
        self, state: JaxMARLEnvState, *, key: Key[Array, ""]
    ) -> dict[str, Any] | None:
        del key
        if not self.has_action_masks:
            return None
        masks = self.jaxmarl_env.get_avail_actions(state.env_state)
        return {a: jnp.asarray(masks[a], bool) for a in self.agents}

    def global_state(self, state: JaxMARLEnvState, *, key: Key[Array, ""]) -> Any:
        del key
        return jnp.concatenate(
            [jnp.ravel(state.observations[a]) for a in self.agents]
        ).astype(jnp.float32)


def _implements(method: Any, state: Any) -> bool:
    # JaxMARL's base class raises NotImplementedError for the optional parts
    # (`get_avail_actions`); an abstract evaluation finds out without running.
    try:
        jax.eval_shape(method, state)
    except NotImplementedError:
        return False
    return True
