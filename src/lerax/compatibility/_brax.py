"""Brax environments as lerax environments: `BraxToLeraxEnv`.

Brax's raw environments (`brax.envs.get_environment`) never reset themselves
and have no time limit; `brax.envs.create` adds both through wrappers, folding
the time limit into `done`. The adapter wraps the raw environment instead and
counts steps itself, so `done` (the task's own end: a fallen hopper) is lerax's
`terminated` and the episode limit is lerax's `truncated`, kept distinct.

Brax is imported lazily: `pip install lerax[brax]`.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, Key

from lerax.env import AbstractEnv, AbstractEnvState
from lerax.space import Box


def _import_brax_envs() -> Any:
    try:
        from brax import envs
    except ImportError as err:
        raise ImportError("BraxToLeraxEnv needs Brax: pip install lerax[brax]") from err
    return envs


class BraxEnvState(AbstractEnvState):
    """The state of a `BraxToLeraxEnv`.

    Attributes:
        brax_state: Brax's `State` (physics state, observation, reward, done,
            metrics, info).
        time: Steps taken in this episode.
    """

    brax_state: Any
    time: Int[Array, ""]


class BraxToLeraxEnv(AbstractEnv[BraxEnvState, Any, Any, None]):
    """A Brax environment as a lerax environment: pure, jittable, vmappable.

    Observations are `Box(-inf, inf, (observation_size,))`; actions are
    `Box(-1, 1, (action_size,))`, the range Brax's environments are driven in
    (Brax's own PPO squashes its actions into it). Brax's `done` is lerax's
    termination; reaching `episode_length` steps is truncation. Brax steps are
    deterministic, so the step key is unused; `reset` passes the key's raw data
    to Brax.

    Example:
        ```python
        env = BraxToLeraxEnv("inverted_pendulum", episode_length=1000)
        states, obs, _ = jax.vmap(lambda k: env.reset(key=k))(keys)
        ```

    Attributes:
        brax_env: The raw Brax environment (static).
        name: The Brax environment's name.
        episode_length: The time limit in steps.
        action_space: `Box(-1, 1, (action_size,))`.
        observation_space: `Box(-inf, inf, (observation_size,))`.
        full_state_critic: Whether the env offers the full physics state as its
            critic observation (for a privileged critic).
        state_size: `q_size + qd_size` of the Brax system (0 without
            `full_state_critic`).
    """

    brax_env: Any = eqx.field(static=True)
    name: str = eqx.field(static=True)
    episode_length: int = eqx.field(static=True)
    action_space: Box
    observation_space: Box
    full_state_critic: bool = eqx.field(static=True)
    state_size: int = eqx.field(static=True)

    def __init__(
        self,
        env_name_or_env: Any,
        episode_length: int = 1000,
        *,
        backend: str | None = None,
        full_state_critic: bool = False,
        **env_kwargs: Any,
    ):
        """Make (or take) a Brax environment and adapt it.

        Args:
            env_name_or_env: A registered Brax env name such as `"hopper"`
                (made with `brax.envs.get_environment`), or a raw Brax `Env`
                (not one from `brax.envs.create`, whose wrappers reset it).
            episode_length: The time limit in steps (truncation), >= 1.
            backend: The Brax physics backend (`"generalized"`, `"positional"`,
                `"spring"`, ...); by default the environment's own default.
            full_state_critic: Offer the full physics state, the pipeline
                state's generalized positions and velocities `(q, qd)`
                concatenated, as the critic observation
                (`critic_observation_space` is then `Box(-inf, inf,
                (q_size + qd_size,))`), for
                `lerax.policy.MLPPrivilegedCriticPolicy`; the observation is
                unchanged. Needs a Brax `PipelineEnv` (every registered one).
            **env_kwargs: Keyword arguments for the environment's constructor.

        Raises:
            ImportError: If Brax is not installed (`pip install lerax[brax]`).
            ValueError: If the name is not registered, `episode_length` is not
                a positive int, or an auto-resetting (wrapped) env is given.
            TypeError: If `env_name_or_env` is neither a name nor a Brax env.
        """
        envs = _import_brax_envs()
        if (
            isinstance(episode_length, bool)
            or not isinstance(episode_length, int | np.integer)
            or episode_length < 1
        ):
            raise ValueError(
                "BraxToLeraxEnv: episode_length must be a positive int, got "
                f"{episode_length!r}."
            )
        if isinstance(env_name_or_env, str):
            name = env_name_or_env
            if backend is not None:
                env_kwargs = {**env_kwargs, "backend": backend}
            try:
                brax_env = envs.get_environment(name, **env_kwargs)
            except KeyError as err:
                known = sorted(getattr(envs, "_envs", {}))
                raise ValueError(
                    f"BraxToLeraxEnv: unknown Brax environment {name!r}; "
                    f"available: {', '.join(known)}."
                ) from err
        elif isinstance(env_name_or_env, envs.Env):
            brax_env = env_name_or_env
            if isinstance(brax_env, envs.Wrapper):
                raise ValueError(
                    "BraxToLeraxEnv: got a wrapped Brax env "
                    f"({type(brax_env).__name__}); pass the raw environment "
                    "(brax.envs.get_environment) or its name: the adapter keeps "
                    "the time limit itself, and lerax's algorithms do the resets."
                )
            if env_kwargs or backend is not None:
                raise ValueError(
                    "BraxToLeraxEnv: backend and keyword arguments are only used "
                    "with an env name."
                )
            name = type(brax_env).__name__
        else:
            raise TypeError(
                "BraxToLeraxEnv: env_name_or_env must be a Brax env name or a "
                f"brax.envs.Env, got {type(env_name_or_env).__name__}."
            )
        if not isinstance(full_state_critic, bool):
            raise TypeError(
                "BraxToLeraxEnv: full_state_critic must be a bool, got "
                f"{type(full_state_critic).__name__}."
            )
        state_size = 0
        if full_state_critic:
            if not isinstance(brax_env, envs.PipelineEnv):
                raise ValueError(
                    f"BraxToLeraxEnv: full_state_critic needs a Brax PipelineEnv "
                    f"(with a physics pipeline state), got {type(brax_env).__name__}."
                )
            state_size = int(brax_env.sys.q_size()) + int(brax_env.sys.qd_size())
        self.brax_env = brax_env
        self.name = name
        self.episode_length = int(episode_length)
        self.action_space = Box(-1.0, 1.0, shape=(int(brax_env.action_size),))
        self.observation_space = Box(
            -np.inf, np.inf, shape=(int(brax_env.observation_size),)
        )
        self.full_state_critic = full_state_critic
        self.state_size = state_size

    @property
    def critic_observation_space(self) -> Box | None:
        """`Box(-inf, inf, (q_size + qd_size,))` with `full_state_critic`, else None."""
        if not self.full_state_critic:
            return None
        return Box(-np.inf, np.inf, shape=(self.state_size,))

    def critic_observation(self, state: BraxEnvState, *, key: Key[Array, ""]) -> Any:
        """The full physics state `(q, qd)`, with `full_state_critic`; else None.

        Args:
            state: The state.
            key: Unused (the state is read exactly).

        Returns:
            The pipeline state's `q` and `qd` concatenated (float32), or None.
        """
        del key
        if not self.full_state_critic:
            return None
        pipeline_state = state.brax_state.pipeline_state
        return jnp.concatenate(
            [jnp.ravel(pipeline_state.q), jnp.ravel(pipeline_state.qd)]
        ).astype(jnp.float32)

    def initial(self, *, key: Key[Array, ""]) -> BraxEnvState:
        brax_state = self.brax_env.reset(jax.random.key_data(key))
        return BraxEnvState(brax_state=brax_state, time=jnp.zeros((), jnp.int32))

    def transition(
        self, state: BraxEnvState, action: Any, *, key: Key[Array, ""]
    ) -> BraxEnvState:
        del key  # Brax's dynamics are deterministic.
        action = jnp.asarray(action, jnp.float32)
        brax_state = self.brax_env.step(state.brax_state, action)
        return BraxEnvState(brax_state=brax_state, time=state.time + 1)

    def observation(self, state: BraxEnvState, *, key: Key[Array, ""]) -> Any:
        del key
        return jnp.asarray(state.brax_state.obs, jnp.float32)

    def reward(
        self,
        state: BraxEnvState,
        action: Any,
        next_state: BraxEnvState,
        *,
        key: Key[Array, ""],
    ) -> Float[Array, ""]:
        del state, action, key
        return jnp.asarray(next_state.brax_state.reward, jnp.float32)

    def terminal(self, state: BraxEnvState, *, key: Key[Array, ""]) -> Bool[Array, ""]:
        del key
        return jnp.asarray(state.brax_state.done, jnp.float32) > 0.5

    def truncate(self, state: BraxEnvState) -> Bool[Array, ""]:
        return state.time >= self.episode_length
