"""Run trained policies without lerax: `export_policy`, `load_policy`.

`export_policy` writes a policy's action function as serialized StableHLO
(`jax.export`), which any JAX process can load with `jax.export.deserialize`.
Needs the `export` extra (`flatbuffers`): `pip install lerax[export]`.
"""

from ._jax_export import (
    ExportedPolicy as ExportedPolicy,
    export_policy as export_policy,
    load_policy as load_policy,
)

__all__ = ["ExportedPolicy", "export_policy", "load_policy"]
