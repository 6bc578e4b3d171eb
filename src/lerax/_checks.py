"""Checks shared by the algorithms and the evaluation: run before compiling."""

from __future__ import annotations

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
