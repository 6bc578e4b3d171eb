"""Craftax environments as lerax environments: `CraftaxToLeraxEnv`.

Craftax folds its time limit into `done` (`timestep >= max_timesteps` is one of
the game-over conditions) and gives it discount 0, like a death. An agent that
bootstraps nothing from a time-out learns that the clock kills it. The adapter
asks Craftax's own `is_terminal` twice: once as Craftax does, and once with the
episode clock set back to 0; what stays terminal without the clock (death,
lava, the final boss) is `terminated`, and what only the clock ended is
`truncated`, so the algorithm bootstraps from the last observation there.

Craftax's auto-resetting envs regenerate a world on every step and keep the
fresh one only where the episode ended; the adapter wraps the non-resetting
envs and declares `reset_scheme = ResetWhereDone(reset_pool_size)`, so lerax's
rollout generates worlds only on steps where some env finished (at most
`reset_pool_size` when few did), never handing one world to two envs.

Craftax is imported lazily: `pip install 'lerax[craftax]'`.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Key

from lerax._optional import import_extra
from lerax.env import AbstractEnv, AbstractEnvState, ResetWhereDone
from lerax.space import Box, Discrete

CRAFTAX_IDS = (
    "Craftax-Classic-Pixels-v1",
    "Craftax-Classic-Symbolic-v1",
    "Craftax-Pixels-v1",
    "Craftax-Symbolic-v1",
)


def _strong(x: Any) -> Any:
    # Python scalars and weakly-typed arrays become plain arrays, so a state's
    # dtypes are the same after a reset and after a step (`lax.scan` carries).
    x = jnp.asarray(x)
    return jnp.asarray(x, dtype=x.dtype)


class CraftaxEnvState(AbstractEnvState):
    """The state of a `CraftaxToLeraxEnv`.

    Attributes:
        craftax_state: Craftax's `EnvState` (the world, the player, the clock).
        observation: The observation of this state.
        reward: The reward of the transition into this state (0 after reset).
        terminated: Game over by the game's rules, the clock aside.
        truncated: Game over only because the clock reached `max_timesteps`.
    """

    craftax_state: Any
    observation: Float[Array, "..."]
    reward: Float[Array, ""]
    terminated: Bool[Array, ""]
    truncated: Bool[Array, ""]


class CraftaxToLeraxEnv(AbstractEnv[CraftaxEnvState, Any, Any, None]):
    """A Craftax environment as a lerax environment: pure, jittable, vmappable.

    What maps to what:

    * Actions: `Discrete(num_actions)` (17 for Classic, 43 for Craftax).
    * Observations: a float32 `Box(0, 1)` of Craftax's shape: a flat vector for
      the symbolic envs, an `(H, W, 3)` image for the pixel envs.
    * `done` with the clock aside (death, lava, the boss) is `terminated`;
      `done` only because `timestep >= max_timesteps` is `truncated`
      (Craftax itself reports discount 0 for both).
    * Resets: `reset_scheme` is `ResetWhereDone(reset_pool_size)`, so a
      rollout generates worlds only on steps where some env finished.
    * The step key's data (`jax.random.key_data`) is Craftax's step `rng`; the
      reset key's data its world-generation `rng` (Craftax works with raw
      keys and keeps one in its state). Craftax's per-step `info`
      (achievements) is not returned.

    Example:
        ```python
        env = CraftaxToLeraxEnv("Craftax-Classic-Symbolic-v1", max_timesteps=1000)
        state, obs, info = env.reset(key=key)
        ```

    Attributes:
        craftax_env: The non-resetting Craftax environment (static).
        params: Craftax's `EnvParams` (static configuration: Craftax reads some
            of them as Python values).
        name: The Craftax id, such as `"Craftax-Classic-Symbolic-v1"`.
        reset_pool_size: At most how many worlds a rollout step with few
            finished environments generates (None: one per environment).
        action_space: `Discrete(num_actions)`.
        observation_space: `Box(0, 1, shape)`.
    """

    craftax_env: Any = eqx.field(static=True)
    params: Any = eqx.field(static=True)
    name: str = eqx.field(static=True)
    reset_pool_size: int | None = eqx.field(static=True)
    action_space: Discrete
    observation_space: Box

    def __init__(
        self, name: str, *, reset_pool_size: int | None = None, **params_overrides: Any
    ):
        """Make a Craftax environment (without auto-reset) and adapt it.

        Args:
            name: One of `"Craftax-Classic-Symbolic-v1"`,
                `"Craftax-Classic-Pixels-v1"`, `"Craftax-Symbolic-v1"`,
                `"Craftax-Pixels-v1"`.
            reset_pool_size: At most how many worlds a rollout step generates
                when at most that many environments finished on it (more
                finished: one per environment); None (the default) generates
                one per environment on every step where some finished. It
                changes the cost only: each finished environment gets the
                world of its own key either way.
            **params_overrides: Fields of the environment's default `EnvParams`
                to replace, such as `max_timesteps=1000`.

        Raises:
            ImportError: If Craftax is not installed
                (`pip install 'lerax[craftax]'`).
            ValueError: If the name is unknown (the message lists close ids),
                an override is not a field of the params, or `reset_pool_size`
                is not a positive int.
        """
        craftax_env_module = import_extra(
            "craftax.craftax_env", "craftax", owner="CraftaxToLeraxEnv"
        )
        if name not in CRAFTAX_IDS:
            close = difflib.get_close_matches(str(name), CRAFTAX_IDS, n=4, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise ValueError(
                f"CraftaxToLeraxEnv: unknown Craftax environment {name!r}; {hint}"
                f"known: {', '.join(CRAFTAX_IDS)}."
            )
        env = craftax_env_module.make_craftax_env_from_name(name, auto_reset=False)
        params = env.default_params
        fields = {f.name for f in dataclasses.fields(params)}
        unknown = sorted(set(params_overrides) - fields)
        if unknown:
            raise ValueError(
                f"CraftaxToLeraxEnv: {name} has no parameter(s) "
                f"{', '.join(unknown)}; its parameters are "
                f"{', '.join(sorted(fields))}."
            )
        self.craftax_env = env
        try:  # checked (and normalised) by the scheme it configures
            self.reset_pool_size = ResetWhereDone(reset_pool_size).pool_size
        except ValueError:
            raise ValueError(
                "CraftaxToLeraxEnv: reset_pool_size must be a positive int or "
                f"None, got {reset_pool_size!r}."
            ) from None
        self.params = params.replace(**params_overrides)
        self.name = name
        self.action_space = Discrete(int(env.num_actions))
        space = env.observation_space(self.params)
        shape = tuple(int(s) for s in np.atleast_1d(space.shape))
        self.observation_space = Box(
            np.broadcast_to(np.asarray(space.low, np.float64), shape),
            np.broadcast_to(np.asarray(space.high, np.float64), shape),
            shape=shape,
        )

    def _state(
        self, craftax_state: Any, observation: Any, reward: Any, done: Any
    ) -> CraftaxEnvState:
        craftax_state = jax.tree.map(_strong, craftax_state)
        done = jnp.asarray(done, bool).reshape(())
        # Craftax's own rules with the clock set back: what is still game over
        # did not come from the time limit.
        unclocked = craftax_state.replace(
            timestep=jnp.zeros_like(craftax_state.timestep)
        )
        by_rules = jnp.asarray(
            self.craftax_env.is_terminal(unclocked, self.params), bool
        ).reshape(())
        return CraftaxEnvState(
            craftax_state=craftax_state,
            observation=jnp.asarray(observation, jnp.float32),
            reward=jnp.asarray(reward, jnp.float32).reshape(()),
            terminated=done & by_rules,
            truncated=done & ~by_rules,
        )

    def initial(self, *, key: Key[Array, ""]) -> CraftaxEnvState:
        observation, craftax_state = self.craftax_env.reset_env(
            jax.random.key_data(key), self.params
        )
        return self._state(craftax_state, observation, 0.0, False)

    def transition(
        self, state: CraftaxEnvState, action: Any, *, key: Key[Array, ""]
    ) -> CraftaxEnvState:
        observation, craftax_state, reward, done, _ = self.craftax_env.step_env(
            jax.random.key_data(key),
            state.craftax_state,
            jnp.asarray(action, jnp.int32),
            self.params,
        )
        return self._state(craftax_state, observation, reward, done)

    def observation(self, state: CraftaxEnvState, *, key: Key[Array, ""]) -> Any:
        del key
        return state.observation

    def reward(
        self,
        state: CraftaxEnvState,
        action: Any,
        next_state: CraftaxEnvState,
        *,
        key: Key[Array, ""],
    ) -> Float[Array, ""]:
        del state, action, key
        return next_state.reward

    def terminal(
        self, state: CraftaxEnvState, *, key: Key[Array, ""]
    ) -> Bool[Array, ""]:
        del key
        return state.terminated

    def truncate(self, state: CraftaxEnvState) -> Bool[Array, ""]:
        return state.truncated

    @property
    def reset_scheme(self) -> ResetWhereDone:
        """`ResetWhereDone(reset_pool_size)`: worlds are generated only when needed.

        World generation is Craftax's most expensive step; a rollout generates
        worlds only on steps where some environment finished (and at most
        `reset_pool_size` of them when few did). The states are those of a
        reset on every step.
        """
        return ResetWhereDone(self.reset_pool_size)
