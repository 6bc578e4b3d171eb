"""The parts the built-in actor-critic policies share.

Layer stacks and their orthogonal initialisation, the action distribution an
actor's output parameterises, and the constructor checks (spaces, sizes,
activation, gains). The MLP, CNN and recurrent policies build from these, so a
network or a check is written once.
"""

import numbers
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Key

from lerax._checks import check_size, plain
from lerax.distribution import (
    AbstractDistribution,
    Bernoulli,
    Categorical,
    DiagGaussian,
    MultiCategorical,
)
from lerax.env import require_env
from lerax.space import AbstractSpace, Box, Discrete, MultiBinary, MultiDiscrete

SUPPORTED_ACTIONS = (Discrete, MultiDiscrete, MultiBinary, Box)


# --------------------------------------------------------------------------------
# Networks


def linear_stack(
    sizes: tuple[int | str, ...], *, key: Key[Array, ""]
) -> tuple[eqx.nn.Linear, ...]:
    """Linear layers between consecutive `sizes` (`"scalar"` for a scalar output).

    The keys are split as `eqx.nn.MLP` splits them, so uniform widths give
    exactly the layers `eqx.nn.MLP(in, out, width, depth, key=key)` would.

    Args:
        sizes: The input size, the hidden sizes and the output size.
        key: A JAX PRNG key.

    Returns:
        The layers, input to output (none for a single size).
    """
    keys = jax.random.split(key, len(sizes) - 1)
    return tuple(
        eqx.nn.Linear(a, b, key=k)
        for a, b, k in zip(sizes[:-1], sizes[1:], keys, strict=True)
    )


def orthogonal(
    layers: tuple[eqx.nn.Linear, ...],
    *,
    hidden_gain: float,
    final_gain: float,
    key: Key[Array, ""],
) -> tuple[eqx.nn.Linear, ...]:
    """Orthogonal weights with the given gains and zero biases, layer by layer.

    Args:
        layers: The layers, input to output.
        hidden_gain: The gain of every layer but the last.
        final_gain: The gain of the last layer.
        key: A JAX PRNG key.

    Returns:
        The re-initialised layers.
    """
    keys = jax.random.split(key, len(layers))
    out = []
    for i, (layer, k) in enumerate(zip(layers, keys, strict=True)):
        gain = final_gain if i == len(layers) - 1 else hidden_gain
        init = jax.nn.initializers.orthogonal(scale=gain)
        weight = init(k, layer.weight.shape, layer.weight.dtype)
        out.append(
            eqx.tree_at(
                lambda lin: (lin.weight, lin.bias),
                layer,
                (weight, jnp.zeros_like(layer.bias)),
            )
        )
    return tuple(out)


# --------------------------------------------------------------------------------
# Action heads


def actor_output_size(owner: str, space: AbstractSpace) -> int:
    """The number of actor outputs an action space needs.

    Discrete / MultiDiscrete: one logit per choice; MultiBinary: one logit per
    entry; Box: one mean per coordinate.

    Args:
        owner: The policy's name, for the message.
        space: The action space.

    Returns:
        The size of the actor's output (before any state-dependent log-std).

    Raises:
        ValueError: If the space is not one of `SUPPORTED_ACTIONS`.
    """
    if isinstance(space, SUPPORTED_ACTIONS):
        return space.flat_size
    raise ValueError(
        f"{owner} does not support the action space {space!r}; supported: "
        + ", ".join(c.__name__ for c in SUPPORTED_ACTIONS)
        + "."
    )


def free_log_std(
    action_space: AbstractSpace, log_std_init: float
) -> Float[Array, "*action_shape"] | None:
    """The free log-std parameter of a Gaussian policy (`None` unless `Box`).

    Args:
        action_space: The action space.
        log_std_init: The initial value of every entry.

    Returns:
        An array of `action_space.shape`, or `None` for non-`Box` actions.
    """
    if isinstance(action_space, Box):
        return jnp.full(action_space.shape, log_std_init, jnp.float32)
    return None


def action_distribution(
    owner: str,
    space: AbstractSpace,
    out: Float[Array, " out_size"],
    log_std: Float[Array, "*action_shape"] | None,
    action_mask: Any,
) -> AbstractDistribution:
    """The action distribution an actor's output parameterises.

    For `Box` actions the log-std is the free parameter `log_std`; when it is
    `None` the log-std is state-dependent: `out` holds the means, then the
    log-stds (clipped to [-20, 2]).

    Args:
        owner: The policy's name, for messages.
        space: The action space.
        out: The actor's output.
        log_std: The free log-std (`Box`, state-independent), else `None`.
        action_mask: The action mask, if any.

    Returns:
        The distribution.

    Raises:
        ValueError: If a mask is given for `Box` actions, or the space is not
            supported.
    """
    # Under mixed precision (`PPO(compute_dtype=jnp.bfloat16)`) the network's
    # output is bfloat16; the distribution (log-probabilities, hence the
    # importance ratio) is computed in float32 at least. A no-op otherwise.
    out = out.astype(jnp.promote_types(out.dtype, jnp.float32))
    if log_std is not None:
        log_std = log_std.astype(jnp.promote_types(log_std.dtype, jnp.float32))
    if isinstance(space, Discrete):
        return Categorical(out, mask=action_mask)
    if isinstance(space, MultiDiscrete):
        return MultiCategorical(out, space.nvec, mask=action_mask)
    if isinstance(space, MultiBinary):
        return Bernoulli(out, mask=action_mask)
    if isinstance(space, Box):
        if action_mask is not None:
            raise ValueError(f"{owner}: Box action spaces take no action_mask.")
        if log_std is None:
            mean, log_std = jnp.split(out, 2)
            log_std = jnp.clip(log_std, -20.0, 2.0)
            return DiagGaussian(mean.reshape(space.shape), log_std.reshape(space.shape))
        return DiagGaussian(out.reshape(space.shape), log_std)
    raise ValueError(f"{owner}: unsupported action space {space!r}.")


