"""Use Jumanji environments as lerax environments: `JumanjiToLeraxEnv`.

Needs the `jumanji` extra: `pip install 'lerax[jumanji]'` (Jumanji is imported
when an adapter is made, not when this module is imported).
"""

from ._jumanji import (
    JumanjiEnvState as JumanjiEnvState,
    JumanjiToLeraxEnv as JumanjiToLeraxEnv,
    convert_jumanji_spec as convert_jumanji_spec,
)

__all__ = ["JumanjiEnvState", "JumanjiToLeraxEnv", "convert_jumanji_spec"]
