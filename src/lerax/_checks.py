"""Checks shared by the algorithms and the evaluation: run before compiling."""

from __future__ import annotations

import numbers
from typing import Any

from lerax.env import AbstractEnvLike


def check_env_and_policy(env: Any, policy: Any) -> None:
    """Check that `env` is a lerax environment and `policy` was built for it.

    Args:
        env: The environment.
        policy: The policy.

    Raises:
        TypeError: If `env` is not an `AbstractEnvLike`.
        ValueError: If the policy's action or observation space differs from
            the environment's.
    """
    if not isinstance(env, AbstractEnvLike):
        raise TypeError(
            f"env must be a lerax AbstractEnvLike, got {type(env).__name__}; "
            "wrap gymnax envs with lerax.compatibility.gymnax.GymnaxToLeraxEnv."
        )
    for which in ("observation_space", "action_space"):
        env_space = getattr(env, which)
        policy_space = getattr(policy, which, None)
        if policy_space != env_space:
            raise ValueError(
                f"policy.{which} is {policy_space!r} but env.{which} is "
                f"{env_space!r}: build the policy from this env."
            )


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
        raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}.")
