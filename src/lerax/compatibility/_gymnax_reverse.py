"""A lerax environment as a gymnax 1.x `Environment`: `LeraxToGymnaxEnv`.

gymnax 1.x separates termination from truncation: `step_env` reports
termination, `is_truncated` the time limit, and the base class's `step`
auto-resets on either and returns both (with the pre-reset observation in
`info["final_observation"]`). The adapter maps lerax's pure functions onto those
hooks, so gymnax-based tools (wrappers, PureJaxRL-style training loops) can use
any lerax environment.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces as gymnax_spaces
from gymnax.environments.environment import Environment, EnvParams, EnvState

from lerax.env import AbstractEnvLike, require_env
from lerax.space import AbstractSpace, Box, Dict, Discrete, Tuple

_NO_LIMIT = 2**31 - 1


@struct.dataclass
class LeraxGymnaxState(EnvState):
    """The gymnax state of a `LeraxToGymnaxEnv`.

    Attributes:
        time: Steps taken in this episode (gymnax's convention).
        env_state: The lerax environment state.
        observation: The observation emitted in this state.
        terminated: Whether the lerax env terminated in this state.
        truncated: Whether the lerax env truncated in this state.
    """

    env_state: Any
    observation: Any
    terminated: jax.Array
    truncated: jax.Array


@struct.dataclass
class LeraxGymnaxParams(EnvParams):
    """The gymnax params of a `LeraxToGymnaxEnv`.

    Attributes:
        max_steps_in_episode: An extra time limit on top of the lerax env's own
            truncation (by default none: 2**31 - 1).
    """

    max_steps_in_episode: int = _NO_LIMIT


def to_gymnax_space(space: AbstractSpace) -> gymnax_spaces.Space:
    """Convert a lerax space into the equivalent gymnax space.

    Args:
        space: A lerax `Discrete`, `Box`, `Dict` or `Tuple` space.

    Returns:
        The gymnax space.

    Raises:
        NotImplementedError: For spaces gymnax has no equivalent of
            (`MultiDiscrete`, `MultiBinary`); the message names them.
    """
    if isinstance(space, Discrete):
        return gymnax_spaces.Discrete(space.n)
    if isinstance(space, Box):
        return gymnax_spaces.Box(
            np.asarray(space.low), np.asarray(space.high), space.shape, space.dtype
        )
    if isinstance(space, Dict):
        return gymnax_spaces.Dict(
            {k: to_gymnax_space(s) for k, s in space.spaces.items()}
        )
    if isinstance(space, Tuple):
        return gymnax_spaces.Tuple([to_gymnax_space(s) for s in space.spaces])
    raise NotImplementedError(
        f"lerax space {space!r} (of type {type(space).__name__}) has no gymnax "
        "equivalent; gymnax has Discrete, Box, Dict and Tuple."
    )


class LeraxToGymnaxEnv(Environment):
    """A lerax environment as a gymnax 1.x `Environment`.

    `reset_env(key, params)` is the lerax `reset`; `step_env(key, state, action,
    params)` is the lerax `step` and reports its termination; `is_truncated` is
    the lerax truncation (or gymnax's `time >= params.max_steps_in_episode`,
    which by default never triggers). gymnax's own `step` then auto-resets and
    returns `(obs, state, reward, terminated, truncated, info)` with the true
    final observation in `info["final_observation"]`. Keys are passed to the
    lerax env unchanged.

    Example:
        ```python
        env = LeraxToGymnaxEnv(my_lerax_env)
        params = env.default_params
        obs, state = env.reset(key, params)
        obs, state, reward, terminated, truncated, info = env.step(
            key, state, action, params
        )
        ```

    Attributes:
        env: The wrapped lerax environment.
    """

    def __init__(self, env: AbstractEnvLike):
        """Wrap `env`.

        Args:
            env: A lerax environment (or wrapped environment).

        Raises:
            TypeError: If `env` is not a lerax environment.
            NotImplementedError: If a space has no gymnax equivalent.
        """
        require_env("LeraxToGymnaxEnv", env)
        self.env = env
        self._action_space = to_gymnax_space(env.action_space)
        self._observation_space = to_gymnax_space(env.observation_space)

    @property
    def default_params(self) -> LeraxGymnaxParams:
        """No extra time limit."""
        return LeraxGymnaxParams()

    @property
    def name(self) -> str:
        """The lerax environment's name."""
        return self.env.name

    @property
    def num_actions(self) -> int:
        """`n` for a Discrete action space, the flat size otherwise."""
        space = self.env.action_space
        return space.n if isinstance(space, Discrete) else space.flat_size

    def action_space(self, params: Any = None) -> gymnax_spaces.Space:
        """The converted action space.

        Args:
            params: Unused.

        Returns:
            The gymnax action space.
        """
        del params
        return self._action_space

    def observation_space(self, params: Any = None) -> gymnax_spaces.Space:
        """The converted observation space.

        Args:
            params: Unused.

        Returns:
            The gymnax observation space.
        """
        del params
        return self._observation_space

    def reset_env(self, key: jax.Array, params: Any) -> tuple[Any, LeraxGymnaxState]:
        """Start an episode with the lerax env's `reset`.

        Args:
            key: A JAX PRNG key.
            params: The params (unused by the reset).

        Returns:
            `(observation, state)`.
        """
        del params
        env_state, observation, _ = self.env.reset(key=key)
        state = LeraxGymnaxState(
            time=jnp.zeros((), jnp.int32),
            env_state=env_state,
            observation=observation,
            terminated=jnp.zeros((), bool),
            truncated=jnp.zeros((), bool),
        )
        return observation, state

    def step_env(
        self, key: jax.Array, state: LeraxGymnaxState, action: Any, params: Any
    ) -> tuple[Any, LeraxGymnaxState, jax.Array, jax.Array, dict[str, Any]]:
        """One lerax `step`, without reset.

        Args:
            key: A JAX PRNG key.
            state: The current state.
            action: An element of the action space.
            params: The params (unused by the step).

        Returns:
            `(observation, state, reward, terminated, info)`.
        """
        del params
        action = jax.tree.map(
            lambda a, s: jnp.asarray(a, s.dtype),
            action,
            jax.eval_shape(lambda: self.env.action_space.sample(key=jax.random.key(0))),
        )
        env_state, observation, reward, terminated, truncated, _ = self.env.step(
            state.env_state, action, key=key
        )
        terminated = jnp.asarray(terminated, bool)
        new_state = LeraxGymnaxState(
            time=state.time + 1,
            env_state=env_state,
            observation=observation,
            terminated=terminated,
            truncated=jnp.asarray(truncated, bool),
        )
        return observation, new_state, jnp.asarray(reward, jnp.float32), terminated, {}

    def get_obs(
        self, state: LeraxGymnaxState, params: Any = None, key: Any = None
    ) -> Any:
        """The observation emitted in `state`.

        Args:
            state: The state.
            params: Unused.
            key: Unused.

        Returns:
            The observation.
        """
        del params, key
        return state.observation

    def is_terminated(self, state: LeraxGymnaxState, params: Any) -> jax.Array:
        """Whether the lerax env terminated in `state`.

        Args:
            state: The state.
            params: Unused.

        Returns:
            A boolean scalar.
        """
        del params
        return state.terminated

    def is_truncated(self, state: LeraxGymnaxState, params: Any) -> jax.Array:
        """The lerax truncation, or gymnax's time limit from `params`.

        Args:
            state: The state.
            params: The params (`max_steps_in_episode`).

        Returns:
            A boolean scalar.
        """
        limit = getattr(params, "max_steps_in_episode", _NO_LIMIT)
        return state.truncated | (state.time >= limit)