# --------------------------------------------------------------------------------
# Constructor checks


def resolve_spaces(
    owner: str,
    env: Any,
    observation_space: AbstractSpace | None,
    action_space: AbstractSpace | None,
) -> tuple[AbstractSpace, AbstractSpace]:
    """The policy's spaces: the environment's, or the two given.

    Args:
        owner: The policy's name, for messages.
        env: The environment, or `None`.
        observation_space: The observation space given, or `None`.
        action_space: The action space given, or `None`.

    Returns:
        `(observation_space, action_space)`.

    Raises:
        TypeError: If `env` is not a lerax environment.
        ValueError: If the spaces are given along with `env`, missing, or not
            lerax spaces.
    """
    if env is not None:
        if observation_space is not None or action_space is not None:
            raise ValueError(
                f"{owner}: pass either env or observation_space and action_space, "
                "not both."
            )
        require_env(owner, env)
        observation_space, action_space = env.observation_space, env.action_space
    for arg, space in (
        ("observation_space", observation_space),
        ("action_space", action_space),
    ):
        if space is None:
            raise ValueError(f"{owner}: {arg} is missing; pass env or both spaces.")
        if not isinstance(space, AbstractSpace):
            raise ValueError(
                f"{owner}: {arg} must be a lerax space, got {type(space).__name__}."
            )
    return observation_space, action_space


def positive_ints(
    owner: str, name: str, value: Any, *, count: int | None = None
) -> tuple[int, ...]:
    """`value` as a tuple of positive ints.

    Args:
        owner: The policy's name, for messages.
        name: The argument's name.
        value: A sequence of positive ints; with `count`, also a single int,
            repeated `count` times.
        count: The number of entries required, or `None` for any number.

    Returns:
        The entries as Python ints.

    Raises:
        ValueError: If `value` is not such a sequence (the message names the
            entry), or has not `count` entries.
    """
    if count is not None and isinstance(value, numbers.Integral):
        value = (value,) * count
    try:
        sizes = tuple(value)
    except TypeError:
        either = "a positive int or " if count is not None else ""
        raise ValueError(
            f"{owner}: {name} must be {either}a sequence of positive ints, got "
            f"{plain(value)}."
        ) from None
    for i, size in enumerate(sizes):
        check_size(owner, f"{name}[{i}]", size)
    if count is not None and len(sizes) != count:
        raise ValueError(
            f"{owner}: {name} has {len(sizes)} entries but channels has {count}; "
            "give one per convolution (or a single integer)."
        )
    return tuple(int(size) for size in sizes)


def check_activation(owner: str, activation: Callable[[Array], Array]) -> None:
    """Refuse an activation that is not a hashable callable (a static field).

    Args:
        owner: The policy's name, for messages.
        activation: The activation.

    Raises:
        ValueError: If it is not callable or not hashable.
    """
    if not callable(activation):
        raise ValueError(f"{owner}: activation must be callable, got {activation!r}.")
    try:
        hash(activation)
    except TypeError as err:
        raise ValueError(
            f"{owner}: activation must be hashable (it is a static field)."
        ) from err


def orthogonal_gains(
    owner: str,
    ortho_init: bool,
    hidden_gain: float,
    actor_gain: float,
    critic_gain: float,
) -> tuple[float, float, float] | None:
    """Check the orthogonal-init gains; the triple to build with, or `None`.

    Args:
        owner: The policy's name, for messages.
        ortho_init: Whether orthogonal initialisation is asked for.
        hidden_gain: The gain of hidden layers.
        actor_gain: The gain of the actor's output layer.
        critic_gain: The gain of the critic's output layer.

    Returns:
        `(hidden_gain, actor_gain, critic_gain)` as floats with `ortho_init`,
        else `None`.

    Raises:
        ValueError: If a gain is not > 0 (checked with or without
            `ortho_init`).
    """
    gains = {
        "hidden_gain": hidden_gain,
        "actor_gain": actor_gain,
        "critic_gain": critic_gain,
    }
    for name, gain in gains.items():
        if not float(gain) > 0:
            raise ValueError(f"{owner}: {name} must be > 0, got {plain(gain)}.")
    if not ortho_init:
        return None
    return (float(hidden_gain), float(actor_gain), float(critic_gain))


def label_actor_critic(policy: Any) -> Any:
    """Label a policy with `actor`, `critic` and `log_std` fields by part.

    Args:
        policy: A policy whose fields `actor`, `critic` and `log_std` are its
            actor head, critic head and free log-std (or `None`).

    Returns:
        A pytree of the policy's structure: `"actor"` under `actor` and
        `log_std`, `"critic"` under `critic`, `"shared"` elsewhere.
    """
    labels = jax.tree.map(lambda _: "shared", policy)
    labels = eqx.tree_at(
        lambda p: (p.actor, p.critic),
        labels,
        (
            jax.tree.map(lambda _: "actor", policy.actor),
            jax.tree.map(lambda _: "critic", policy.critic),
        ),
    )
    if policy.log_std is not None:
        labels = eqx.tree_at(lambda p: p.log_std, labels, "actor")
    return labels
