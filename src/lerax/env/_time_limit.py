"""`TimeLimit`: truncate episodes after a fixed number of steps."""

from __future__ import annotations

import operator
from typing import Any, Generic

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, Key

from lerax._checks import plain
from lerax.space import AbstractSpace

from ._base import AbstractEnvLike, AbstractEnvLikeState, StateType
from ._guard import require_env
from ._wrapper import AbstractWrapper


class TimeLimitState(AbstractEnvLikeState, Generic[StateType]):
    """The state of a `TimeLimit` wrapper.

    Attributes:
        env_state: The state of the wrapped environment.
        step_count: The number of steps taken since `initial`.
    """

    env_state: StateType
    step_count: Int[Array, ""]


class TimeLimit(AbstractWrapper[TimeLimitState, Any, Any, Any]):
    """Truncate an episode once it has run for `max_episode_steps` steps.

    The episode is truncated when the inner environment truncates it or when the
    step count reaches `max_episode_steps`, whichever comes first. Termination is
    passed through untouched: reaching the limit is truncation, never termination.

    Attributes:
        env: The wrapped environment.
        max_episode_steps: The step at which an episode is truncated.
    """

    env: AbstractEnvLike
    max_episode_steps: int = eqx.field(static=True)

    def __init__(self, env: AbstractEnvLike, max_episode_steps: int):
        """Wrap `env`.

        Args:
            env: The environment (or wrapper) to limit.
            max_episode_steps: The number of steps after which an episode is
                truncated; a positive integer.

        Raises:
            TypeError: If `env` is not environment-like.
            ValueError: If `max_episode_steps` is
                not a positive integer.
        """
        require_env("TimeLimit", env)
        try:
            if isinstance(max_episode_steps, bool):
                raise TypeError
            steps = operator.index(max_episode_steps)
        except TypeError:
            raise ValueError(
                "TimeLimit: max_episode_steps must be a positive integer, got "
                f"max_episode_steps={plain(max_episode_steps)}."
            ) from None
        if steps < 1:
            raise ValueError(
                "TimeLimit: max_episode_steps must be a positive integer, got "
                f"max_episode_steps={plain(max_episode_steps)}."
            )
        self.env = env
        self.max_episode_steps = steps

    @property
    def name(self) -> str:
        return self.env.name

    @property
    def action_space(self) -> AbstractSpace:
        return self.env.action_space

    @property
    def observation_space(self) -> AbstractSpace:
        return self.env.observation_space

    def initial(self, *, key: Key[Array, ""]) -> TimeLimitState:
        return TimeLimitState(
            env_state=self.env.initial(key=key),
            step_count=jnp.zeros((), dtype=jnp.int32),
        )

    def transition(
        self, state: TimeLimitState, action: Any, *, key: Key[Array, ""]
    ) -> TimeLimitState:
        return TimeLimitState(
            env_state=self.env.transition(state.env_state, action, key=key),
            step_count=state.step_count + 1,
        )

    def observation(self, state: TimeLimitState, *, key: Key[Array, ""]) -> Any:
        return self.env.observation(state.env_state, key=key)

    def reward(
        self,
        state: TimeLimitState,
        action: Any,
        next_state: TimeLimitState,
        *,
        key: Key[Array, ""],
    ) -> Float[Array, ""]:
        return self.env.reward(state.env_state, action, next_state.env_state, key=key)

    def terminal(
        self, state: TimeLimitState, *, key: Key[Array, ""]
    ) -> Bool[Array, ""]:
        return self.env.terminal(state.env_state, key=key)

    def truncate(self, state: TimeLimitState) -> Bool[Array, ""]:
        return jnp.logical_or(
            self.env.truncate(state.env_state),
            state.step_count >= self.max_episode_steps,
        )

    def action_mask(self, state: TimeLimitState, *, key: Key[Array, ""]) -> Any:
        return self.env.action_mask(state.env_state, key=key)

    def critic_observation(self, state: TimeLimitState, *, key: Key[Array, ""]) -> Any:
        return self.env.critic_observation(state.env_state, key=key)
