"""An actor-critic policy for image observations: a convolutional trunk."""

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Key

from lerax._key import check_key
from lerax._keywords import suggest_keywords
from lerax.env import AbstractEnvLike
from lerax.space import AbstractSpace, Box

from ._feedforward import AbstractFeedForwardActorCriticPolicy
from ._heads import (
    actor_output_size,
    check_activation,
    free_log_std,
    linear_stack,
    orthogonal,
    orthogonal_gains,
    positive_ints,
    resolve_spaces,
)
from ._network import MLP

_OWNER = "CNNActorCriticPolicy"


def conv_output_size(size: int, kernel: int, stride: int, padding: str) -> int:
    """The length of one spatial axis after a convolution.

    Args:
        size: The input length.
        kernel: The kernel length.
        stride: The stride.
        padding: `"VALID"` (no padding) or `"SAME"` (padded so that the output
            length is `ceil(size / stride)`).

    Returns:
        The output length (may be < 1 for a `"VALID"` kernel larger than the
        input).
    """
    if padding == "SAME":
        return -(-size // stride)
    return (size - kernel) // stride + 1


def _orthogonal_convs(
    convs: tuple[eqx.nn.Conv2d, ...], *, gain: float, key: Key[Array, ""]
) -> tuple[eqx.nn.Conv2d, ...]:
    """Orthogonal kernels (each filter flattened to a row) and zero biases."""
    keys = jax.random.split(key, len(convs))
    init = jax.nn.initializers.orthogonal(scale=gain)
    out = []
    for conv, k in zip(convs, keys, strict=True):
        shape = conv.weight.shape
        flat = init(k, (shape[0], int(np.prod(shape[1:]))), conv.weight.dtype)
        out.append(
            eqx.tree_at(
                lambda c: (c.weight, c.bias),
                conv,
                (flat.reshape(shape), jnp.zeros_like(conv.bias)),
            )
        )
    return tuple(out)


@eqx.filter_jit
def _build(
    in_channels: int,
    flat_size: int,
    out_size: int,
    channels: tuple[int, ...],
    kernel_sizes: tuple[int, ...],
    strides: tuple[int, ...],
    padding: str,
    hidden_sizes: tuple[int, ...],
    actor_hidden_sizes: tuple[int, ...],
    critic_hidden_sizes: tuple[int, ...],
    activation: Callable[[Array], Array],
    gains: tuple[float, float, float] | None,
    key: Key[Array, ""],
) -> tuple[tuple[eqx.nn.Conv2d, ...], MLP | None, MLP, MLP]:
    # One compiled program per architecture, as for the MLP policy.
    conv_key, dense_key, actor_key, critic_key, init_key = jax.random.split(key, 5)
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
    head_in = hidden_sizes[-1] if hidden_sizes else flat_size
    dense = linear_stack((flat_size, *hidden_sizes), key=dense_key)
    actor = linear_stack((head_in, *actor_hidden_sizes, out_size), key=actor_key)
    critic = linear_stack((head_in, *critic_hidden_sizes, "scalar"), key=critic_key)
    if gains is not None:
        hidden_gain, actor_gain, critic_gain = gains
        k1, k2, k3, k4 = jax.random.split(init_key, 4)
        convs = _orthogonal_convs(convs, gain=hidden_gain, key=k1)
        if dense:
            dense = orthogonal(
                dense, hidden_gain=hidden_gain, final_gain=hidden_gain, key=k2
            )
        actor = orthogonal(
            actor, hidden_gain=hidden_gain, final_gain=actor_gain, key=k3
        )
        critic = orthogonal(
            critic, hidden_gain=hidden_gain, final_gain=critic_gain, key=k4
        )
    return (
        convs,
        MLP(layers=dense, activation=activation) if dense else None,
        MLP(layers=actor, activation=activation),
        MLP(layers=critic, activation=activation),
    )


class CNNActorCriticPolicy(AbstractFeedForwardActorCriticPolicy):
    """A shared convolutional trunk feeding an actor head and a critic head.

    For image observations such as gymnax's MinAtar environments (`Box` of shape
    `(10, 10, channels)`). The observation is cast to `float32`, moved to
    channels-first (`channels_last=True`, the default, reads `(height, width,
    channels)`; a 2-D observation is one channel), passed through `Conv2d`
    layers each followed by `activation`, flattened, passed through the dense
    layers `hidden_sizes` (each activated), and the result feeds both heads:
    the actor (hidden layers `actor_hidden_sizes`, then the distribution's
    parameters) and the critic (`critic_hidden_sizes`, then the value). The
    defaults, one 3x3 convolution with 16 filters and a dense layer of 128
    units with ReLU, are the network of the MinAtar paper (Young and Tian,
    2019).

    The action distribution is `MLPActorCriticPolicy`'s: `Categorical`,
    `MultiCategorical`, `Bernoulli` (masks honoured) or a `DiagGaussian` with a
    free `log_std` for `Box` actions. The policy is stateless; its state is
    `NullPolicyState()`. With `ortho_init=True` the convolution kernels (each
    filter flattened) and dense layers are orthogonal with gain `hidden_gain`,
    the heads' output layers with `actor_gain` / `critic_gain`, biases zero.
    Every structural choice is part of the serialization fingerprint.

    Attributes:
        name: `"CNNActorCriticPolicy"`.
        observation_space: The observation space (a 2-D or 3-D `Box`).
        action_space: The action space.
        convs: The convolutions, input to output.
        dense: The dense layers after the convolutions (their output
            activated), or `None` when `hidden_sizes` is empty.
        actor: The actor head, from the features to the distribution's
            parameters.
        critic: The critic head, from the features to the scalar value.
        log_std: The log standard deviation for `Box` actions, else `None`.
        channels: Output channels of each convolution.
        kernel_sizes: Kernel size of each convolution (square kernels).
        strides: Stride of each convolution.
        padding: `"VALID"` or `"SAME"`.
        channels_last: Whether observations are `(height, width, channels)`.
        hidden_sizes: Sizes of the dense layers shared by both heads.
        actor_hidden_sizes: Hidden sizes of the actor head.
        critic_hidden_sizes: Hidden sizes of the critic head.
        activation: The activation after every convolution and hidden layer.
    """

    name: ClassVar[str] = "CNNActorCriticPolicy"

    # `action_space` comes first: saved files (and their fingerprints) follow
    # this field order.
    action_space: AbstractSpace
    observation_space: AbstractSpace
    convs: tuple[eqx.nn.Conv2d, ...]
    dense: MLP | None
    actor: MLP
    critic: MLP
    log_std: Float[Array, "*action_shape"] | None
    channels: tuple[int, ...] = eqx.field(static=True)
    kernel_sizes: tuple[int, ...] = eqx.field(static=True)
    strides: tuple[int, ...] = eqx.field(static=True)
    padding: str = eqx.field(static=True)
    channels_last: bool = eqx.field(static=True)
    hidden_sizes: tuple[int, ...] = eqx.field(static=True)
    actor_hidden_sizes: tuple[int, ...] = eqx.field(static=True)
    critic_hidden_sizes: tuple[int, ...] = eqx.field(static=True)
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
        kernel_sizes: int | Sequence[int] = 3,
        strides: int | Sequence[int] = 1,
        padding: str = "VALID",
        channels_last: bool = True,
        hidden_sizes: Sequence[int] = (128,),
        actor_hidden_sizes: Sequence[int] = (),
        critic_hidden_sizes: Sequence[int] = (),
        activation: Callable[[Array], Array] = jax.nn.relu,
        ortho_init: bool = True,
        hidden_gain: float = float(np.sqrt(2.0)),
        actor_gain: float = 0.01,
        critic_gain: float = 1.0,
        log_std_init: float = 0.0,
    ):
        """Create the policy.

        Args:
            env: The environment to take both spaces from. Pass either `env` or
                both `observation_space` and `action_space`.
            key: A JAX PRNG key for the initial weights (any key for a
                `deserialize` skeleton).
            observation_space: The observation space, when `env` is not given: a
                `Box` of shape `(height, width, channels)` (`(channels, height,
                width)` with `channels_last=False`) or `(height, width)`.
            action_space: The action space, when `env` is not given.
            channels: Output channels of each convolution (at least one).
            kernel_sizes: Kernel size per convolution, or one for all.
            strides: Stride per convolution, or one for all.
            padding: `"VALID"` (no padding) or `"SAME"`.
            channels_last: Whether a 3-D observation is `(height, width,
                channels)` (gymnax MinAtar, the default) rather than `(channels,
                height, width)`.
            hidden_sizes: Dense layers after the convolutions, shared by both
                heads (may be empty).
            actor_hidden_sizes: Hidden layers of the actor head (default none: a
                linear head).
            critic_hidden_sizes: Hidden layers of the critic head.
            activation: The activation after each convolution and hidden layer; a
                named, hashable function (it is a static field).
            ortho_init: Orthogonal initialisation (see above); otherwise
                Equinox's default.
            hidden_gain: Orthogonal gain of convolutions and hidden layers (> 0).
            actor_gain: Orthogonal gain of the actor's output layer (> 0).
            critic_gain: Orthogonal gain of the critic's output layer (> 0).
            log_std_init: Initial value of every entry of `log_std` (`Box`
                actions only).

        Raises:
            TypeError: If `env` is not a lerax environment.
            ValueError: If the spaces are missing, given twice or not lerax
                spaces; if the observation space is not a 2-D or 3-D `Box`; if
                the action space is not supported; if a size list, `padding`, a
                gain or `activation` is invalid; or if the convolutions shrink
                the image below 1x1 (the message gives the sizes).
        """
        check_key(_OWNER, key)
        observation_space, action_space = resolve_spaces(
            _OWNER, env, observation_space, action_space
        )
        if not isinstance(observation_space, Box) or len(
            observation_space.shape
        ) not in (2, 3):
            raise ValueError(
                f"{_OWNER}: the observation space must be a Box of 2 or 3 "
                f"dimensions (an image), got {observation_space!r}."
            )
        out_size = actor_output_size(_OWNER, action_space)
        channels = positive_ints(_OWNER, "channels", channels)
        if not channels:
            raise ValueError(f"{_OWNER}: channels must name at least one convolution.")
        kernel_sizes = positive_ints(
            _OWNER, "kernel_sizes", kernel_sizes, count=len(channels)
        )
        strides = positive_ints(_OWNER, "strides", strides, count=len(channels))
        hidden_sizes = positive_ints(_OWNER, "hidden_sizes", hidden_sizes)
        actor_sizes = positive_ints(_OWNER, "actor_hidden_sizes", actor_hidden_sizes)
        critic_sizes = positive_ints(_OWNER, "critic_hidden_sizes", critic_hidden_sizes)
        if padding not in ("VALID", "SAME"):
            raise ValueError(
                f"{_OWNER}: padding must be 'VALID' or 'SAME', got {padding!r}."
            )
        check_activation(_OWNER, activation)
        gains = orthogonal_gains(
            _OWNER, ortho_init, hidden_gain, actor_gain, critic_gain
        )

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
                    f"{_OWNER}: convolution {i} (kernel {k}, stride {s}, "
                    f"{padding}) does not fit its {height}x{width} input; use "
                    "smaller kernels or padding='SAME'."
                )
            height, width = new_h, new_w
        flat_size = height * width * channels[-1]

        convs, dense, actor, critic = _build(
            in_channels,
            flat_size,
            out_size,
            channels,
            kernel_sizes,
            strides,
            padding,
            hidden_sizes,
            actor_sizes,
            critic_sizes,
            activation,
            gains,
            key,
        )
        self.observation_space = observation_space
        self.action_space = action_space
        self.convs = convs
        self.dense = dense
        self.actor = actor
        self.critic = critic
        self.log_std = free_log_std(action_space, log_std_init)
        self.channels = channels
        self.kernel_sizes = kernel_sizes
        self.strides = strides
        self.padding = padding
        self.channels_last = channels_last
        self.hidden_sizes = hidden_sizes
        self.actor_hidden_sizes = actor_sizes
        self.critic_hidden_sizes = critic_sizes
        self.activation = activation

    def constructor_arguments(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this policy's structure (its recipe).

        Returns:
            The spaces and every structural argument; `lerax.load` rebuilds the
            policy from them.
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
            "actor_hidden_sizes": self.actor_hidden_sizes,
            "critic_hidden_sizes": self.critic_hidden_sizes,
            "activation": self.activation,
        }

    def features(self, observation: Any) -> Float[Array, " features"]:
        """The trunk's output for one observation: what both heads read.

        Args:
            observation: One observation from `observation_space`.

        Returns:
            The activated output of the last dense layer (of the flattened
            convolutions when `hidden_sizes` is empty).

        Raises:
            ValueError: At trace time, if the observation has the wrong shape.
        """
        self.observation_space.validate(observation, name=f"{self.name}: observation")
        x = jnp.asarray(observation, jnp.float32)
        if x.ndim == 2:
            x = x[None]
        elif self.channels_last:
            x = jnp.moveaxis(x, -1, 0)
        for conv in self.convs:
            x = self.activation(conv(x))
        x = x.reshape(-1)
        if self.dense is not None:
            x = self.dense.activation(self.dense(x))
        return x
