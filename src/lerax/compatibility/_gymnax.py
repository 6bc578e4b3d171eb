"""The gymnax adapter: any gymnax 1.x environment as a lerax `AbstractEnv`.

gymnax's own `step` resets automatically at an episode's end; lerax envs never
reset themselves. The adapter therefore calls gymnax's `reset_env` and
`step_env` (the non-resetting halves) and asks `is_truncated` for the time limit,
so termination and truncation stay distinct.
"""

import dataclasses
from typing import Any

import equinox as eqx
import gymnax
import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces as gymnax_spaces
from gymnax.environments.environment import Environment
from jaxtyping import Array, Bool, Float, Key

from lerax.env import AbstractEnv, AbstractEnvState
from lerax.space import AbstractSpace, Box, Dict, Discrete, Tuple

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def convert_space(space: gymnax_spaces.Space) -> AbstractSpace:
    """Convert a gymnax space into the equivalent lerax space.

    `Discrete(n)` becomes `Discrete(n)`; `Box` becomes a float `Box` with bounds
    broadcast to its shape (bounds at +-float32 max, gymnax's way of writing
    "unbounded", become +-inf; integer boxes become float32 boxes); `Dict` and
    `Tuple` are converted recursively.

    Args:
        space: A gymnax space.

    Returns:
        The lerax space.

    Raises:
        NotImplementedError: If the space (or a sub-space) has no lerax
            equivalent; the message names it.
    """
    if isinstance(space, gymnax_spaces.Discrete):
        return Discrete(int(space.n))
    if isinstance(space, gymnax_spaces.Box):
        # gymnax writes shapes as tuples, lists or a bare int.
        shape = tuple(int(s) for s in np.atleast_1d(np.asarray(space.shape, int)))
        low = np.broadcast_to(np.asarray(space.low, dtype=np.float64), shape)
        high = np.broadcast_to(np.asarray(space.high, dtype=np.float64), shape)
        low = np.where(low <= -_FLOAT32_MAX, -np.inf, low)
        high = np.where(high >= _FLOAT32_MAX, np.inf, high)
        floating = jnp.issubdtype(space.dtype, jnp.floating)
        return Box(low, high, shape=shape, dtype=space.dtype if floating else "float32")
    if isinstance(space, gymnax_spaces.Dict):
        return Dict({k: convert_space(s) for k, s in space.spaces.items()})
    if isinstance(space, gymnax_spaces.Tuple):
        return Tuple([convert_space(s) for s in space.spaces])
    raise NotImplementedError(
        f"gymnax space {space!r} (of type {type(space).__name__}) has no lerax "
        "equivalent; supported kinds are Discrete, Box, Dict and Tuple."
    )


def _cast_to(space: AbstractSpace, x: Any) -> Any:
    """Give `x` the container types and dtypes of an element of `space`."""
    if isinstance(space, Dict):
        return {k: _cast_to(s, x[k]) for k, s in space.spaces.items()}
    if isinstance(space, Tuple):
        return tuple(_cast_to(s, v) for s, v in zip(space.spaces, x, strict=True))
    return jnp.asarray(x, dtype=space.dtype)


def _strong(x: Any) -> Any:
    """An array with `x`'s canonical dtype and no weak type.

    gymnax states hold Python scalars after `reset_env` (`time=0`) and
    weakly-typed arrays after `step_env`; fixing the types keeps the state's
    structure and dtypes identical across steps, as `lax.scan` carries need.
    """
    x = jnp.asarray(x)
    return jnp.asarray(x, dtype=x.dtype)


def _params_as_arrays(params: Any) -> Any:
    """Turn the numeric leaves of a gymnax params dataclass into arrays.

    gymnax traces its params whenever it jits `step`, so every gymnax env
    accepts traced params; as array leaves they can be swept with `jax.vmap` and
    changing them recompiles nothing.
    """

    def convert(leaf: Any) -> Any:
        if isinstance(leaf, bool | int | float | np.generic | np.ndarray):
            return _strong(leaf)
        return leaf

    return jax.tree.map(convert, params)


class GymnaxEnvState(AbstractEnvState):
    """The state of a `GymnaxToLeraxEnv`.

    gymnax computes the observation, reward and termination flag together in
    `step_env`; they are kept here so that one `step` makes exactly one
    `step_env` call and the other methods only read the state.

    Attributes:
        env_state: The gymnax environment state.
        observation: The observation emitted in this state.
        reward: The reward of the transition into this state (0 after reset).
        terminated: Whether this state is terminal (False after reset).
    """

    env_state: Any
    observation: Any
    reward: Float[Array, ""]
    terminated: Bool[Array, ""]


