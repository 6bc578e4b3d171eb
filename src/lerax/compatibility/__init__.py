"""Adapters that make environments from other JAX libraries lerax environments.

`make("suite:id")` makes any registered environment of an adapted suite
(gymnax, Gymnasium, Brax, Jumanji, Craftax); `lerax.make` is the same function.
The adapters stay importable from their modules, for example
`from lerax.compatibility.gymnax import GymnaxToLeraxEnv`.
"""

from ._registry import (
    make as make,
    registered_ids as registered_ids,
    suites as suites,
)

__all__ = ["make", "registered_ids", "suites"]
