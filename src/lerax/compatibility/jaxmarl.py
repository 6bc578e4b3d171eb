"""Use JaxMARL environments as lerax multi-agent environments: `JaxMARLToLeraxEnv`.

Needs the `jaxmarl` extra: `pip install 'lerax[jaxmarl]'` (JaxMARL is imported
when an adapter is made, not when this module is imported).
"""

from ._jaxmarl import (
    JaxMARLEnvState as JaxMARLEnvState,
    JaxMARLToLeraxEnv as JaxMARLToLeraxEnv,
    convert_jaxmarl_space as convert_jaxmarl_space,
)

__all__ = ["JaxMARLEnvState", "JaxMARLToLeraxEnv", "convert_jaxmarl_space"]
