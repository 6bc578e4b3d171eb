"""Shared toy environments for the test suite.

The environments are small, with a known termination rule and a known time
limit, so tests can compare against hand computation (`ChainEnv` and `PointEnv`
are deterministic; `PixelEnv` draws its image at reset):

- `ChainEnv`: Discrete(2) actions on a chain `0..length`.
- `PointEnv`: Box actions moving a point on the line towards a goal.
- `PixelEnv`: a one-step image task (which half holds the lit pixel).
- `AbstractClockEnv`: a base for envs whose state is the time since reset.
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, Key

from lerax.env import AbstractEnv, AbstractEnvState
from lerax.policy import AbstractPolicy, AbstractPolicyState
from lerax.space import Box, Discrete


class ChainState(AbstractEnvState):
    """The state of `ChainEnv`.

    Attributes:
        position: The agent's cell, in `0..length`.
        time: The number of steps taken.
    """

    position: Int[Array, ""]
    time: Int[Array, ""]


class ChainEnv(AbstractEnv[ChainState, Int[Array, ""], Float[Array, "2"], Bool]):
    """A chain of cells `0..length`; the agent starts at 0 and walks to `length`.

    - Actions: `Discrete(2)`; 0 moves left, 1 moves right (position clipped to
      `[0, length]`).
    - Observation: `[position, time]` as float32, in
      `Box([0, 0], [length, max_steps])`.
    - Reward: `next_position - position` (+1 right, -1 left, 0 against a wall), so
      an episode's return is the final position.
    - Terminal: `position == length` (always-right terminates after `length`
      steps with return `length`).
    - Truncate: `time >= max_steps`.
    - Action mask (only when `use_action_mask`): moving left is forbidden at 0.

    Attributes:
        length: The goal cell.
        max_steps: The time limit.
        use_action_mask: Whether `action_mask` returns a mask.
    """

    length: int = eqx.field(static=True, default=3)
    max_steps: int = eqx.field(static=True, default=5)
    use_action_mask: bool = eqx.field(static=True, default=False)
    name: str = eqx.field(static=True, default="Chain")

    @property
    def action_space(self) -> Discrete:
        return Discrete(2)

    @property
    def observation_space(self) -> Box:
        return Box([0.0, 0.0], [float(self.length), float(self.max_steps)])

    def initial(self, *, key: Key[Array, ""]) -> ChainState:
        del key
        return ChainState(
            position=jnp.zeros((), jnp.int32), time=jnp.zeros((), jnp.int32)
        )

    def transition(
        self, state: ChainState, action: Int[Array, ""], *, key: Key[Array, ""]
    ) -> ChainState:
        del key
        move = 2 * jnp.asarray(action, jnp.int32) - 1
        position = jnp.clip(state.position + move, 0, self.length)
        return ChainState(position=position, time=state.time + 1)

    def observation(self, state: ChainState, *, key: Key[Array, ""]) -> Array:
        del key
        return jnp.stack([state.position, state.time]).astype(jnp.float32)

    def reward(
        self,
        state: ChainState,
        action: Int[Array, ""],
        next_state: ChainState,
        *,
        key: Key[Array, ""],
    ) -> Float[Array, ""]:
        del action, key
        return (next_state.position - state.position).astype(jnp.float32)

    def terminal(self, state: ChainState, *, key: Key[Array, ""]) -> Bool[Array, ""]:
        del key
        return state.position == self.length

    def truncate(self, state: ChainState) -> Bool[Array, ""]:
        return state.time >= self.max_steps

    def action_mask(
        self, state: ChainState, *, key: Key[Array, ""]
    ) -> Bool[Array, "2"] | None:
        del key
        if not self.use_action_mask:
            return None
        return jnp.stack([state.position > 0, jnp.asarray(True)])


class PointState(AbstractEnvState):
    """The state of `PointEnv`.

    Attributes:
        position: The point's position on the line.
        time: The number of steps taken.
    """

    position: Float[Array, ""]
    time: Int[Array, ""]


class PointEnv(AbstractEnv[PointState, Float[Array, "1"], Float[Array, "2"], None]):
    """A point on the line starting at 0; actions move it; the goal is at `goal`.

    - Actions: `Box(action_low, action_high, shape=(1,))`; the point moves by
      `action[0]` (the env itself does not clip: wrap it in `ClipAction`).
    - Observation: `[position, time]` as float32, in an unbounded `Box((2,))`.
    - Reward: `-abs(goal - next_position)`.
    - Terminal: `position >= goal`.
    - Truncate: `time >= max_steps`.

    Attributes:
        goal: The goal position.
        max_steps: The time limit.
        action_low: The lower action bound.
        action_high: The upper action bound.
    """

    goal: float = eqx.field(static=True, default=1.0)
    max_steps: int = eqx.field(static=True, default=10)
    action_low: float = eqx.field(static=True, default=-1.0)
    action_high: float = eqx.field(static=True, default=1.0)
    name: str = eqx.field(static=True, default="Point")

    @property
    def action_space(self) -> Box:
        return Box(self.action_low, self.action_high, shape=(1,))

    @property
    def observation_space(self) -> Box:
        return Box(-jnp.inf, jnp.inf, shape=(2,))

    def initial(self, *, key: Key[Array, ""]) -> PointState:
        del key
        return PointState(
            position=jnp.zeros((), jnp.float32), time=jnp.zeros((), jnp.int32)
        )

    def transition(
        self, state: PointState, action: Float[Array, "1"], *, key: Key[Array, ""]
    ) -> PointState:
        del key
        position = state.position + jnp.asarray(action, jnp.float32)[0]
        return PointState(position=position, time=state.time + 1)

    def observation(self, state: PointState, *, key: Key[Array, ""]) -> Array:
        del key
        return jnp.stack([state.position, state.time.astype(jnp.float32)])

    def reward(
        self,
        state: PointState,
        action: Float[Array, "1"],
        next_state: PointState,
        *,
        key: Key[Array, ""],
    ) -> Float[Array, ""]:
        del state, action, key
        return -jnp.abs(self.goal - next_state.position)

    def terminal(self, state: PointState, *, key: Key[Array, ""]) -> Bool[Array, ""]:
        del key
        return state.position >= self.goal

    def truncate(self, state: PointState) -> Bool[Array, ""]:
        return state.time >= self.max_steps


class PixelState(AbstractEnvState):
    """The state of `PixelEnv`.

    Attributes:
        row: The lit pixel's row.
        column: The lit pixel's column.
        time: The number of steps taken (0 or 1).
    """

    row: Int[Array, ""]
    column: Int[Array, ""]
    time: Int[Array, ""]


class PixelEnv(AbstractEnv[PixelState, Int[Array, ""], Float[Array, "4 4 2"], None]):
    """A one-step image task: say which half of the image the lit pixel is in.

    - Observation: a `(4, 4, 2)` image (height, width, channels) in
      `Box(0, 1)`: channel 0 is one at a uniformly random pixel and zero
      elsewhere; channel 1 is all ones.
    - Actions: `Discrete(2)`; the right answer is 0 for columns 0-1, 1 for
      columns 2-3.
    - Reward: 1 for the right answer, 0 otherwise (chance 0.5).
    - Terminal: after the one step.
    """

    name: str = eqx.field(static=True, default="Pixel")

    @property
    def action_space(self) -> Discrete:
        return Discrete(2)

    @property
    def observation_space(self) -> Box:
        return Box(0.0, 1.0, shape=(4, 4, 2))

    def initial(self, *, key: Key[Array, ""]) -> PixelState:
        cell = jax.random.randint(key, (), 0, 16)
        return PixelState(row=cell // 4, column=cell % 4, time=jnp.zeros((), jnp.int32))

    def transition(
        self, state: PixelState, action: Int[Array, ""], *, key: Key[Array, ""]
    ) -> PixelState:
        del action, key
        return PixelState(row=state.row, column=state.column, time=state.time + 1)

    def observation(self, state: PixelState, *, key: Key[Array, ""]) -> Array:
        del key
        lit = jnp.zeros((4, 4), jnp.float32).at[state.row, state.column].set(1.0)
        return jnp.stack([lit, jnp.ones((4, 4), jnp.float32)], axis=-1)

    def reward(
        self,
        state: PixelState,
        action: Int[Array, ""],
        next_state: PixelState,
        *,
        key: Key[Array, ""],
    ) -> Float[Array, ""]:
        del next_state, key
        return (action == (state.column >= 2)).astype(jnp.float32)

    def terminal(self, state: PixelState, *, key: Key[Array, ""]) -> Bool[Array, ""]:
        del key
        return state.time >= 1

    def truncate(self, state: PixelState) -> Bool[Array, ""]:
        return jnp.asarray(False)


class ClockState(AbstractEnvState):
    """The state of an `AbstractClockEnv`.

    Attributes:
        time: The number of steps since reset.
    """

    time: Int[Array, ""]


class AbstractClockEnv(
    AbstractEnv[ClockState, Int[Array, ""], Float[Array, "2"], None]
):
    """An env whose only state is the time since reset (known-answer runs).

    `Discrete(2)` actions, observations in an unbounded `Box((2,))`, never
    terminal; a subclass says what the observation, reward and time limit are.
    Everything is a function of the time since reset (and the action), so a
    test can recompute a whole run in NumPy.
    """

    @property
    def action_space(self) -> Discrete:
        return Discrete(2)

    @property
    def observation_space(self) -> Box:
        return Box(-jnp.inf, jnp.inf, shape=(2,))

    def initial(self, *, key: Key[Array, ""]) -> ClockState:
        del key
        return ClockState(time=jnp.zeros((), jnp.int32))

    def transition(
        self, state: ClockState, action: Int[Array, ""], *, key: Key[Array, ""]
    ) -> ClockState:
        del action, key
        return ClockState(time=state.time + 1)

    def terminal(self, state: ClockState, *, key: Key[Array, ""]) -> Bool[Array, ""]:
        del state, key
        return jnp.asarray(False)


class CountState(AbstractPolicyState):
    count: Int[Array, ""]


class CountingPolicy(AbstractPolicy):
    """Acts 1 once `count + observation[0] > 2`; counts its calls."""

    name: ClassVar[str] = "Counting"
    action_space: Discrete = Discrete(2)
    observation_space: Box = Box(0.0, 10.0, shape=(1,))

    def __call__(self, state, observation, *, key=None, action_mask=None):
        action = (state.count + observation[0] > 2).astype(jnp.int32)
        return CountState(count=state.count + 1), action

    def reset(self, *, key):
        return CountState(count=jnp.zeros((), jnp.int32))
