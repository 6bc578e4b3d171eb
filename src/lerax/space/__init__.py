"""Spaces: the sets of observations and actions an environment works with."""

from ._base import AbstractSpace as AbstractSpace
from ._box import Box as Box
from ._composite import Dict as Dict, Tuple as Tuple
from ._describe import describe_space as describe_space
from ._discrete import Discrete as Discrete
from ._json import space_from_json as space_from_json, space_to_json as space_to_json
from ._multi_binary import MultiBinary as MultiBinary
from ._multi_discrete import MultiDiscrete as MultiDiscrete

__all__ = [
    "AbstractSpace",
    "Box",
    "Dict",
    "Discrete",
    "MultiBinary",
    "MultiDiscrete",
    "Tuple",
    "describe_space",
    "space_from_json",
    "space_to_json",
]
