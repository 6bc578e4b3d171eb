"""Q-network policies: a score per action, greedy and epsilon-greedy acting.

No `from __future__ import annotations` here: Equinox only recognises
`eqx.AbstractVar` as a real annotation.
"""

from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, Key

from lerax._checks import check_size, plain
from lerax._key import check_key
from lerax._keywords import suggest_keywords
from lerax.env import AbstractEnvLike
from lerax.space import AbstractSpace, Box, Discrete

from ._base import AbstractPolicy, NullPolicyState, StateType
from ._cnn import conv_output_size
from ._heads import check_activation, positive_ints, resolve_spaces
from ._recurrent import RecurrentPolicyState


def _check_mask(owner: str, mask: Any, n: int) -> Bool[Array, " n"] | None:
    if mask is None:
        return None
    mask = jnp.asarray(mask)
    if mask.shape != (n,):
        raise ValueError(
            f"{owner}: action_mask has shape {mask.shape}, expected ({n},) for "
            f"Discrete({n}) actions."
        )
    return mask.astype(bool)


def masked_q_values(
    q_values: Float[Array, " n"], action_mask: Bool[ArrayLike, " n"] | None
) -> Float[Array, " n"]:
    """Q-values with masked-out actions at `-inf`, so no maximum picks them.

    Args:
        q_values: One Q-value per action.
        action_mask: `True` for allowed actions, or `None` (all allowed).

    Returns:
        The Q-values, `-inf` where the mask is `False`.
    """
    if action_mask is None:
        return q_values
    return jnp.where(jnp.asarray(action_mask, bool), q_values, -jnp.inf)


def epsilon_greedy(
    q_values: Float[Array, " n"],
    epsilon: Float[ArrayLike, ""],
    *,
    key: Key[Array, ""],
    action_mask: Bool[ArrayLike, " n"] | None = None,
) -> tuple[Int[Array, ""], Float[Array, ""]]:
    """Draw an epsilon-greedy action and its log-probability.

    With probability `epsilon` the action is uniform over the allowed actions,
    otherwise it is the allowed action of largest Q-value (the first on ties).
    A masked-out action is never drawn.

    Args:
        q_values: One Q-value per action.
        epsilon: The exploration probability, in [0, 1].
        key: A JAX PRNG key.
        action_mask: `True` for allowed actions, or `None` (all allowed).

    Returns:
        `(action, log_prob)`: the action (int32) and its log-probability under
        the epsilon-greedy distribution.
    """
    explore_key, uniform_key = jax.random.split(key)
    masked = masked_q_values(q_values, action_mask)
    greedy = jnp.argmax(masked)
    n = q_values.shape[-1]
    allowed = (
        jnp.ones((n,), bool) if action_mask is None else jnp.asarray(action_mask, bool)
    )
    uniform_logits = jnp.where(allowed, 0.0, -jnp.inf)
    uniform = jax.random.categorical(uniform_key, uniform_logits)
    explore = jax.random.uniform(explore_key) < epsilon
    action = jnp.where(explore, uniform, greedy).astype(jnp.int32)
    count = jnp.maximum(jnp.sum(allowed), 1).astype(q_values.dtype)
    probability = epsilon / count + (1.0 - epsilon) * (action == greedy)
    return action, jnp.log(probability)


