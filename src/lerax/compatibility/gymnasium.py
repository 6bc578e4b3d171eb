"""Use Gymnasium environments with lerax, and lerax environments with Gymnasium.

- `GymnasiumToLeraxEnv`: Gymnasium environments (an id or a constructor) as a
  lerax env, stepped as a vector env from inside lerax's compiled rollout.
- `LeraxToGymnasiumEnv`: a lerax env as a `gymnasium.Env`.
- `LeraxToGymnasiumVectorEnv`: copies of a lerax env as a Gymnasium vector env,
  stepped by one compiled function.

Needs the `gymnasium` extra: `pip install lerax[gymnasium]`.
"""

from ._gymnasium import (
    GymnasiumEnvState as GymnasiumEnvState,
    GymnasiumToLeraxEnv as GymnasiumToLeraxEnv,
)
from ._gymnasium_spaces import (
    from_gymnasium_space as from_gymnasium_space,
    to_gymnasium_space as to_gymnasium_space,
)
from ._lerax_to_gymnasium import (
    LeraxToGymnasiumEnv as LeraxToGymnasiumEnv,
    LeraxToGymnasiumVectorEnv as LeraxToGymnasiumVectorEnv,
)

__all__ = [
    "GymnasiumEnvState",
    "GymnasiumToLeraxEnv",
    "LeraxToGymnasiumEnv",
    "LeraxToGymnasiumVectorEnv",
    "from_gymnasium_space",
    "to_gymnasium_space",
]
