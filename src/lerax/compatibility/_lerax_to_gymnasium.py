"""lerax environments as Gymnasium environments (single and vector).

A lerax env is pure and never resets itself; Gymnasium's `Env` is stateful and
its vector envs reset themselves. The adapters keep the lerax state and a JAX key
on the Python side and call compiled `reset`/`step` functions:

- `LeraxToGymnasiumEnv` is a `gymnasium.Env`. At an episode's end `step` returns
  the true final observation (a single Gymnasium env never resets itself), which
  is what Gymnasium's wrappers and Stable-Baselines3's `DummyVecEnv` (which
  stores it as `terminal_observation` before resetting) expect.
- `LeraxToGymnasiumVectorEnv` is a `gymnasium.vector.VectorEnv` of `num_envs`
  copies, stepped as one compiled, vmapped function, with Gymnasium's three
  autoreset modes; with `NEXT_STEP` (the default, as in Gymnasium) the final
  observation is returned by the step that ends the episode and the reset
  happens on the next call, with `SAME_STEP` it is in `info["final_obs"]`.

Keys: `reset(seed=s)` starts the key chain `jax.random.key(s)`; every `reset` and
`step` then uses `key, sub = jax.random.split(key)` and passes `sub`. Without a
seed the chain starts from a seed drawn from the env's Gymnasium `np_random`.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from lerax.env import AbstractEnvLike, require_env

from ._gymnasium_spaces import (
    gymnasium,
    to_gymnasium_space,
    to_gymnasium_value,
    to_lerax_value,
)


@eqx.filter_jit
def _reset(env, key):
    state, observation, _ = env.reset(key=key)
    return state, observation


@eqx.filter_jit
def _step(env, state, action, key):
    state, observation, reward, terminated, truncated, _ = env.step(
        state, action, key=key
    )
    return state, observation, reward, terminated, truncated


class LeraxToGymnasiumEnv(gymnasium.Env):
    """A lerax environment as a `gymnasium.Env`.

    It passes `gymnasium.utils.env_checker.check_env`. Observations and actions
    are NumPy values of the converted Gymnasium spaces (`Box` keeps the lerax
    dtype; discrete kinds are int64). `reset(seed=s)` is deterministic;
    termination and truncation are reported separately, and at either the
    returned observation is the episode's true final observation.

    Example:
        ```python
        env = LeraxToGymnasiumEnv(GymnaxToLeraxEnv.from_name("CartPole-v1"))
        observation, info = env.reset(seed=0)
        observation, reward, terminated, truncated, info = env.step(1)
        ```

    Attributes:
        env: The wrapped lerax environment.
        observation_space: The Gymnasium observation space.
        action_space: The Gymnasium action space.
    """

    metadata = {"render_modes": []}

    def __init__(self, env: AbstractEnvLike):
        """Wrap `env`.

        Args:
            env: A lerax environment (or wrapped environment).

        Raises:
            TypeError: If `env` is not a lerax environment.
            NotImplementedError: If a space has no Gymnasium equivalent.
        """
        require_env("LeraxToGymnasiumEnv", env)
        self.env = env
        self.observation_space = to_gymnasium_space(env.observation_space)
        self.action_space = to_gymnasium_space(env.action_space)
        self._key: jax.Array | None = None
        self._state: Any = None

    def _next_key(self) -> jax.Array:
        self._key, key = jax.random.split(self._key)
        return key

    def _observation(self, observation: Any) -> Any:
        return to_gymnasium_value(
            self.observation_space, self.env.observation_space, observation
        )

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Start an episode.

        Args:
            seed: Restart the key chain from `jax.random.key(seed)` (and seed
                `np_random`); without it the episode continues the chain.
            options: Unused.

        Returns:
            The first observation and an empty info dict.
        """
        super().reset(seed=seed)
        if seed is not None or self._key is None:
            self._key = jax.random.key(
                int(seed)
                if seed is not None
                else int(self.np_random.integers(2**31 - 1))
            )
        self._state, observation = _reset(self.env, self._next_key())
        return self._observation(observation), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Take one action.

        Args:
            action: An element of `action_space`.

        Returns:
            `(observation, reward, terminated, truncated, info)`; at an
            episode's end the observation is its true final observation.

        Raises:
            RuntimeError: If called before `reset`.
        """
        if self._state is None:
            raise RuntimeError("LeraxToGymnasiumEnv: call reset before step.")
        action = to_lerax_value(self.action_space, self.env.action_space, action)
        self._state, observation, reward, terminated, truncated = _step(
            self.env, self._state, action, self._next_key()
        )
        return (
            self._observation(observation),
            float(reward),
            bool(terminated),
            bool(truncated),
            {},
        )


def _reset_fn(env, key):
    state, observation, _ = env.reset(key=key)
    return state, observation


@eqx.filter_jit
def _vector_reset(env, state, observation, keys, mask):
    new_state, new_observation = jax.vmap(lambda k: _reset_fn(env, k))(keys)

    def select(new, old):
        where = mask.reshape(mask.shape + (1,) * (new.ndim - 1))
        return jnp.where(where, new, old)

    if state is None:
        return new_state, new_observation
    return (
        jax.tree.map(select, new_state, state),
        jax.tree.map(select, new_observation, observation),
    )


@eqx.filter_jit
def _vector_step(env, state, action, keys, reset_first, reset_after):
    def one(state, action, key, reset_first, reset_after):
        step_key, reset_key = jax.random.split(key)
        stepped, observation, reward, terminated, truncated, _ = env.step(
            state, action, key=step_key
        )
        reset_state, reset_observation, _ = env.reset(key=reset_key)
        final_observation = observation
        done = terminated | truncated

        def pick(pred, a, b):
            return jax.tree.map(lambda x, y: jnp.where(pred, x, y), a, b)

        # NEXT_STEP: an env that ended last call is reset instead of stepped.
        zero = jnp.zeros((), bool)
        state = pick(reset_first, reset_state, stepped)
        observation = pick(reset_first, reset_observation, observation)
        reward = jnp.where(reset_first, 0.0, jnp.asarray(reward, jnp.float32))
        terminated = jnp.where(reset_first, zero, terminated)
        truncated = jnp.where(reset_first, zero, truncated)
        # SAME_STEP: an env that ends now is reset now; its final observation
        # goes to info.
        now = reset_after & done & ~reset_first
        state = pick(now, reset_state, state)
        observation = pick(now, reset_observation, observation)
        return state, observation, reward, terminated, truncated, final_observation

    return jax.vmap(one)(state, action, keys, reset_first, reset_after)


class LeraxToGymnasiumVectorEnv(VectorEnv):
    """`num_envs` copies of a lerax environment as a `gymnasium.vector.VectorEnv`.

    All copies are reset and stepped by one compiled, vmapped function per call.
    The autoreset mode is Gymnasium's: `NEXT_STEP` (default: the step that ends
    an episode returns its final observation, the next step resets that env and
    ignores its action), `SAME_STEP` (the ending step returns the new episode's
    first observation and the final one in `info["final_obs"]`, masked by
    `info["_final_obs"]`), or `DISABLED` (reset ended envs yourself with
    `reset(options={"reset_mask": mask})`). `metadata["autoreset_mode"]` says
    which.

    Attributes:
        env: The wrapped lerax environment.
        num_envs: The number of copies.
        single_observation_space: The Gymnasium space of one observation.
        single_action_space: The Gymnasium space of one action.
        observation_space: The batched observation space.
        action_space: The batched action space.
    """

    def __init__(
        self,
        env: AbstractEnvLike,
        num_envs: int,
        *,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
    ):
        """Wrap `num_envs` copies of `env`.

        Args:
            env: A lerax environment.
            num_envs: The number of copies, at least 1.
            autoreset_mode: A Gymnasium `AutoresetMode` (or its value).

        Raises:
            TypeError: If `env` is not a lerax environment.
            ValueError: If `num_envs` is not a positive int or the mode is
                unknown.
            NotImplementedError: If a space has no Gymnasium equivalent.
        """
        require_env("LeraxToGymnasiumVectorEnv", env)
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(
                "LeraxToGymnasiumVectorEnv: num_envs must be a positive int, got "
                f"{num_envs!r}."
            )
        try:
            mode = AutoresetMode(autoreset_mode)
        except ValueError as err:
            raise ValueError(
                "LeraxToGymnasiumVectorEnv: autoreset_mode must be one of "
                f"{', '.join(m.value for m in AutoresetMode)}, got "
                f"{autoreset_mode!r}."
            ) from err
        self.env = env
        self.num_envs = num_envs
        self.autoreset_mode = mode
        self.metadata = {"autoreset_mode": mode, "render_modes": []}
        self.single_observation_space = to_gymnasium_space(env.observation_space)
        self.single_action_space = to_gymnasium_space(env.action_space)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._key: jax.Array | None = None
        self._state: Any = None
        self._observation: Any = None
        self._ended = np.zeros(num_envs, bool)

    def _keys(self) -> jax.Array:
        self._key, key = jax.random.split(self._key)
        return jax.random.split(key, self.num_envs)

    def _to_gymnasium(self, observation: Any) -> Any:
        return to_gymnasium_value(
            self.single_observation_space, self.env.observation_space, observation
        )

    def reset(
        self,
        *,
        seed: int | list[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[Any, dict[str, Any]]:
        """Reset all copies, or those in `options["reset_mask"]`.

        Args:
            seed: An int restarts the key chain from `jax.random.key(seed)`; a
                list is not supported (one chain feeds every copy).
            options: `{"reset_mask": mask}` resets only the copies where the
                boolean mask of shape `(num_envs,)` is true.

        Returns:
            The batched observations and an empty info dict.

        Raises:
            ValueError: If `seed` is a list or the mask has the wrong shape.
        """
        if isinstance(seed, list | tuple):
            raise ValueError(
                "LeraxToGymnasiumVectorEnv.reset: pass one int seed (it seeds "
                "every copy through one key chain), not a list of seeds."
            )
        super().reset(seed=seed)
        if seed is not None or self._key is None:
            self._key = jax.random.key(
                int(seed)
                if seed is not None
                else int(self.np_random.integers(2**31 - 1))
            )
        mask = np.ones(self.num_envs, bool)
        if options and "reset_mask" in options:
            mask = np.asarray(options["reset_mask"], bool)
            if mask.shape != (self.num_envs,):
                raise ValueError(
                    "LeraxToGymnasiumVectorEnv.reset: reset_mask must have shape "
                    f"({self.num_envs},), got {mask.shape}."
                )
        if self._state is None:
            mask = np.ones(self.num_envs, bool)
        self._state, self._observation = _vector_reset(
            self.env, self._state, self._observation, self._keys(), mask
        )
        self._ended[mask] = False
        return self._to_gymnasium(self._observation), {}

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        """Step every copy.

        Args:
            actions: A batch of actions (an element of `action_space`).

        Returns:
            `(observations, rewards, terminations, truncations, infos)` as
            batched NumPy arrays; `infos` holds `final_obs`/`_final_obs` in
            `SAME_STEP` mode.

        Raises:
            RuntimeError: If called before `reset`, or (in `DISABLED` mode) with
                an ended copy that was not reset.
        """
        if self._state is None:
            raise RuntimeError("LeraxToGymnasiumVectorEnv: call reset before step.")
        mode = self.autoreset_mode
        if mode == AutoresetMode.DISABLED and self._ended.any():
            raise RuntimeError(
                "LeraxToGymnasiumVectorEnv: copies "
                f"{np.flatnonzero(self._ended).tolist()} ended and were not reset; "
                "with AutoresetMode.DISABLED call "
                "reset(options={'reset_mask': mask}) first."
            )
        actions = to_lerax_value(
            self.single_action_space, self.env.action_space, actions
        )
        reset_first = self._ended & (mode == AutoresetMode.NEXT_STEP)
        reset_after = np.full(self.num_envs, mode == AutoresetMode.SAME_STEP)
        (
            self._state,
            self._observation,
            reward,
            terminated,
            truncated,
            final_observation,
        ) = _vector_step(
            self.env, self._state, actions, self._keys(), reset_first, reset_after
        )
        terminated = np.asarray(terminated, bool)
        truncated = np.asarray(truncated, bool)
        self._ended = terminated | truncated
        infos: dict[str, Any] = {}
        if mode == AutoresetMode.SAME_STEP and self._ended.any():
            final = self._to_gymnasium(final_observation)
            for i in np.flatnonzero(self._ended):
                infos = self._add_info(
                    infos,
                    {
                        "final_obs": jax.tree.map(lambda x, i=i: x[i], final),
                        "final_info": {},
                    },
                    int(i),
                )
        return (
            self._to_gymnasium(self._observation),
            np.asarray(reward, np.float64),
            terminated,
            truncated,
            infos,
        )