class GymnaxToLeraxEnv(AbstractEnv[GymnaxEnvState, Any, Any, None]):
    """A gymnax environment as a lerax environment.

    The gymnax environment object is static configuration (it is a plain Python
    object: stateless, hashed by identity); its params are a pytree whose
    numeric entries are stored as array leaves, so a jitted function taking the
    adapter compiles once per gymnax env object and per params structure, not per
    params value.

    Actions and observations are converted to the lerax spaces' dtypes: a
    `Discrete` action may be any integer scalar (a Python int or an int32
    array), and observations of integer gymnax boxes come out as float32.

    Example:
        ```python
        env = GymnaxToLeraxEnv.from_name("CartPole-v1")
        state, obs, info = env.reset(key=key)
        state, obs, reward, terminated, truncated, info = env.step(
            state, jnp.int32(1), key=key
        )
        ```

    Attributes:
        gymnax_env: The wrapped gymnax environment (static).
        params: The gymnax environment parameters.
        name: The gymnax environment's name, such as `"CartPole-v1"`.
        action_space: The converted action space.
        observation_space: The converted observation space.
    """

    gymnax_env: Environment = eqx.field(static=True)
    params: Any
    name: str = eqx.field(static=True)
    action_space: AbstractSpace
    observation_space: AbstractSpace

    def __init__(self, gymnax_env: Environment, params: Any = None):
        """Adapt `gymnax_env`.

        Args:
            gymnax_env: A gymnax 1.x `Environment`.
            params: Its parameters (a gymnax `EnvParams` dataclass); by default
                `gymnax_env.default_params`.

        Raises:
            ValueError: If `gymnax_env` is not a gymnax environment.
            NotImplementedError: If its action or observation space has no lerax
                equivalent.
        """
        if not isinstance(gymnax_env, Environment):
            raise ValueError(
                "GymnaxToLeraxEnv: gymnax_env must be a gymnax Environment, got "
                f"{type(gymnax_env).__name__}."
            )
        if params is None:
            params = gymnax_env.default_params
        self.gymnax_env = gymnax_env
        self.name = str(gymnax_env.name)
        # The spaces are read from the params as given (Python scalars), before
        # they become arrays: a gymnax space may use them as shapes.
        self.action_space = convert_space(gymnax_env.action_space(params))
        self.observation_space = convert_space(gymnax_env.observation_space(params))
        self.params = _params_as_arrays(params)

    @classmethod
    def from_name(cls, name: str, **params_overrides: Any) -> "GymnaxToLeraxEnv":
        """Make a registered gymnax environment, optionally with changed params.

        Args:
            name: A name in `gymnax.registered_envs`, such as `"CartPole-v1"`.
            **params_overrides: Fields of the environment's default params to
                replace, such as `max_steps_in_episode=100`.

        Returns:
            The adapted environment.

        Raises:
            ValueError: If `name` is not registered (the message lists the
                registered names) or an override is not a field of the params.
            NotImplementedError: If a space has no lerax equivalent.
        """
        if name not in gymnax.registered_envs:
            raise ValueError(
                f"GymnaxToLeraxEnv.from_name: unknown gymnax environment {name!r}; "
                f"available: {', '.join(gymnax.registered_envs)}."
            )
        gymnax_env, params = gymnax.make(name)
        fields = {f.name for f in dataclasses.fields(params)}
        unknown = sorted(set(params_overrides) - fields)
        if unknown:
            raise ValueError(
                f"GymnaxToLeraxEnv.from_name: {name} has no parameter(s) "
                f"{', '.join(unknown)}; its parameters are "
                f"{', '.join(sorted(fields))}."
            )
        return cls(gymnax_env, params.replace(**params_overrides))

    def _state(
        self, env_state: Any, observation: Any, reward: Any, terminated: Any
    ) -> GymnaxEnvState:
        return GymnaxEnvState(
            env_state=jax.tree.map(_strong, env_state),
            observation=_cast_to(self.observation_space, observation),
            reward=jnp.asarray(reward, dtype=jnp.float32).reshape(()),
            terminated=jnp.asarray(terminated, dtype=bool).reshape(()),
        )

    def initial(self, *, key: Key[Array, ""]) -> GymnaxEnvState:
        observation, env_state = self.gymnax_env.reset_env(key, self.params)
        return self._state(env_state, observation, 0.0, False)

    def transition(
        self, state: GymnaxEnvState, action: Any, *, key: Key[Array, ""]
    ) -> GymnaxEnvState:
        action = _cast_to(self.action_space, action)
        observation, env_state, reward, terminated, _ = self.gymnax_env.step_env(
            key, state.env_state, action, self.params
        )
        return self._state(env_state, observation, reward, terminated)

    def observation(self, state: GymnaxEnvState, *, key: Key[Array, ""]) -> Any:
        del key
        return state.observation

    def reward(
        self,
        state: GymnaxEnvState,
        action: Any,
        next_state: GymnaxEnvState,
        *,
        key: Key[Array, ""],
    ) -> Float[Array, ""]:
        del state, action, key
        return next_state.reward

    def terminal(
        self, state: GymnaxEnvState, *, key: Key[Array, ""]
    ) -> Bool[Array, ""]:
        del key
        return state.terminated

    def truncate(self, state: GymnaxEnvState) -> Bool[Array, ""]:
        truncated = self.gymnax_env.is_truncated(state.env_state, self.params)
        return jnp.asarray(truncated, dtype=bool).reshape(())
