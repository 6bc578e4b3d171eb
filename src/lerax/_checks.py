"""Checks shared by the algorithms, policies, wrappers and the evaluation.

They run in Python before anything is compiled, so a mistake is reported with a
message that names it instead of surfacing from inside XLA.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

_MAX_SHOWN = 6  # numbers `plain` shows of a larger array


def _module_roots(obj: Any) -> set[str]:
    """The top-level package names of the classes in `type(obj).__mro__`."""
    roots = set()
    for cls in type(obj).__mro__:
        module = getattr(cls, "__module__", None) or ""
        roots.add(module.split(".", 1)[0])
    return roots


def _adapter_hint(env: Any) -> str:
    # Detected by the modules of the classes, so neither gymnax nor gymnasium is
    # imported here (they are optional).
    roots = _module_roots(env)
    if "gymnax" in roots:
        return (
            "it looks like a gymnax environment: wrap it with "
            "lerax.compatibility.gymnax.GymnaxToLeraxEnv(env, params)"
        )
    if "gymnasium" in roots or "gym" in roots:
        return (
            "it looks like a Gymnasium environment: wrap it with "
            "lerax.compatibility.gymnasium.GymnasiumToLeraxEnv"
        )
    return (
        "subclass lerax.env.AbstractEnv, or wrap a gymnax environment with "
        "lerax.compatibility.gymnax.GymnaxToLeraxEnv or a Gymnasium one with "
        "lerax.compatibility.gymnasium.GymnasiumToLeraxEnv"
    )


def check_env(owner: str, env: Any) -> None:
    """Raise a `TypeError` unless `env` is a lerax environment or wrapper.

    Every entry point that takes an environment (policy constructors, wrappers,
    the algorithms' `learn`/`learn_state`, `evaluate_policy`) calls this, so the
    same mistake gets the same exception everywhere. The message says which
    adapter to use for a gymnax or a Gymnasium environment.

    Args:
        owner: The class or function that received `env`, for the message.
        env: The value passed as the environment.

    Raises:
        TypeError: If `env` is not an `AbstractEnvLike`.
    """
    # Imported here so that this module imports nothing from lerax at load time:
    # the spaces and environments use `plain` and `check_env` themselves.
    from lerax.env import AbstractEnvLike

    if not isinstance(env, AbstractEnvLike):
        raise TypeError(
            f"{owner}: env must be a lerax AbstractEnvLike (an environment or a "
            f"wrapper), got {type(env).__name__}; {_adapter_hint(env)}."
        )


def check_env_and_policy(env: Any, policy: Any, *, owner: str = "learn") -> None:
    """Check that `env` is a lerax environment and `policy` was built for it.

    Args:
        env: The environment.
        policy: The policy.
        owner: The function that received them, for the message.

    Raises:
        TypeError: If `env` is not an `AbstractEnvLike`.
        ValueError: If the policy's action or observation space differs from
            the environment's.
    """
    check_env(owner, env)
    for which in ("observation_space", "action_space"):
        env_space = getattr(env, which)
        policy_space = getattr(policy, which, None)
        if policy_space != env_space:
            raise ValueError(
                f"{owner}: policy.{which} is {_describe_space(policy_space)} but "
                f"env.{which} is {_describe_space(env_space)}: build the policy "
                "from this env."
            )


def _describe_space(space: Any) -> str:
    """A space's repr, with the bounds of a `Box` (its repr leaves them out)."""
    from lerax.space import Box

    if isinstance(space, Box):
        inner = repr(space)[:-1]
        return f"{inner}, low={plain(space.low)}, high={plain(space.high)})"
    return repr(space)


def plain(value: Any) -> str:
    """Format a number (or a small array of them) as plain numbers.

    `plain(jnp.asarray(-1.0))` is `"-1.0"`, not `"Array(-1., dtype=float32)"`,
    so error messages read the way the user wrote the value.

    Args:
        value: A Python number, a NumPy or JAX scalar or array, or anything else.

    Returns:
        A short string: a number, a list of numbers (the first few, then the
        count, for a large array), or `repr(value)` for values that are not
        numeric.
    """
    if isinstance(value, (bool, str)) or value is None:
        return repr(value)
    try:
        arr = np.asarray(value)
    except Exception:  # a tracer or an object NumPy cannot convert
        return repr(value)
    if arr.dtype.kind not in "biuf":
        return repr(value)
    if arr.ndim == 0:
        return repr(arr.item())
    flat = arr.reshape(-1)
    if flat.size > _MAX_SHOWN:
        head = ", ".join(repr(v) for v in flat[:_MAX_SHOWN].tolist())
        return f"[{head}, ... ({flat.size} values)]"
    return repr(arr.tolist())


def check_size(owner: str, name: str, value: Any) -> None:
    """Raise a `ValueError` naming `name` unless `value` is a positive int.

    Args:
        owner: The class or function the value belongs to, for the message.
        name: The argument's name.
        value: The value.

    Raises:
        ValueError: If `value` is not a positive integer (bools are rejected).
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or int(value) < 1
    ):
        raise ValueError(f"{owner}: {name} must be a positive int, got {plain(value)}.")
