"""Use gymnax environments as lerax environments: `GymnaxToLeraxEnv`."""

from ._gymnax import (
    GymnaxEnvState as GymnaxEnvState,
    GymnaxToLeraxEnv as GymnaxToLeraxEnv,
    convert_space as convert_space,
)

__all__ = ["GymnaxEnvState", "GymnaxToLeraxEnv", "convert_space"]