class AbstractQPolicy(AbstractPolicy[StateType, Any, Any, Any]):
    """A policy that scores every action of a `Discrete` space: `Q(s, .)`.

    The policy of value-based algorithms (`lerax.algorithm.PQN`). A subclass
    provides `q_values` (one observation to one score per action) and `reset`;
    acting is greedy over the allowed actions (`__call__`, with or without a
    key: exploration belongs to the algorithm, see `EpsilonGreedyPolicy`).
    Every method takes one unbatched observation; batch with `jax.vmap`.

    Attributes:
        name: The name of the policy (a class variable).
        action_space: The action space (`Discrete`).
        observation_space: The observation space.
        is_recurrent: Whether the policy carries a memory that training must
            replay over whole sequences (a class variable; `False` here,
            `True` for `GRUQPolicy`).
    """

    is_recurrent: ClassVar[bool] = False

    @abstractmethod
    def q_values(
        self, state: StateType, observation: Any
    ) -> tuple[StateType, Float[Array, " n"]]:
        """The Q-value of every action after an observation.

        Args:
            state: The policy state.
            observation: One observation from `observation_space`.

        Returns:
            `(new_state, q_values)` with one value per action.
        """

    def q_sequence(
        self,
        states: StateType,
        observations: Any,
        episode_starts: Bool[Array, " T"],
    ) -> Float[Array, "T n"]:
        """Re-run the policy over one environment's sequence, for training.

        The state starts from the stored one at step 0 and at every episode
        start (where the stored state is the reset one); elsewhere it is the
        state computed at the previous step, so a recurrent policy's gradients
        flow through time and its replay equals its rollout.

        Args:
            states: The stored states, leading axis `T`.
            observations: The observations, leading axis `T`.
            episode_starts: Whether each step starts from its stored state.

        Returns:
            The Q-values of every step, shape `(T, n)`.
        """
        first = jax.tree.map(lambda x: x[0], states)

        def step(carry, inputs):
            stored, observation, start = inputs
            state = jax.tree.map(lambda a, b: jnp.where(start, a, b), stored, carry)
            state, q = self.q_values(state, observation)
            return state, q

        _, q = jax.lax.scan(step, first, (states, observations, episode_starts))
        return q

    def __call__(
        self,
        state: StateType,
        observation: Any,
        *,
        key: Key[Array, ""] | None = None,
        action_mask: Any = None,
    ) -> tuple[StateType, Int[Array, ""]]:
        """The greedy action: the allowed action of largest Q-value.

        Args:
            state: The policy state.
            observation: One observation from `observation_space`.
            key: Ignored: a Q-policy's own action is greedy (wrap it in an
                `EpsilonGreedyPolicy` to explore).
            action_mask: An optional boolean mask of shape `(n,)`.

        Returns:
            `(new_state, action)`.

        Raises:
            ValueError: At trace time, if the mask has the wrong shape.
        """
        del key
        mask = _check_mask(self.name, action_mask, self.action_space.n)
        state, q = self.q_values(state, observation)
        action = jnp.argmax(masked_q_values(q, mask))
        return state, action.astype(self.action_space.dtype)


class EpsilonGreedyPolicy(AbstractPolicy[Any, Any, Any, Any]):
    """A Q-policy acting epsilon-greedily: how `PQN` collects its rollouts.

    With a key, the action is uniform over the allowed actions with probability
    `epsilon` and greedy otherwise; without a key it is greedy. `PQN` builds
    one per iteration with the scheduled `epsilon` (see
    `AbstractOnPolicyAlgorithm.behaviour_policy`).

    Attributes:
        name: `"EpsilonGreedyPolicy"`.
        q_policy: The Q-policy.
        epsilon: The exploration probability (an array leaf).
    """

    name: ClassVar[str] = "EpsilonGreedyPolicy"

    q_policy: AbstractQPolicy
    epsilon: Float[Array, ""]

    def __init__(self, q_policy: AbstractQPolicy, epsilon: Float[ArrayLike, ""]):
        """Wrap a Q-policy.

        Args:
            q_policy: The Q-policy.
            epsilon: The exploration probability, in [0, 1].

        Raises:
            TypeError: If `q_policy` is not an `AbstractQPolicy`.
        """
        if not isinstance(q_policy, AbstractQPolicy):
            raise TypeError(
                "EpsilonGreedyPolicy: q_policy must be an AbstractQPolicy, got "
                f"{type(q_policy).__name__}."
            )
        self.q_policy = q_policy
        self.epsilon = jnp.asarray(epsilon, jnp.float32)

    @property
    def action_space(self) -> AbstractSpace:
        """The Q-policy's action space."""
        return self.q_policy.action_space

    @property
    def observation_space(self) -> AbstractSpace:
        """The Q-policy's observation space."""
        return self.q_policy.observation_space

    def reset(self, *, key: Key[Array, ""]) -> Any:
        """The Q-policy's initial state.

        Args:
            key: A JAX PRNG key.

        Returns:
            `q_policy.reset(key=key)`.
        """
        return self.q_policy.reset(key=key)

    def act(
        self,
        state: Any,
        observation: Any,
        *,
        key: Key[Array, ""],
        action_mask: Any = None,
    ) -> tuple[Any, Int[Array, ""], Float[Array, ""], Float[Array, ""]]:
        """Draw an epsilon-greedy action, with its Q-value and log-probability.

        Args:
            state: The policy state.
            observation: One observation.
            key: A JAX PRNG key.
            action_mask: An optional boolean mask of shape `(n,)`.

        Returns:
            `(new_state, action, q_value, log_prob)`: the Q-value of the action
            taken and its log-probability under this policy.

        Raises:
            ValueError: At trace time, if the mask has the wrong shape.
        """
        mask = _check_mask(self.name, action_mask, self.action_space.n)
        state, q = self.q_policy.q_values(state, observation)
        action, log_prob = epsilon_greedy(q, self.epsilon, key=key, action_mask=mask)
        return state, action.astype(self.action_space.dtype), q[action], log_prob

    def __call__(
        self,
        state: Any,
        observation: Any,
        *,
        key: Key[Array, ""] | None = None,
        action_mask: Any = None,
    ) -> tuple[Any, Int[Array, ""]]:
        """Act epsilon-greedily with a key, greedily without one.

        Args:
            state: The policy state.
            observation: One observation.
            key: A JAX PRNG key, or `None` for the greedy action.
            action_mask: An optional boolean mask of shape `(n,)`.

        Returns:
            `(new_state, action)`.

        Raises:
            ValueError: At trace time, if the mask has the wrong shape.
        """
        if key is None:
            return self.q_policy(state, observation, action_mask=action_mask)
        state, action, _, _ = self.act(
            state, observation, key=key, action_mask=action_mask
        )
        return state, action


