"""The abstract base of every environment wrapper."""

from typing import Any

import jax
from equinox import AbstractVar

from ._base import AbstractEnvLike, ActType, MaskType, ObsType, StateType


class AbstractWrapper(AbstractEnvLike[StateType, ActType, ObsType, MaskType]):
    """An environment-like module that modifies an inner environment-like module.

    A wrapper implements the decomposed methods (`initial`, `transition`,
    `observation`, `reward`, `terminal`, `truncate`, `action_mask`) in terms of
    its inner `env`; `reset` and `step` come from `AbstractEnvLike` unchanged, so
    wrappers stack in any order and never reset the episode themselves.

    Wrappers that keep no state of their own pass the inner state through
    unchanged; wrappers that do (such as `TimeLimit`) hold the inner state in a
    field of their own state.

    Attributes:
        env: The wrapped environment (or wrapper).
    """

    env: AbstractVar[AbstractEnvLike]

    @property
    def unwrapped(self) -> "AbstractEnvLike":
        """The innermost environment, below every wrapper."""
        return self.env.unwrapped


def _check_env(owner: str, env: Any) -> None:
    """Raise a `ValueError` naming `owner` unless `env` is environment-like."""
    if not isinstance(env, AbstractEnvLike):
        raise ValueError(
            f"{owner}: env must be a lerax AbstractEnvLike (an environment or a "
            f"wrapper), got {type(env).__name__}."
        )


def _example(space: Any) -> Any:
    """Shape/dtype structs of one element of `space`, without drawing one."""
    return jax.eval_shape(lambda: space.sample(key=jax.random.key(0)))
