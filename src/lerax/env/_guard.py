"""`require_env`: the type guard of every entry point that takes an environment.

Policy constructors, wrappers, the adapters back to gymnax and Gymnasium, the
algorithms' `learn`/`learn_state`, `evaluate_policy` and `check_env` all call
it, so the same mistake gets the same `TypeError` everywhere. It is not the
public env checker `lerax.env.check_env`, which runs an environment to find
what is wrong with it; this only checks the type.
"""

from __future__ import annotations

from typing import Any

from ._base import AbstractEnvLike


def _module_roots(obj: Any) -> set[str]:
    """The top-level package names of the classes in `type(obj).__mro__`."""
    return {(cls.__module__ or "").split(".", 1)[0] for cls in type(obj).__mro__}


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


def require_env(owner: str, env: Any) -> None:
    """Raise a `TypeError` unless `env` is a lerax environment or wrapper.

    Call it first in anything that takes an environment (a custom policy's
    constructor, a custom wrapper or algorithm), so a raw gymnax or Gymnasium
    environment is refused before anything is traced, with a message that names
    the adapter to use.

    Args:
        owner: The class or function that received `env`, for the message.
        env: The value passed as the environment.

    Raises:
        TypeError: If `env` is not an `AbstractEnvLike`.
    """
    if not isinstance(env, AbstractEnvLike):
        raise TypeError(
            f"{owner}: env must be a lerax AbstractEnvLike (an environment or a "
            f"wrapper), got {type(env).__name__}; {_adapter_hint(env)}."
        )