_OWNER = "MLPQPolicy"


@eqx.filter_jit
def _build_mlp(
    sizes: tuple[int, ...], layer_norm: bool, key: Key[Array, ""]
) -> tuple[tuple[eqx.nn.Linear, ...], tuple[eqx.nn.LayerNorm, ...] | None]:
    # One compiled program per architecture (eager init compiles many tiny ops).
    keys = jax.random.split(key, len(sizes) - 1)
    layers = tuple(
        eqx.nn.Linear(a, b, key=k)
        for a, b, k in zip(sizes[:-1], sizes[1:], keys, strict=True)
    )
    norms = tuple(eqx.nn.LayerNorm(s) for s in sizes[1:-1]) if layer_norm else None
    return layers, norms


def _discrete_actions(owner: str, action_space: AbstractSpace) -> None:
    if not isinstance(action_space, Discrete):
        raise ValueError(
            f"{owner}: a Q-policy needs Discrete actions (one Q-value per "
            f"action), got {type(action_space).__name__}."
        )


class MLPQPolicy(AbstractQPolicy[NullPolicyState]):
    """A Q-network MLP on the flattened observation, LayerNorm in every layer.

    `depth` hidden layers of `width_size` units, each `Linear -> LayerNorm ->
    activation` (the network of PQN: Gallici et al., 2025 show that LayerNorm
    makes TD learning without a target network stable), then a linear layer to
    one Q-value per action. The observation is flattened with
    `observation_space.flatten`. Stateless: its state is `NullPolicyState()`.

    Attributes:
        name: `"MLPQPolicy"`.
        action_space: The action space (`Discrete`).
        observation_space: The observation space.
        layers: The linear layers, input to output.
        norms: One `LayerNorm` per hidden layer, or `None` (`layer_norm=False`).
        width_size: Units per hidden layer.
        depth: The number of hidden layers.
        layer_norm: Whether hidden layers are normalised.
        activation: The hidden activation.
    """

    name: ClassVar[str] = "MLPQPolicy"

    action_space: AbstractSpace
    observation_space: AbstractSpace
    layers: tuple[eqx.nn.Linear, ...]
    norms: tuple[eqx.nn.LayerNorm, ...] | None
    width_size: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    layer_norm: bool = eqx.field(static=True)
    activation: Callable[[Array], Array] = eqx.field(static=True)

    @suggest_keywords
    def __init__(
        self,
        env: AbstractEnvLike | None = None,
        *,
        key: Key[Array, ""],
        observation_space: AbstractSpace | None = None,
        action_space: AbstractSpace | None = None,
        width_size: int = 128,
        depth: int = 2,
        layer_norm: bool = True,
        activation: Callable[[Array], Array] = jax.nn.relu,
    ):
        """Create the Q-network.

        Args:
            env: The environment to take both spaces from; or pass both spaces.
            key: A JAX PRNG key for the initial weights (Equinox's default
                initialisation).
            observation_space: The observation space, when `env` is not given.
            action_space: The action space (`Discrete`), when `env` is not given.
            width_size: Units per hidden layer (128, purejaxql's default).
            depth: Hidden layers (2, purejaxql's default; 0 is linear).
            layer_norm: Normalise each hidden layer's output (PQN's default).
            activation: The hidden activation (a hashable function; ReLU).

        Raises:
            TypeError: If `env` is not a lerax environment.
            ValueError: If the spaces are missing or given twice, the action
                space is not `Discrete`, or a size or the activation is invalid.
        """
        check_key(_OWNER, key)
        observation_space, action_space = resolve_spaces(
            _OWNER, env, observation_space, action_space
        )
        _discrete_actions(_OWNER, action_space)
        check_size(_OWNER, "width_size", width_size)
        if (
            isinstance(depth, bool)
            or not isinstance(depth, (int, np.integer))
            or depth < 0
        ):
            raise ValueError(
                f"{_OWNER}: depth must be a non-negative integer, got {plain(depth)}."
            )
        check_activation(_OWNER, activation)
        sizes = (
            observation_space.flat_size,
            *(int(width_size),) * int(depth),
            action_space.n,
        )
        self.layers, self.norms = _build_mlp(sizes, bool(layer_norm), key)
        self.action_space = action_space
        self.observation_space = observation_space
        self.width_size = int(width_size)
        self.depth = int(depth)
        self.layer_norm = bool(layer_norm)
        self.activation = activation

    def constructor_arguments(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this policy's structure.

        Returns:
            The spaces and every structural argument (its recipe for
            `lerax.load`).
        """
        return {
            "observation_space": self.observation_space,
            "action_space": self.action_space,
            "width_size": self.width_size,
            "depth": self.depth,
            "layer_norm": self.layer_norm,
            "activation": self.activation,
        }

    def reset(self, *, key: Key[Array, ""]) -> NullPolicyState:
        """The (trivial) initial state.

        Args:
            key: Unused; the policy is stateless.

        Returns:
            `NullPolicyState()`.
        """
        del key
        return NullPolicyState()

    def q_values(
        self, state: NullPolicyState, observation: Any
    ) -> tuple[NullPolicyState, Float[Array, " n"]]:
        """The Q-value of every action.

        Args:
            state: The policy state (returned unchanged).
            observation: One observation from `observation_space`.

        Returns:
            `(state, q_values)` with `action_space.n` values.

        Raises:
            ValueError: At trace time, if the observation is malformed.
        """
        self.observation_space.validate(observation, name=f"{self.name}: observation")
        x = self.observation_space.flatten(observation).astype(jnp.float32)
        for i, layer in enumerate(self.layers[:-1]):
            x = layer(x)
            if self.norms is not None:
                x = self.norms[i](x)
            x = self.activation(x)
        return state, self.layers[-1](x)


_CNN_OWNER = "CNNQPolicy"


@eqx.filter_jit
def _build_cnn(
    in_channels: int,
    flat_size: int,
    num_actions: int,
    channels: tuple[int, ...],
    kernel_sizes: tuple[int, ...],
    strides: tuple[int, ...],
    padding: str,
    hidden_sizes: tuple[int, ...],
    layer_norm: bool,
    key: Key[Array, ""],
) -> tuple[
    tuple[eqx.nn.Conv2d, ...],
    tuple[eqx.nn.Linear, ...],
    tuple[eqx.nn.LayerNorm, ...] | None,
    tuple[eqx.nn.LayerNorm, ...] | None,
]:
    conv_key, dense_key = jax.random.split(key)
    conv_keys = jax.random.split(conv_key, len(channels))
    convs = tuple(
        eqx.nn.Conv2d(c_in, c_out, kernel_size=k, stride=s, padding=padding, key=ck)
        for c_in, c_out, k, s, ck in zip(
            (in_channels, *channels[:-1]),
            channels,
            kernel_sizes,
            strides,
            conv_keys,
            strict=True,
        )
    )
    sizes = (flat_size, *hidden_sizes, num_actions)
    dense_keys = jax.random.split(dense_key, len(sizes) - 1)
    dense = tuple(
        eqx.nn.Linear(a, b, key=k)
        for a, b, k in zip(sizes[:-1], sizes[1:], dense_keys, strict=True)
    )
    conv_norms = tuple(eqx.nn.LayerNorm(c) for c in channels) if layer_norm else None
    dense_norms = (
        tuple(eqx.nn.LayerNorm(h) for h in hidden_sizes) if layer_norm else None
    )
    return convs, dense, conv_norms, dense_norms


class CNNQPolicy(AbstractQPolicy[NullPolicyState]):
    """A convolutional Q-network for image observations (MinAtar), with LayerNorm.

    The observation is cast to float32 and moved to channels-first
    (`channels_last=True` reads `(height, width, channels)`; a 2-D observation
    is one channel). Each convolution is followed by a LayerNorm over its
    channels at every pixel and the activation; the result is flattened and
    passes through the dense layers `hidden_sizes` (each `Linear -> LayerNorm
    -> activation`), then a linear layer to one Q-value per action. The
    defaults, one 3x3 convolution of 16 filters and one dense layer of 128
    units with ReLU, are the MinAtar network (Young and Tian, 2019) with PQN's
    LayerNorm. Reuses `conv_output_size` of `CNNActorCriticPolicy` for the
    shape checks. Stateless: its state is `NullPolicyState()`.

    Attributes:
        name: `"CNNQPolicy"`.
        action_space: The action space (`Discrete`).
        observation_space: The observation space (a 2-D or 3-D `Box`).
        convs: The convolutions.
        dense: The dense layers after the convolutions, the last one the
            Q-value head.
        conv_norms: One LayerNorm per convolution, or `None`.
        dense_norms: One LayerNorm per hidden dense layer, or `None`.
        channels: Output channels of each convolution.
        kernel_sizes: Kernel size of each convolution.
        strides: Stride of each convolution.
        padding: `"VALID"` or `"SAME"`.
        channels_last: Whether observations are `(height, width, channels)`.
        hidden_sizes: Sizes of the hidden dense layers.
        layer_norm: Whether LayerNorm follows every hidden layer.
        activation: The activation.
    """

    name: ClassVar[str] = "CNNQPolicy"

    action_space: AbstractSpace
    observation_space: AbstractSpace
    convs: tuple[eqx.nn.Conv2d, ...]
    dense: tuple[eqx.nn.Linear, ...]
    conv_norms: tuple[eqx.nn.LayerNorm, ...] | None
    dense_norms: tuple[eqx.nn.LayerNorm, ...] | None
    channels: tuple[int, ...] = eqx.field(static=True)
    kernel_sizes: tuple[int, ...] = eqx.field(static=True)
    strides: tuple[int, ...] = eqx.field(static=True)
    padding: str = eqx.field(static=True)
    channels_last: bool = eqx.field(static=True)
    hidden_sizes: tuple[int, ...] = eqx.field(static=True)
    layer_norm: bool = eqx.field(static=True)
    activation: Callable[[Array], Array] = eqx.field(static=True)

    @suggest_keywords
    def __init__(
        self,
        env: AbstractEnvLike | None = None,
        *,
        key: Key[Array, ""],
        observation_space: AbstractSpace | None = None,
        action_space: AbstractSpace | None = None,
        channels: Sequence[int] = (16,),
        kernel_sizes: Sequence[int] = (3,),
        strides: Sequence[int] = (1,),
        padding: str = "VALID",
        channels_last: bool = True,
        hidden_sizes: Sequence[int] = (128,),
        layer_norm: bool = True,
        activation: Callable[[Array], Array] = jax.nn.relu,
    ):
        """Create the Q-network.

        Args:
            env: The environment to take both spaces from; or pass both spaces.
            key: A JAX PRNG key for the initial weights.
            observation_space: The observation space (a 2-D or 3-D `Box`),
                when `env` is not given.
            action_space: The action space (`Discrete`), when `env` is not
                given.
            channels: Output channels of each convolution.
            kernel_sizes: Square kernel size of each convolution.
            strides: Stride of each convolution.
            padding: `"VALID"` or `"SAME"`.
            channels_last: Whether observations are `(height, width,
                channels)` (gymnax's MinAtar) rather than channels-first.
            hidden_sizes: Sizes of the dense layers after the convolutions.
            layer_norm: LayerNorm after every hidden layer (PQN's default).
            activation: The activation (a hashable function; ReLU).

        Raises:
            TypeError: If `env` is not a lerax environment.
            ValueError: If the spaces are missing or given twice, the action
                space is not `Discrete`, the observation space is not a 2-D or
                3-D `Box`, the convolution lists differ in length, a size is
                invalid, or a convolution does not fit its input.
        """
        check_key(_CNN_OWNER, key)
        observation_space, action_space = resolve_spaces(
            _CNN_OWNER, env, observation_space, action_space
        )
        _discrete_actions(_CNN_OWNER, action_space)
        if not isinstance(observation_space, Box):
            raise ValueError(
                f"{_CNN_OWNER}: observations must be a 2-D or 3-D Box (an image), "
                f"got {type(observation_space).__name__}."
            )
        if len(observation_space.shape) not in (2, 3):
            raise ValueError(
                f"{_CNN_OWNER}: observations must be a 2-D or 3-D Box (an image), "
                f"got shape {tuple(observation_space.shape)}."
            )
        channels = positive_ints(_CNN_OWNER, "channels", channels)
        kernel_sizes = positive_ints(
            _CNN_OWNER, "kernel_sizes", kernel_sizes, count=len(channels)
        )
        strides = positive_ints(_CNN_OWNER, "strides", strides, count=len(channels))
        hidden_sizes = positive_ints(_CNN_OWNER, "hidden_sizes", hidden_sizes)
        if padding not in ("VALID", "SAME"):
            raise ValueError(
                f"{_CNN_OWNER}: padding must be 'VALID' or 'SAME', got {padding!r}."
            )
        check_activation(_CNN_OWNER, activation)
        channels_last = bool(channels_last)
        shape = tuple(int(n) for n in observation_space.shape)
        if len(shape) == 2:
            height, width, in_channels = shape[0], shape[1], 1
        elif channels_last:
            height, width, in_channels = shape
        else:
            in_channels, height, width = shape
        for i, (k, s) in enumerate(zip(kernel_sizes, strides, strict=True)):
            new_h = conv_output_size(height, k, s, padding)
            new_w = conv_output_size(width, k, s, padding)
            if new_h < 1 or new_w < 1:
                raise ValueError(
                    f"{_CNN_OWNER}: convolution {i} (kernel {k}, stride {s}, "
                    f"{padding}) does not fit its {height}x{width} input; use "
                    "smaller kernels or padding='SAME'."
                )
            height, width = new_h, new_w
        flat_size = height * width * channels[-1]
        self.convs, self.dense, self.conv_norms, self.dense_norms = _build_cnn(
            in_channels,
            flat_size,
            action_space.n,
            channels,
            kernel_sizes,
            strides,
            padding,
            hidden_sizes,
            bool(layer_norm),
            key,
        )
        self.action_space = action_space
        self.observation_space = observation_space
        self.channels = channels
        self.kernel_sizes = kernel_sizes
        self.strides = strides
        self.padding = padding
        self.channels_last = channels_last
        self.hidden_sizes = hidden_sizes
        self.layer_norm = bool(layer_norm)
        self.activation = activation

    def constructor_arguments(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this policy's structure.

        Returns:
            The spaces and every structural argument (its recipe).
        """
        return {
            "observation_space": self.observation_space,
            "action_space": self.action_space,
            "channels": self.channels,
            "kernel_sizes": self.kernel_sizes,
            "strides": self.strides,
            "padding": self.padding,
            "channels_last": self.channels_last,
            "hidden_sizes": self.hidden_sizes,
            "layer_norm": self.layer_norm,
            "activation": self.activation,
        }

    def reset(self, *, key: Key[Array, ""]) -> NullPolicyState:
        """The (trivial) initial state.

        Args:
            key: Unused; the policy is stateless.

        Returns:
            `NullPolicyState()`.
        """
        del key
        return NullPolicyState()

    def q_values(
        self, state: NullPolicyState, observation: Any
    ) -> tuple[NullPolicyState, Float[Array, " n"]]:
        """The Q-value of every action.

        Args:
            state: The policy state (returned unchanged).
            observation: One image from `observation_space`.

        Returns:
            `(state, q_values)` with `action_space.n` values.

        Raises:
            ValueError: At trace time, if the observation has the wrong shape.
        """
        self.observation_space.validate(observation, name=f"{self.name}: observation")
        x = jnp.asarray(observation, jnp.float32)
        if x.ndim == 2:
            x = x[None]
        elif self.channels_last:
            x = jnp.moveaxis(x, -1, 0)
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if self.conv_norms is not None:
                # Over the channels at every pixel.
                norm = self.conv_norms[i]
                x = jnp.moveaxis(
                    jax.vmap(jax.vmap(norm))(jnp.moveaxis(x, 0, -1)), -1, 0
                )
            x = self.activation(x)
        x = x.reshape(-1)
        for i, layer in enumerate(self.dense[:-1]):
            x = layer(x)
            if self.dense_norms is not None:
                x = self.dense_norms[i](x)
            x = self.activation(x)
        return state, self.dense[-1](x)


_GRU_OWNER = "GRUQPolicy"


@eqx.filter_jit
def _build_gru(
    in_size: int,
    num_actions: int,
    encoder_sizes: tuple[int, ...],
    hidden_size: int,
    layer_norm: bool,
    key: Key[Array, ""],
) -> tuple[
    tuple[eqx.nn.Linear, ...],
    tuple[eqx.nn.LayerNorm, ...] | None,
    eqx.nn.GRUCell,
    eqx.nn.Linear,
]:
    encoder_key, core_key, head_key = jax.random.split(key, 3)
    sizes = (in_size, *encoder_sizes)
    keys = jax.random.split(encoder_key, len(sizes) - 1)
    encoder = tuple(
        eqx.nn.Linear(a, b, key=k)
        for a, b, k in zip(sizes[:-1], sizes[1:], keys, strict=True)
    )
    norms = tuple(eqx.nn.LayerNorm(s) for s in encoder_sizes) if layer_norm else None
    core = eqx.nn.GRUCell(sizes[-1], hidden_size, key=core_key)
    head = eqx.nn.Linear(hidden_size, num_actions, key=head_key)
    return encoder, norms, core, head


class GRUQPolicy(AbstractQPolicy[RecurrentPolicyState]):
    """A recurrent Q-network: an encoder with LayerNorm, a GRU, a Q-value head.

    The Q-network of PQN-RNN (Gallici et al., 2025; their Craftax and memory
    experiments): the flattened observation passes through the encoder
    (`Linear -> LayerNorm -> activation` per layer), a GRU cell updates the
    memory, and a linear head reads one Q-value per action off the new memory.
    `PQN` trains it on whole environment sequences (`q_sequence`), so the
    Q-values it replays equal those it acted on. Its state is a
    `RecurrentPolicyState` (zeros at reset).

    Attributes:
        name: `"GRUQPolicy"`.
        action_space: The action space (`Discrete`).
        observation_space: The observation space.
        encoder: The encoder's linear layers.
        encoder_norms: One LayerNorm per encoder layer, or `None`.
        core: The GRU cell.
        head: The linear Q-value head.
        encoder_sizes: The encoder's layer sizes.
        hidden_size: The GRU's memory size.
        layer_norm: Whether the encoder's layers are normalised.
        activation: The encoder's activation.
        is_recurrent: `True`.
    """

    name: ClassVar[str] = "GRUQPolicy"
    is_recurrent: ClassVar[bool] = True

    action_space: AbstractSpace
    observation_space: AbstractSpace
    encoder: tuple[eqx.nn.Linear, ...]
    encoder_norms: tuple[eqx.nn.LayerNorm, ...] | None
    core: eqx.nn.GRUCell
    head: eqx.nn.Linear
    encoder_sizes: tuple[int, ...] = eqx.field(static=True)
    hidden_size: int = eqx.field(static=True)
    layer_norm: bool = eqx.field(static=True)
    activation: Callable[[Array], Array] = eqx.field(static=True)

    @suggest_keywords
    def __init__(
        self,
        env: AbstractEnvLike | None = None,
        *,
        key: Key[Array, ""],
        observation_space: AbstractSpace | None = None,
        action_space: AbstractSpace | None = None,
        encoder_sizes: Sequence[int] = (128,),
        hidden_size: int = 128,
        layer_norm: bool = True,
        activation: Callable[[Array], Array] = jax.nn.relu,
    ):
        """Create the recurrent Q-network.

        Args:
            env: The environment to take both spaces from; or pass both spaces.
            key: A JAX PRNG key for the initial weights.
            observation_space: The observation space, when `env` is not given.
            action_space: The action space (`Discrete`), when `env` is not given.
            encoder_sizes: The encoder's layer sizes (at least one).
            hidden_size: The GRU's memory size.
            layer_norm: LayerNorm after every encoder layer (PQN's default).
            activation: The encoder's activation (a hashable function; ReLU).

        Raises:
            TypeError: If `env` is not a lerax environment.
            ValueError: If the spaces are missing or given twice, the action
                space is not `Discrete`, or a size or the activation is invalid.
        """
        check_key(_GRU_OWNER, key)
        observation_space, action_space = resolve_spaces(
            _GRU_OWNER, env, observation_space, action_space
        )
        _discrete_actions(_GRU_OWNER, action_space)
        encoder_sizes = positive_ints(_GRU_OWNER, "encoder_sizes", encoder_sizes)
        if not encoder_sizes:
            raise ValueError(f"{_GRU_OWNER}: encoder_sizes needs at least one size.")
        check_size(_GRU_OWNER, "hidden_size", hidden_size)
        check_activation(_GRU_OWNER, activation)
        self.encoder, self.encoder_norms, self.core, self.head = _build_gru(
            observation_space.flat_size,
            action_space.n,
            encoder_sizes,
            int(hidden_size),
            bool(layer_norm),
            key,
        )
        self.action_space = action_space
        self.observation_space = observation_space
        self.encoder_sizes = encoder_sizes
        self.hidden_size = int(hidden_size)
        self.layer_norm = bool(layer_norm)
        self.activation = activation

    def constructor_arguments(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this policy's structure.

        Returns:
            The spaces and every structural argument (its recipe).
        """
        return {
            "observation_space": self.observation_space,
            "action_space": self.action_space,
            "encoder_sizes": self.encoder_sizes,
            "hidden_size": self.hidden_size,
            "layer_norm": self.layer_norm,
            "activation": self.activation,
        }

    def reset(self, *, key: Key[Array, ""]) -> RecurrentPolicyState:
        """A zero memory.

        Args:
            key: Unused.

        Returns:
            The initial state.
        """
        del key
        return RecurrentPolicyState(hidden=jnp.zeros((self.hidden_size,), jnp.float32))

    def q_values(
        self, state: RecurrentPolicyState, observation: Any
    ) -> tuple[RecurrentPolicyState, Float[Array, " n"]]:
        """Update the memory with an observation and score every action.

        Args:
            state: The memory before the observation.
            observation: One observation from `observation_space`.

        Returns:
            `(new_state, q_values)`: the memory after the observation and one
            Q-value per action, read off it.

        Raises:
            ValueError: At trace time, if the observation is malformed.
        """
        self.observation_space.validate(observation, name=f"{self.name}: observation")
        x = self.observation_space.flatten(observation).astype(jnp.float32)
        for i, layer in enumerate(self.encoder):
            x = layer(x)
            if self.encoder_norms is not None:
                x = self.encoder_norms[i](x)
            x = self.activation(x)
        hidden = self.core(x, state.hidden)
        return RecurrentPolicyState(hidden=hidden), self.head(hidden)
