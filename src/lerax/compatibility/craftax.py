"""Use Craftax environments as lerax environments: `CraftaxToLeraxEnv`.

Needs the `craftax` extra: `pip install 'lerax[craftax]'` (Craftax is imported
when an adapter is made, not when this module is imported).
"""

from ._craftax import (
    CRAFTAX_IDS as CRAFTAX_IDS,
    CraftaxEnvState as CraftaxEnvState,
    CraftaxToLeraxEnv as CraftaxToLeraxEnv,
)

__all__ = ["CRAFTAX_IDS", "CraftaxEnvState", "CraftaxToLeraxEnv"]
