"""gymnax and lerax both ways.

- `GymnaxToLeraxEnv`: a gymnax environment as a lerax environment.
- `LeraxToGymnaxEnv`: a lerax environment as a gymnax 1.x `Environment`.
"""

from ._gymnax import (
    GymnaxEnvState as GymnaxEnvState,
    GymnaxToLeraxEnv as GymnaxToLeraxEnv,
    convert_space as convert_space,
)
from ._gymnax_reverse import (
    LeraxGymnaxParams as LeraxGymnaxParams,
    LeraxGymnaxState as LeraxGymnaxState,
    LeraxToGymnaxEnv as LeraxToGymnaxEnv,
    to_gymnax_space as to_gymnax_space,
)

__all__ = [
    "GymnaxEnvState",
    "GymnaxToLeraxEnv",
    "LeraxGymnaxParams",
    "LeraxGymnaxState",
    "LeraxToGymnaxEnv",
    "convert_space",
    "to_gymnax_space",
]
