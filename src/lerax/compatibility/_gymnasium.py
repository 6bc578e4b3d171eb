"""Gymnasium environments as a lerax environment, stepped from compiled code.

`GymnasiumToLeraxEnv` holds a Gymnasium vector environment on the host (the
Python process) and exposes it as a lerax `AbstractEnv` of *one* environment
that is meant to be used under `jax.vmap` over exactly `num_envs` environments,
which is how lerax's algorithms (`collect_rollout`) and `evaluate_policy` use
environments. Each vmapped `reset` or `step` becomes ONE host callback for all
environments:

- The host calls are `jax.experimental.io_callback(..., ordered=True)`: ordered
  effects are threaded through a token in program order, so XLA neither
  reorders, deduplicates nor drops them, and `reset` after `step` inside one
  rollout step really runs after it. (`jax.pure_callback` would let XLA reorder
  the `reset` callback before the `step` callback, since `reset` does not depend
  on `step`'s results, or drop an unused call.)
- An ordered `io_callback` cannot be vmapped, so each host call is wrapped in a
  `jax.custom_batching.custom_vmap` whose batching rule runs the callback once
  on the whole batch. A second `jax.vmap` around it (for example
  `jax.vmap(algorithm.learn)` over seeds) is caught by an inner `custom_vmap`
  and raises a clear error.

lerax's algorithms call `env.reset` after every step and keep its result only
where the episode ended (`done`); a host environment cannot be reset and then
"un-reset". The host therefore decides, per environment, what a `reset` means:

- an environment whose episode ended (or that was never reset, or whose episode
  lerax no longer follows) is reset for real, seeded from the lerax key;
- a `reset` that directly follows a `step`, for an environment whose episode
  goes on, is the algorithm's speculative reset: the host leaves it alone and
  returns a placeholder state marked as such. Stepping such a placeholder (a
  real mid-episode restart right after a step) raises an error, as does
  stepping any stale state: host environments cannot be rewound.

The Gymnasium vector environment runs with `AutoresetMode.DISABLED`, so `step`
returns the true final observation of every episode (what the truncation
bootstrap needs) and only lerax's `reset` starts a new episode.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_batching import custom_vmap
from jax.experimental import io_callback
from jaxtyping import Array, Bool, Float, Int, Key

from lerax.env import AbstractEnv, AbstractEnvState
from lerax.space import AbstractSpace

from ._gymnasium_spaces import (
    from_gymnasium_space,
    gym_spaces,
    gymnasium,
    to_gymnasium_value,
    to_lerax_value,
)

_PLACEHOLDER = -1


class GymnasiumEnvState(AbstractEnvState):
    """The state of one environment of a `GymnasiumToLeraxEnv`.

    The Gymnasium environment itself lives on the host; this records what its
    last `reset` or `step` returned, and which host state it is.

    Attributes:
        observation: The observation emitted in this state (the true final
            observation at an episode's end).
        reward: The reward of the transition into this state (0 after reset).
        terminated: Whether the episode terminated in this state.
        truncated: Whether the episode was truncated in this state.
        serial: The host's count of states of this environment, so a stale or
            placeholder state is recognised; -1 for the placeholder of a
            speculative reset that the host did not perform.
    """

    observation: Any
    reward: Float[Array, ""]
    terminated: Bool[Array, ""]
    truncated: Bool[Array, ""]
    serial: Int[Array, ""]


class _GymnasiumHost:
    """The host side: a Gymnasium vector env and what lerax has seen of it."""

    def __init__(
        self,
        vector_env: Any,
        observation_space: AbstractSpace,
        action_space: AbstractSpace,
        name: str,
    ):
        self.vector_env = vector_env
        self.num_envs = int(vector_env.num_envs)
        self.name = name
        self.gym_observation_space = vector_env.single_observation_space
        self.gym_action_space = vector_env.single_action_space
        self.observation_space = observation_space
        self.action_space = action_space
        self.action_treedef = jax.tree.structure(
            jax.eval_shape(lambda: action_space.sample(key=jax.random.key(0)))
        )
        n = self.num_envs
        # The host env must be reset before it can step (new, or episode over).
        self.needs_reset = np.ones(n, bool)
        # The host env's current episode is the one lerax's state follows.
        self.visible = np.zeros(n, bool)
        self.serial = np.zeros(n, np.int32)
        self.observation: Any = None
        self.last_call: str | None = None
        self.closed = False
        self.lock = threading.Lock()

    # Shapes of one environment's results, for the callbacks.
    def observation_shapes(self) -> Any:
        example = jax.eval_shape(
            lambda: self.observation_space.sample(key=jax.random.key(0))
        )
        return example

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError(f"GymnasiumToLeraxEnv({self.name}) has been closed.")

    def _store(self, observation: Any, rows: np.ndarray) -> None:
        observation = to_lerax_value(
            self.gym_observation_space, self.observation_space, observation
        )
        if self.observation is None:
            self.observation = jax.tree.map(np.array, observation)
            return
        for stored, new in zip(
            jax.tree.leaves(self.observation), jax.tree.leaves(observation), strict=True
        ):
            stored[rows] = new[rows]

    def reset(self, seeds: np.ndarray) -> tuple[Any, np.ndarray]:
        with self.lock:
            self._check_open()
            genuine = self.needs_reset | ~self.visible | (self.last_call != "step")
            if genuine.any():
                seed = [
                    int(s) if g else None
                    for s, g in zip(np.asarray(seeds), genuine, strict=True)
                ]
                observation, _ = self.vector_env.reset(
                    seed=seed, options={"reset_mask": genuine.copy()}
                )
                self._store(observation, genuine)
                self.serial[genuine] += 1
                self.needs_reset[genuine] = False
                self.visible[genuine] = True
            self.last_call = "reset"
            serial = np.where(genuine, self.serial, _PLACEHOLDER).astype(np.int32)
            return jax.tree.map(np.copy, self.observation), serial

    def step(
        self, serial: np.ndarray, done: np.ndarray, *action_leaves: np.ndarray
    ) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        action = jax.tree.unflatten(self.action_treedef, action_leaves)
        with self.lock:
            self._check_open()
            serial = np.asarray(serial)
            live = ~np.asarray(done, bool)
            placeholder = live & (serial == _PLACEHOLDER)
            if placeholder.any():
                i = int(np.argmax(placeholder))
                raise RuntimeError(
                    f"GymnasiumToLeraxEnv({self.name}): environment {i} was stepped "
                    "from the state of a reset that was called right after a step "
                    "in the middle of its episode; a host environment can only be "
                    "restarted mid-episode by calling reset twice (or after its "
                    "episode ended)."
                )
            stale = live & (serial != self.serial)
            if stale.any():
                i = int(np.argmax(stale))
                raise RuntimeError(
                    f"GymnasiumToLeraxEnv({self.name}): environment {i} was stepped "
                    f"from an old state (state {int(serial[i])}, the host is at "
                    f"state {int(self.serial[i])}); host environments cannot be "
                    "rewound, so each state can be stepped only once."
                )
            # Finished episodes that lerax keeps stepping (evaluate_policy does)
            # are left as they ended; their host envs run hidden episodes.
            restart = self.needs_reset & ~live
            if restart.any():
                self.vector_env.reset(options={"reset_mask": restart.copy()})
            self.visible[~live] = False
            # The single space: element conversions broadcast over the batch.
            host_action = to_gymnasium_value(
                self.gym_action_space, self.action_space, action
            )
            observation, reward, terminated, truncated, _ = self.vector_env.step(
                host_action
            )
            terminated = np.asarray(terminated, bool)
            truncated = np.asarray(truncated, bool)
            self.needs_reset = terminated | truncated
            self.serial[live] += 1
            self._store(observation, np.ones(self.num_envs, bool))
            self.last_call = "step"
            return (
                jax.tree.map(np.copy, self.observation),
                np.asarray(reward, np.float32),
                terminated,
                truncated,
                self.serial.copy(),
            )

    def close(self) -> None:
        with self.lock:
            if not self.closed:
                self.vector_env.close()
                self.closed = True


def _host_call(
    host: _GymnasiumHost,
    method: str,
    host_fn: Callable[..., Any],
    result_shapes: Any,
) -> Callable[..., Any]:
    """A function of one environment's arrays that, under `jax.vmap` over the
    host's `num_envs` environments, calls `host_fn` once on the whole batch."""
    num_envs = host.num_envs

    def batched_shapes(batch: int) -> Any:
        return jax.tree.map(
            lambda s: jax.ShapeDtypeStruct((batch, *s.shape), s.dtype), result_shapes
        )

    @custom_vmap
    def guarded(*args):
        return io_callback(host_fn, batched_shapes(num_envs), *args, ordered=True)

    @guarded.def_vmap
    def _nested(axis_size, in_batched, *args):
        del axis_size, in_batched, args
        raise ValueError(
            f"GymnasiumToLeraxEnv({host.name}).{method} was called under a second "
            "jax.vmap (for example jax.vmap(algorithm.learn) over seeds, or "
            "eqx.filter_vmap over algorithm instances). Its environments live in "
            "one host process and are stepped once per rollout step, so they "
            "cannot be vmapped over anything but their own num_envs="
            f"{num_envs} environments: train the seeds one after another, or use "
            "a JAX-native environment (a lerax or gymnax env) to vmap over seeds."
        )

    def unbatched_fn(*args):
        if num_envs != 1:
            raise RuntimeError(
                f"GymnasiumToLeraxEnv({host.name}).{method} was called without "
                f"jax.vmap, but the env has num_envs={num_envs}; call it under "
                f"jax.vmap over {num_envs} environments (as lerax's algorithms "
                f"and evaluate_policy do with num_envs={num_envs} / "
                f"num_episodes={num_envs}), or make the env with num_envs=1."
            )
        return host_fn(*args)

    @custom_vmap
    def call(*args):
        args = jax.tree.map(lambda x: x[None], args)
        out = io_callback(unbatched_fn, batched_shapes(1), *args, ordered=True)
        return jax.tree.map(lambda x: x[0], out)

    @call.def_vmap
    def _batched(axis_size, in_batched, *args):
        if axis_size != num_envs:
            raise ValueError(
                f"GymnasiumToLeraxEnv({host.name}) has num_envs={num_envs} but "
                f"{method} is vmapped over {axis_size} environments; make the "
                f"algorithm's num_envs (or evaluate_policy's num_episodes) "
                f"{num_envs}, or make the env with num_envs={axis_size}."
            )
        args = [
            x if batched else jnp.broadcast_to(x, (axis_size, *jnp.shape(x)))
            for x, batched in zip(args, in_batched, strict=True)
        ]
        out = guarded(*args)
        return out, jax.tree.map(lambda _: True, out)

    return call


def _make_vector_env(
    env: Any,
    num_envs: int,
    vectorization: str,
    async_context: str | None,
    env_kwargs: dict[str, Any],
) -> tuple[Any, str]:
    from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv

    if isinstance(env, str):
        env_id = env

        def make() -> Any:
            return gymnasium.make(env_id, **env_kwargs)

        name = env_id
    elif isinstance(env, gymnasium.Env):
        if num_envs != 1:
            raise ValueError(
                f"GymnasiumToLeraxEnv: got one Gymnasium env instance "
                f"({type(env).__name__}) but num_envs={num_envs}; pass an env id "
                "or a constructor (a callable returning a new env) to make "
                "several, or set num_envs=1."
            )
        if env_kwargs:
            raise ValueError(
                "GymnasiumToLeraxEnv: keyword arguments "
                f"{', '.join(sorted(env_kwargs))} are only used with an env id or "
                "a constructor, not with an env instance."
            )
        instance = env

        def make() -> Any:
            return instance

        name = env.spec.id if env.spec is not None else type(env).__name__
    elif callable(env):
        constructor = env

        def make() -> Any:
            return constructor(**env_kwargs)

        name = getattr(env, "__name__", type(env).__name__)
    else:
        raise TypeError(
            "GymnasiumToLeraxEnv: env must be a Gymnasium env id (such as "
            "'CartPole-v1'), a callable returning a gymnasium.Env, or a "
            f"gymnasium.Env instance; got {type(env).__name__}."
        )
    if vectorization == "sync":
        vector_env = SyncVectorEnv(
            [make] * num_envs, autoreset_mode=AutoresetMode.DISABLED
        )
    elif vectorization == "async":
        vector_env = AsyncVectorEnv(
            [make] * num_envs,
            autoreset_mode=AutoresetMode.DISABLED,
            context=async_context,
        )
    else:
        raise ValueError(
            "GymnasiumToLeraxEnv: vectorization must be 'sync' or 'async', got "
            f"{vectorization!r}."
        )
    return vector_env, name


class GymnasiumToLeraxEnv(AbstractEnv[GymnasiumEnvState, Any, Any, None]):
    """Gymnasium environments as a lerax environment, for lerax's algorithms.

    The adapter holds `num_envs` Gymnasium environments in a Gymnasium vector
    environment (`SyncVectorEnv` by default, `AsyncVectorEnv` with
    `vectorization="async"`) and steps them all from inside the compiled
    rollout: under `jax.vmap` over `num_envs` environments (what `PPO`/`A2C`
    do with `num_envs=...` and `evaluate_policy` with `num_episodes=...`),
    every `step` and every `reset` is one host callback for all environments.
    Set the algorithm's `num_envs` to the adapter's `num_envs`.

    Semantics match a pure lerax env: `step` never resets, termination and
    truncation are distinct, and at an episode's end `step` returns the true
    final observation (Gymnasium's autoreset is disabled). Each episode that
    lerax starts with `reset` is seeded from the lerax key, so a run is
    deterministic given its key. Stepping an episode that already ended returns
    it unchanged.

    What cannot work raises: `jax.vmap` over anything but the environments
    (for example `jax.vmap(ppo.learn)` over seeds) raises a `ValueError` at
    trace time, a batch of a size other than `num_envs` too; stepping a stale
    state (host environments cannot be rewound) raises at run time.

    Example:
        ```python
        env = GymnasiumToLeraxEnv("CartPole-v1", num_envs=4)
        policy = MLPActorCriticPolicy(env=env, key=key)
        policy = PPO(num_envs=4).learn(env, policy, 2**17, key=key)
        env.close()
        ```

    Attributes:
        name: The Gymnasium env id (or the constructor's name).
        num_envs: The number of host environments.
        action_space: The converted action space (of one environment).
        observation_space: The converted observation space (of one environment).
    """

    host: _GymnasiumHost = eqx.field(static=True)
    name: str = eqx.field(static=True)
    num_envs: int = eqx.field(static=True)
    action_space: AbstractSpace
    observation_space: AbstractSpace
    _reset_call: Callable[..., Any] = eqx.field(static=True)
    _step_call: Callable[..., Any] = eqx.field(static=True)

    def __init__(
        self,
        env: str | Callable[..., Any] | Any,
        num_envs: int = 4,
        *,
        vectorization: Literal["sync", "async"] = "sync",
        async_context: str | None = None,
        **env_kwargs: Any,
    ):
        """Make `num_envs` Gymnasium environments and adapt them.

        Args:
            env: A registered Gymnasium env id such as `"CartPole-v1"` (made with
                `gymnasium.make(env, **env_kwargs)`, so its registered wrappers
                such as `TimeLimit` apply), a callable returning a new
                `gymnasium.Env` (called with `**env_kwargs`), or one
                `gymnasium.Env` instance (only with `num_envs=1`).
            num_envs: The number of environments; the algorithm's `num_envs`
                must be the same.
            vectorization: `"sync"` steps the environments one after another in
                this process (`SyncVectorEnv`); `"async"` steps them in worker
                processes (`AsyncVectorEnv`), worth it for slow environments.
            async_context: The multiprocessing start method of the async
                workers (`"spawn"`, `"forkserver"` or `"fork"`; by default the
                platform's). `"spawn"` avoids forking the multithreaded JAX
                process.
            **env_kwargs: Keyword arguments for the env's constructor.

        Raises:
            ValueError: If `num_envs` is not a positive int, `vectorization` is
                unknown, or an env instance is given with `num_envs > 1`.
            TypeError: If `env` is not an id, a callable or a Gymnasium env.
            NotImplementedError: If a space has no lerax equivalent.
        """
        if (
            isinstance(num_envs, bool)
            or not isinstance(num_envs, int | np.integer)
            or num_envs < 1
        ):
            raise ValueError(
                f"GymnasiumToLeraxEnv: num_envs must be a positive int, got "
                f"{num_envs!r}."
            )
        vector_env, name = _make_vector_env(
            env, int(num_envs), vectorization, async_context, env_kwargs
        )
        try:
            observation_space = from_gymnasium_space(
                vector_env.single_observation_space, role="observation"
            )
            action_space = from_gymnasium_space(
                vector_env.single_action_space, role="action"
            )
        except NotImplementedError:
            vector_env.close()
            raise
        host = _GymnasiumHost(vector_env, observation_space, action_space, name)
        observation_shapes = host.observation_shapes()
        scalar = jax.ShapeDtypeStruct((), jnp.float32)
        flag = jax.ShapeDtypeStruct((), jnp.bool_)
        serial = jax.ShapeDtypeStruct((), jnp.int32)
        self.host = host
        self.name = name
        self.num_envs = int(num_envs)
        self.action_space = action_space
        self.observation_space = observation_space
        self._reset_call = _host_call(
            host, "reset", host.reset, (observation_shapes, serial)
        )
        self._step_call = _host_call(
            host, "step", host.step, (observation_shapes, scalar, flag, flag, serial)
        )

    def close(self) -> None:
        """Close the host environments (and their worker processes, if async)."""
        self.host.close()

    def initial(self, *, key: Key[Array, ""]) -> GymnasiumEnvState:
        seed = jax.random.bits(key, (), jnp.uint32)
        observation, serial = self._reset_call(seed)
        return GymnasiumEnvState(
            observation=observation,
            reward=jnp.zeros((), jnp.float32),
            terminated=jnp.zeros((), bool),
            truncated=jnp.zeros((), bool),
            serial=serial,
        )

    def transition(
        self, state: GymnasiumEnvState, action: Any, *, key: Key[Array, ""]
    ) -> GymnasiumEnvState:
        del key  # Gymnasium envs draw from their own seeded generators.
        done = state.terminated | state.truncated
        example = jax.eval_shape(
            lambda: self.action_space.sample(key=jax.random.key(0))
        )
        action = jax.tree.map(lambda a, s: jnp.asarray(a, s.dtype), action, example)
        observation, reward, terminated, truncated, serial = self._step_call(
            state.serial, done, *jax.tree.leaves(action)
        )
        moved = GymnasiumEnvState(
            observation=observation,
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            serial=serial,
        )
        # A finished episode stays as it ended.
        return jax.tree.map(lambda old, new: jnp.where(done, old, new), state, moved)

    def observation(self, state: GymnasiumEnvState, *, key: Key[Array, ""]) -> Any:
        del key
        return state.observation

    def reward(
        self,
        state: GymnasiumEnvState,
        action: Any,
        next_state: GymnasiumEnvState,
        *,
        key: Key[Array, ""],
    ) -> Float[Array, ""]:
        del state, action, key
        return next_state.reward

    def terminal(
        self, state: GymnasiumEnvState, *, key: Key[Array, ""]
    ) -> Bool[Array, ""]:
        del key
        return state.terminated

    def truncate(self, state: GymnasiumEnvState) -> Bool[Array, ""]:
        return state.truncated


__all__ = ["GymnasiumEnvState", "GymnasiumToLeraxEnv", "gym_spaces"]
