"""Use Brax environments as lerax environments: `BraxToLeraxEnv`.

Needs the `brax` extra: `pip install lerax[brax]` (Brax is imported when an
adapter is made, not when this module is imported).
"""

from ._brax import BraxEnvState as BraxEnvState, BraxToLeraxEnv as BraxToLeraxEnv

__all__ = ["BraxEnvState", "BraxToLeraxEnv"]
