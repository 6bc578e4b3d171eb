"""Domain randomisation on every episode reset: per-environment parameters.

`RandomizeOnReset` wraps an environment; each `initial` (the start of an
episode, which the rollout's auto-reset calls with a fresh key for every
environment that finished) draws the parameter from its range with part of that
key and keeps it in the wrapper's state for the whole episode. So every
environment of a batch, and every episode, has its own draw, inside the
compiled run. It is the per-iteration `DomainRandomization` curriculum's
mechanism (an array leaf of the env set with a key) moved to the reset.
"""

# No `from __future__ import annotations`: the concrete Modules below declare
# fields and the wrapper base declares an `eqx.AbstractVar`.

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Key, PyTree

from lerax.env import (
    AbstractEnvLike,
    AbstractEnvLikeState,
    AbstractWrapper,
    require_env,
)
from lerax.space import AbstractSpace


class RandomizeOnResetState(AbstractEnvLikeState):
    """The state of a `RandomizeOnReset` wrapper.

    Attributes:
        env_state: The state of the wrapped environment.
        parameter: The value drawn at this episode's reset.
    """

    env_state: PyTree
    parameter: Float[Array, "..."]


class RandomizeOnReset(AbstractWrapper):
    """Draw an env parameter uniformly from `[low, high)` at every episode reset.

    `initial(key)` splits the key: the first half draws the parameter
    (`jax.random.uniform(k, shape, dtype, low, high)`, shape and dtype those of
    `where(env)`), the second starts the inner episode with the parameter set.
    Every other method runs the inner environment with the episode's value,
    which the state carries.

    Attributes:
        env: The wrapped environment.
        where: `env -> parameter`, selecting an array leaf of `env` (as for
            `eqx.tree_at`), e.g. `lambda env: env.params.gravity` for a gymnax
            env.
        low: The lower bound.
        high: The upper bound.
    """

    env: AbstractEnvLike
    where: Callable[[Any], Any] = eqx.field(static=True)
    low: Float[Array, ""]
    high: Float[Array, ""]

    def __init__(
        self,
        env: AbstractEnvLike,
        where: Callable[[Any], Any],
        low: float,
        high: float,
    ):
        """Wrap `env`.

        Args:
            env: The environment (or wrapper) whose parameter is drawn.
            where: `env -> parameter`, selecting an array leaf of `env`.
            low: The lower bound.
            high: The upper bound (> low).

        Raises:
            TypeError: If `env` is not environment-like or `where` not callable.
            ValueError: If `low >= high` or `where(env)` is not an array leaf.
        """
        require_env("RandomizeOnReset", env)
        if not callable(where):
            raise TypeError(
                "RandomizeOnReset: where must be a function env -> parameter (as "
                f"for eqx.tree_at), got {type(where).__name__}."
            )
        if not eqx.is_array(where(env)):
            raise ValueError(
                "RandomizeOnReset: where(env) must select an array leaf of the env "
                "(a gymnax env's params are arrays, e.g. lambda env: "
                f"env.params.gravity), got {type(where(env)).__name__}."
            )
        if not float(low) < float(high):
            raise ValueError(
                f"RandomizeOnReset: low must be < high, got ({low}, {high})."
            )
        self.env = env
        self.where = where
        self.low = jnp.asarray(low, jnp.float32)
        self.high = jnp.asarray(high, jnp.float32)

    def draw(self, key: Key[Array, ""]) -> Float[Array, "..."]:
        """The parameter an episode started with `key` gets.

        Args:
            key: The key given to `initial`.

        Returns:
            The drawn value (the shape and dtype of `where(env)`).
        """
        like = self.where(self.env)
        draw_key, _ = jax.random.split(key)
        dtype = like.dtype if jnp.issubdtype(like.dtype, jnp.floating) else jnp.float32
        value = jax.random.uniform(draw_key, like.shape, dtype, self.low, self.high)
        return value.astype(like.dtype)

    def _with(self, parameter: Array) -> AbstractEnvLike:
        return eqx.tree_at(self.where, self.env, parameter)

    @property
    def name(self) -> str:
        """The inner environment's name."""
        return self.env.name

    @property
    def action_space(self) -> AbstractSpace:
        """The inner environment's action space."""
        return self.env.action_space

    @property
    def observation_space(self) -> AbstractSpace:
        """The inner environment's observation space."""
        return self.env.observation_space

    def initial(self, *, key: Key[Array, ""]) -> RandomizeOnResetState:
        parameter = self.draw(key)
        _, init_key = jax.random.split(key)
        return RandomizeOnResetState(
            env_state=self._with(parameter).initial(key=init_key),
            parameter=parameter,
        )

    def transition(
        self, state: RandomizeOnResetState, action: Any, *, key: Key[Array, ""]
    ) -> RandomizeOnResetState:
        env = self._with(state.parameter)
        return RandomizeOnResetState(
            env_state=env.transition(state.env_state, action, key=key),
            parameter=state.parameter,
        )

    def observation(self, state: RandomizeOnResetState, *, key: Key[Array, ""]) -> Any:
        return self._with(state.parameter).observation(state.env_state, key=key)

    def reward(
        self,
        state: RandomizeOnResetState,
        action: Any,
        next_state: RandomizeOnResetState,
        *,
        key: Key[Array, ""],
    ) -> Float[Array, ""]:
        return self._with(state.parameter).reward(
            state.env_state, action, next_state.env_state, key=key
        )

    def terminal(
        self, state: RandomizeOnResetState, *, key: Key[Array, ""]
    ) -> Bool[Array, ""]:
        return self._with(state.parameter).terminal(state.env_state, key=key)

    def truncate(self, state: RandomizeOnResetState) -> Bool[Array, ""]:
        return self._with(state.parameter).truncate(state.env_state)

    def action_mask(self, state: RandomizeOnResetState, *, key: Key[Array, ""]) -> Any:
        return self._with(state.parameter).action_mask(state.env_state, key=key)
