"""Jumanji environments as lerax environments: `JumanjiToLeraxEnv`.

Jumanji's `step` never resets, and every step returns a `TimeStep` whose
`step_type` is `LAST` at an episode's end. The end is a termination when the
discount is 0 (the value of the last state is zero) and a truncation when the
discount is positive (the episode was cut short, so the algorithm bootstraps
from the last state): the adapter reads both from the `TimeStep` instead of
folding them into one `done`. The observation of the last state is kept in the
adapter's state, so the bootstrap sees it before the algorithm resets.

Jumanji is imported lazily: `pip install 'lerax[jumanji]'`.
"""

from __future__ import annotations

import difflib
import math
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Key

from lerax._optional import import_extra
from lerax.env import AbstractEnv, AbstractEnvState
from lerax.space import AbstractSpace, Box, Dict, Discrete, MultiDiscrete

MaskLayout = Literal["auto", "joint", "per_entry"]


def _jumanji() -> Any:
    return import_extra("jumanji", "jumanji", owner="JumanjiToLeraxEnv")


def convert_jumanji_spec(spec: Any) -> AbstractSpace:
    """Convert a Jumanji observation spec into the equivalent lerax space.

    Array specs become float32 `Box`es of their shape: a `BoundedArray` (and
    so a `DiscreteArray` or a boolean array) keeps its bounds, broadcast to the
    shape; an unbounded `Array` gets `-inf, inf`. A `DiscreteArray` leaf of
    `n` values gets `0 .. n` (not `n - 1`): Jumanji's step counters are declared
    with `time_limit` values yet reach `time_limit`. Nested specs (Jumanji's
    observation named tuples) become `Dict`s keyed by field name. Integer and
    boolean leaves are observed as float32 (lerax's `Box` is floating).

    Args:
        spec: A `jumanji.specs.Spec`.

    Returns:
        The lerax space.

    Raises:
        ImportError: If Jumanji is not installed.
        NotImplementedError: If a leaf spec has no lerax equivalent.
    """
    specs = _jumanji().specs
    if isinstance(spec, specs.BoundedArray):
        shape = tuple(int(s) for s in spec.shape)
        low = np.broadcast_to(np.asarray(spec.minimum, np.float64), shape)
        high = np.broadcast_to(np.asarray(spec.maximum, np.float64), shape)
        if isinstance(spec, specs.DiscreteArray):
            # Jumanji declares step counters as DiscreteArray(time_limit)
            # (0 .. time_limit - 1) but emits time_limit on the last step
            # (Snake's `step_count`): one more value keeps them inside.
            high = high + 1.0
        return Box(low, high, shape=shape)
    if isinstance(spec, specs.Array):
        return Box(-np.inf, np.inf, shape=tuple(int(s) for s in spec.shape))
    children = {k: v for k, v in vars(spec).items() if isinstance(v, specs.Spec)}
    if not children:
        raise NotImplementedError(
            f"Jumanji spec {spec!r} (of type {type(spec).__name__}) has no lerax "
            "equivalent: it is neither an array spec nor a nested spec."
        )
    return Dict({k: convert_jumanji_spec(v) for k, v in children.items()})


def _observation_to_lerax(space: AbstractSpace, observation: Any) -> Any:
    """A Jumanji observation as an element of `space` (nested dicts, float32)."""
    if isinstance(space, Dict):
        return {
            k: _observation_to_lerax(s, getattr(observation, k))
            for k, s in space.spaces.items()
        }
    return jnp.asarray(observation, dtype=space.dtype)


class JumanjiEnvState(AbstractEnvState):
    """The state of a `JumanjiToLeraxEnv`.

    Jumanji computes the observation, reward and end of episode together in
    `step`; they are kept here so that one lerax `step` makes one Jumanji
    `step` and the other methods only read the state.

    Attributes:
        jumanji_state: Jumanji's environment state (it carries Jumanji's own key).
        observation: The converted observation of this state.
        action_mask: The raw `action_mask` of the Jumanji observation, or `None`.
        reward: The reward of the transition into this state (0 after reset).
        terminated: `LAST` with discount 0 (False after reset).
        truncated: `LAST` with a positive discount (False after reset).
    """

    jumanji_state: Any
    observation: Any
    action_mask: Bool[Array, "..."] | None
    reward: Float[Array, ""]
    terminated: Bool[Array, ""]
    truncated: Bool[Array, ""]


