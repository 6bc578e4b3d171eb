"""Probe environments with known answers, for checking an RL algorithm.

The classic debugging set: five tiny environments, each isolating one part of
an actor-critic algorithm, whose exact values and optimal actions are known by
hand. A learning curve can look fine with a sign flipped or a bootstrap wrong;
these cannot.

| kind | observation          | reward                          | checks           |
|------|----------------------|---------------------------------|------------------|
| 0    | `[0]`, one step      | `+1`                            | value fitting    |
| 1    | `[s]`, `s = +-1`     | `s`, one step                   | obs -> value     |
| 2    | `[0]` then `[1]`     | `0` then `+1`, two steps        | discounting      |
| 3    | `[0]`, one step      | `+1` for action 1, else `-1`    | policy gradient  |
| 4    | `[s]`, `s = +-1`     | `+1` if action 1 == (s > 0)     | obs -> action    |

The kind is an array leaf rather than a static field, so one compiled program
trains all five side by side under `jax.vmap` (`probe_envs()` stacks them).
Every episode terminates (never truncates), so the value of the final state is
zero and nothing may be bootstrapped past it.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, Key

from lerax.env import AbstractEnv, AbstractEnvState
from lerax.space import Box, Discrete

CONSTANT, OBS_DEPENDENT, TWO_STEP, ACTION_DEPENDENT, ACTION_AND_OBS = range(5)
KINDS = ("constant", "obs-dependent", "two-step", "action", "action-and-obs")


class ProbeState(AbstractEnvState):
    """Steps taken and the episode's sign (`+-1`; used by kinds 1 and 4)."""

    time: Int[Array, ""]
    sign: Float[Array, ""]


class ProbeEnv(AbstractEnv[ProbeState, Int[Array, ""], Float[Array, "1"], None]):
    """One of the five probe environments (see the module docstring).

    Attributes:
        kind: Which probe, an int array in `0..4` (a leaf, so it can be vmapped).
    """

    kind: Int[Array, ""]
    name: str = eqx.field(static=True, default="Probe")

    def __init__(self, kind):
        self.kind = jnp.asarray(kind, jnp.int32)

    @property
    def action_space(self) -> Discrete:
        return Discrete(2)

    @property
    def observation_space(self) -> Box:
        # The two-step probe ends in time 2, so its last observation is [2].
        return Box(-1.0, 2.0, shape=(1,))

    def initial(self, *, key: Key[Array, ""]) -> ProbeState:
        sign = jnp.where(jax.random.bernoulli(key), 1.0, -1.0)
        return ProbeState(time=jnp.zeros((), jnp.int32), sign=sign)

    def transition(self, state, action, *, key) -> ProbeState:
        return ProbeState(time=state.time + 1, sign=state.sign)

    def observation(self, state, *, key) -> Float[Array, "1"]:
        signed = (self.kind == OBS_DEPENDENT) | (self.kind == ACTION_AND_OBS)
        value = jnp.where(
            signed, state.sign, jnp.where(self.kind == TWO_STEP, state.time, 0.0)
        )
        return jnp.reshape(value, (1,)).astype(jnp.float32)

    def reward(self, state, action, next_state, *, key) -> Float[Array, ""]:
        right = jnp.where(self.kind == ACTION_DEPENDENT, action == 1, True)
        right = jnp.where(
            self.kind == ACTION_AND_OBS, (action == 1) == (state.sign > 0), right
        )
        by_kind = jnp.stack(
            [
                jnp.asarray(1.0),
                state.sign,
                (next_state.time == 2).astype(jnp.float32),
                jnp.where(right, 1.0, -1.0),
                jnp.where(right, 1.0, -1.0),
            ]
        )
        return by_kind[self.kind]

    def terminal(self, state, *, key) -> Bool[Array, ""]:
        length = jnp.where(self.kind == TWO_STEP, 2, 1)
        return state.time >= length

    def truncate(self, state) -> Bool[Array, ""]:
        return jnp.asarray(False)


def probe_envs() -> ProbeEnv:
    """All five probes stacked on a leading axis, for `jax.vmap`.

    Returns:
        A `ProbeEnv` whose `kind` is `[0, 1, 2, 3, 4]`.
    """
    return ProbeEnv(jnp.arange(5))
