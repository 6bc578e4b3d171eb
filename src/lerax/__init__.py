"""lerax: Equinox-native on-policy reinforcement learning for JAX.

Import from the subpackages: `lerax.space`, `lerax.env`, `lerax.policy`,
`lerax.distribution`, `lerax.buffer`, `lerax.algorithm`, `lerax.callback`,
`lerax.evaluation` and `lerax.compatibility.gymnax`.
"""

__version__ = "0.1.0"