class JumanjiToLeraxEnv(AbstractEnv[JumanjiEnvState, Any, Any, Any]):
    """A Jumanji environment as a lerax environment: pure, jittable, vmappable.

    What maps to what:

    * `TimeStep.step_type == LAST` with `discount == 0` is `terminated`; with
      `discount > 0` it is `truncated` (the algorithm bootstraps from the last
      observation, which the adapter keeps).
    * Observation specs become float32 `Box`es, nested specs `Dict`s keyed by
      field name (`action_mask` included, as 0/1 floats).
    * `DiscreteArray` actions are `Discrete(num_values)`; `BoundedArray` float
      actions are a `Box`; `MultiDiscreteArray(nvec)` actions are
      `MultiDiscrete(nvec)` when the mask is per entry (shape
      `(len(nvec), max(nvec))`: lerax's mask is the concatenation of each
      entry's own choices) and a flat `Discrete(prod(nvec))` when the mask is
      joint (shape `nvec`, as BinPack's (ems, item) mask): a joint mask is not
      a product of per-entry masks, so only a flat action can honour it
      exactly. The flat index is unravelled in C order before Jumanji sees it.
    * The observation's `action_mask` is the lerax `action_mask`.
    * `reset`'s lerax key seeds Jumanji's `reset` (as raw key data); Jumanji
      carries its own key in its state for its random transitions, so `step`'s
      key is unused and a trajectory is fixed by the reset key and the actions.

    Example:
        ```python
        env = JumanjiToLeraxEnv.from_name("Snake-v1")
        state, obs, info = env.reset(key=key)
        mask = env.action_mask(state, key=key)
        ```

    Attributes:
        jumanji_env: The wrapped Jumanji environment (static).
        name: The environment's name.
        action_space: The converted action space.
        observation_space: The converted observation space.
        mask_layout: `"joint"`, `"per_entry"` or `None` (no mask, or a
            `Discrete` action whose mask is used as it is).
        jumanji_nvec: The Jumanji `MultiDiscreteArray`'s `num_values` when
            actions were flattened (`mask_layout == "joint"`), else `None`.
    """

    jumanji_env: Any = eqx.field(static=True)
    name: str = eqx.field(static=True)
    action_space: AbstractSpace
    observation_space: AbstractSpace
    mask_layout: str | None = eqx.field(static=True)
    jumanji_nvec: tuple[int, ...] | None = eqx.field(static=True)

    def __init__(
        self,
        jumanji_env: Any,
        *,
        name: str | None = None,
        mask_layout: MaskLayout = "auto",
    ):
        """Adapt `jumanji_env`.

        Args:
            jumanji_env: A `jumanji.Environment` (not wrapped by Jumanji's
                `AutoResetWrapper`, which would reset it).
            name: A name for messages; by default the environment's class name.
            mask_layout: How a `MultiDiscreteArray`'s `action_mask` is laid out:
                `"joint"` (shape `nvec`), `"per_entry"` (shape
                `(len(nvec), max(nvec))`) or `"auto"` (from the mask's shape;
                an error when both shapes agree).

        Raises:
            ImportError: If Jumanji is not installed
                (`pip install 'lerax[jumanji]'`).
            ValueError: If `jumanji_env` is not a Jumanji environment, is
                auto-resetting, its reward is not a scalar, or its mask does not
                fit its action spec.
            NotImplementedError: If its action or observation spec has no lerax
                equivalent.
        """
        jumanji = _jumanji()
        specs = jumanji.specs
        wrappers = import_extra(
            "jumanji.wrappers", "jumanji", owner="JumanjiToLeraxEnv"
        )
        if not isinstance(jumanji_env, jumanji.Environment):
            raise ValueError(
                "JumanjiToLeraxEnv: jumanji_env must be a jumanji.Environment, got "
                f"{type(jumanji_env).__name__}."
            )
        if isinstance(jumanji_env, wrappers.AutoResetWrapper):
            raise ValueError(
                "JumanjiToLeraxEnv: got an AutoResetWrapper; pass the environment "
                "it wraps: lerax's algorithms do the resets, and the last "
                "observation of an episode must reach them."
            )
        if mask_layout not in ("auto", "joint", "per_entry"):
            raise ValueError(
                "JumanjiToLeraxEnv: mask_layout must be 'auto', 'joint' or "
                f"'per_entry', got {mask_layout!r}."
            )
        self.jumanji_env = jumanji_env
        self.name = name if name is not None else type(jumanji_env).__name__
        reward_shape = tuple(jumanji_env.reward_spec.shape)
        if reward_shape != ():
            raise ValueError(
                f"JumanjiToLeraxEnv: {self.name} has rewards of shape "
                f"{reward_shape} (a multi-agent environment?); lerax environments "
                "have one scalar reward."
            )
        observation_spec = jumanji_env.observation_spec
        self.observation_space = convert_jumanji_spec(observation_spec)
        mask_spec = None
        if isinstance(self.observation_space, Dict):
            mask_spec = vars(observation_spec).get("action_mask")
        mask_shape = None if mask_spec is None else tuple(mask_spec.shape)

        action_spec = jumanji_env.action_spec
        self.mask_layout = None
        self.jumanji_nvec = None
        if isinstance(action_spec, specs.DiscreteArray):
            n = int(action_spec.num_values)
            self.action_space = Discrete(n)
            if mask_shape not in (None, (n,)):
                raise ValueError(
                    f"JumanjiToLeraxEnv: {self.name}'s action_mask has shape "
                    f"{mask_shape}, expected ({n},) for its {n} discrete actions."
                )
        elif isinstance(action_spec, specs.MultiDiscreteArray):
            nvec = tuple(int(n) for n in np.asarray(action_spec.num_values).ravel())
            joint = nvec
            per_entry = (len(nvec), max(nvec))
            if mask_shape is None:
                self.action_space = MultiDiscrete(nvec)
            else:
                layout = mask_layout
                if layout == "auto":
                    if mask_shape == joint == per_entry:
                        raise ValueError(
                            f"JumanjiToLeraxEnv: {self.name}'s action_mask of "
                            f"shape {mask_shape} may be joint or per entry; pass "
                            "mask_layout='joint' or 'per_entry'."
                        )
                    layout = "joint" if mask_shape == joint else "per_entry"
                expected = joint if layout == "joint" else per_entry
                if mask_shape != expected:
                    raise ValueError(
                        f"JumanjiToLeraxEnv: {self.name}'s action_mask has shape "
                        f"{mask_shape}; a {layout} mask for nvec={nvec} has shape "
                        f"{expected}."
                    )
                self.mask_layout = layout
                if layout == "joint":
                    self.jumanji_nvec = nvec
                    self.action_space = Discrete(math.prod(nvec))
                else:
                    self.action_space = MultiDiscrete(nvec)
        elif isinstance(action_spec, specs.BoundedArray) and jnp.issubdtype(
            action_spec.dtype, jnp.floating
        ):
            shape = tuple(int(s) for s in action_spec.shape)
            self.action_space = Box(
                np.broadcast_to(np.asarray(action_spec.minimum, np.float64), shape),
                np.broadcast_to(np.asarray(action_spec.maximum, np.float64), shape),
                shape=shape,
            )
            if mask_shape is not None:
                raise ValueError(
                    f"JumanjiToLeraxEnv: {self.name} has continuous actions and an "
                    "action_mask; Box actions take no mask."
                )
        else:
            raise NotImplementedError(
                f"JumanjiToLeraxEnv: {self.name}'s action spec {action_spec!r} has "
                "no lerax equivalent; supported: DiscreteArray, "
                "MultiDiscreteArray, floating BoundedArray."
            )

    @property
    def _has_mask(self) -> bool:
        return isinstance(self.observation_space, Dict) and (
            "action_mask" in self.observation_space.spaces
        )

    @classmethod
    def from_name(
        cls, name: str, *, mask_layout: MaskLayout = "auto", **env_kwargs: Any
    ) -> JumanjiToLeraxEnv:
        """Make a registered Jumanji environment (`jumanji.make`) and adapt it.

        Args:
            name: A registered id such as `"Snake-v1"` or `"BinPack-v2"`.
            mask_layout: See `JumanjiToLeraxEnv.__init__`.
            **env_kwargs: Keyword arguments for the environment's constructor,
                such as `time_limit=100` for Snake.

        Returns:
            The adapted environment.

        Raises:
            ImportError: If Jumanji is not installed.
            ValueError: If `name` is not registered (the message lists close ids).
        """
        jumanji = _jumanji()
        registered = sorted(jumanji.registered_environments())
        if name not in registered:
            close = difflib.get_close_matches(name, registered, n=5, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise ValueError(
                f"JumanjiToLeraxEnv.from_name: unknown Jumanji environment "
                f"{name!r}; {hint}registered: {', '.join(registered)}."
            )
        return cls(jumanji.make(name, **env_kwargs), name=name, mask_layout=mask_layout)

    def _wrap(self, jumanji_state: Any, timestep: Any, first: bool) -> JumanjiEnvState:
        observation = _observation_to_lerax(
            self.observation_space, timestep.observation
        )
        mask = None
        if self._has_mask:
            mask = jnp.asarray(timestep.observation.action_mask, dtype=bool)
        if first:
            reward = jnp.zeros((), jnp.float32)
            terminated = truncated = jnp.zeros((), bool)
        else:
            last = timestep.last()
            discount = jnp.asarray(timestep.discount, jnp.float32).reshape(())
            reward = jnp.asarray(timestep.reward, jnp.float32).reshape(())
            terminated = last & (discount == 0.0)
            truncated = last & (discount > 0.0)
        return JumanjiEnvState(
            jumanji_state=jumanji_state,
            observation=observation,
            action_mask=mask,
            reward=reward,
            terminated=terminated,
            truncated=truncated,
        )

    def initial(self, *, key: Key[Array, ""]) -> JumanjiEnvState:
        jumanji_state, timestep = self.jumanji_env.reset(jax.random.key_data(key))
        return self._wrap(jumanji_state, timestep, first=True)

    def to_jumanji_action(self, action: Any) -> Any:
        """The Jumanji action for a lerax action (unravels a flat joint action).

        Args:
            action: An element of `action_space`.

        Returns:
            The action in the layout of Jumanji's action spec.
        """
        if self.jumanji_nvec is not None:
            index = jnp.asarray(action, jnp.int32)
            parts = jnp.unravel_index(index, self.jumanji_nvec)
            return jnp.stack(parts).astype(jnp.int32)
        return jnp.asarray(action, dtype=self.action_space.dtype)

    def transition(
        self, state: JumanjiEnvState, action: Any, *, key: Key[Array, ""]
    ) -> JumanjiEnvState:
        del key  # Jumanji draws from the key in its own state.
        jumanji_state, timestep = self.jumanji_env.step(
            state.jumanji_state, self.to_jumanji_action(action)
        )
        return self._wrap(jumanji_state, timestep, first=False)

    def observation(self, state: JumanjiEnvState, *, key: Key[Array, ""]) -> Any:
        del key
        return state.observation

    def reward(
        self,
        state: JumanjiEnvState,
        action: Any,
        next_state: JumanjiEnvState,
        *,
        key: Key[Array, ""],
    ) -> Float[Array, ""]:
        del state, action, key
        return next_state.reward

    def terminal(
        self, state: JumanjiEnvState, *, key: Key[Array, ""]
    ) -> Bool[Array, ""]:
        del key
        return state.terminated

    def truncate(self, state: JumanjiEnvState) -> Bool[Array, ""]:
        return state.truncated

    def action_mask(self, state: JumanjiEnvState, *, key: Key[Array, ""]) -> Any:
        """The observation's `action_mask` in lerax's layout, or `None`.

        Args:
            state: The state.
            key: A JAX PRNG key (unused).

        Returns:
            For `Discrete` actions the mask as it is (flattened when it is a
            joint mask of a `MultiDiscreteArray`); for per-entry
            `MultiDiscrete` masks the concatenation of each entry's first
            `nvec[i]` choices; `None` when the environment has no mask.
        """
        del key
        mask = state.action_mask
        if mask is None:
            return None
        if self.mask_layout == "per_entry":
            nvec = self.action_space.nvec
            return jnp.concatenate([mask[i, :n] for i, n in enumerate(nvec)])
        return mask.reshape(-1)
