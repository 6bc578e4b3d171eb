"""lerax: Equinox-native on-policy reinforcement learning for JAX.

Import from the subpackages: `lerax.space`, `lerax.env`, `lerax.policy`,
`lerax.distribution`, `lerax.buffer`, `lerax.algorithm`, `lerax.callback`,
`lerax.evaluation` and `lerax.compatibility.gymnax`. `lerax.train_seeds`,
`lerax.sweep`, `lerax.select` and `lerax.pbt` are `lerax.scale`'s, `lerax.make` is
`lerax.compatibility.make`, and `lerax.load` (a saved policy rebuilt from its
file alone) is `lerax.policy.load` (each imported on first use).
"""

__version__ = "0.1.0"

_SCALE = ("train_seeds", "sweep", "select", "pbt")


def __getattr__(name: str):
    # Lazy, so `import lerax` stays light and free of import cycles.
    if name in _SCALE:
        from lerax import scale

        return getattr(scale, name)
    if name == "load":
        from lerax.policy import load

        return load
    if name == "make":
        from lerax.compatibility import make

        return make
    raise AttributeError(f"module 'lerax' has no attribute {name!r}")
