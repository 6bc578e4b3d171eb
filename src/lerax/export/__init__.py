"""Run trained policies without lerax: `export_policy`, `load_policy`, `export_onnx`.

`export_policy` writes a policy's action function as serialized StableHLO
(`jax.export`), which any JAX process can load with `jax.export.deserialize`.
Needs the `export` extra (`flatbuffers`): `pip install lerax[export]`.
`export_onnx` writes the greedy action function as an ONNX model (through
jax2onnx), which onnxruntime and other ONNX runtimes run. Needs the `onnx`
extra: `pip install 'lerax[onnx]'`.
"""

from ._jax_export import (
    ExportedPolicy as ExportedPolicy,
    export_policy as export_policy,
    load_policy as load_policy,
)
from ._onnx import export_onnx as export_onnx

__all__ = ["ExportedPolicy", "export_onnx", "export_policy", "load_policy"]
