"""`check_env_and_policy`: a policy handed to `learn` or `evaluate_policy` fits its env.

It lives with the policies because it checks a policy against an environment,
the layer below; the algorithms and the evaluation, above both, call it.
"""

from __future__ import annotations

from typing import Any

from lerax.env import require_env
from lerax.space import describe_space

from ._base import AbstractPolicy


def check_env_and_policy(env: Any, policy: Any, *, owner: str = "learn") -> None:
    """Check that `env` is a lerax environment and `policy` was built for it.

    Args:
        env: The environment.
        policy: The policy.
        owner: The function that received them, for the message.

    Raises:
        TypeError: If `env` is not an `AbstractEnvLike`, or `policy` is not an
            `AbstractPolicy`.
        ValueError: If the policy's action or observation space differs from
            the environment's.
    """
    require_env(owner, env)
    if not isinstance(policy, AbstractPolicy):
        raise TypeError(
            f"{owner}: policy must be a lerax AbstractPolicy, got "
            f"{type(policy).__name__}."
        )
    pairs = (
        ("observation_space", policy.observation_space, env.observation_space),
        ("action_space", policy.action_space, env.action_space),
    )
    for which, policy_space, env_space in pairs:
        if policy_space != env_space:
            raise ValueError(
                f"{owner}: policy.{which} is {describe_space(policy_space)} but "
                f"env.{which} is {describe_space(env_space)}: build the policy "
                "from this env."
            )
