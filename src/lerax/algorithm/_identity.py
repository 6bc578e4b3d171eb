"""The identity of a run: what must match for a checkpoint to continue it.

A `Checkpointer` stores these entries beside its checkpoints and refuses to
resume a run whose entries differ (another algorithm, hyperparameter value,
environment, policy or callback), naming the first difference.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import equinox as eqx
import jax
import numpy as np

from lerax._serialization import structure_entries


def run_identity(
    algorithm: eqx.Module, initial_state: Any, num_iterations: int
) -> dict[str, str]:
    """What must match for a checkpoint to continue this run.

    The algorithm's class, static settings and hyperparameter values, and
    the structure (types, static fields, array shapes and dtypes) of the
    whole initial state: environment, policy, optimizer and callbacks.

    Args:
        algorithm: The algorithm.
        initial_state: The run's initial state, or its shape (from
            `eqx.filter_eval_shape` of the driver's `reset`).
        num_iterations: The planned number of iterations.

    Returns:
        `path -> description` entries.
    """
    identity = {
        "algorithm": f"{type(algorithm).__module__}.{type(algorithm).__qualname__}",
        "num_iterations": str(num_iterations),
    }
    # Every declared field, described by name (reflection over the dataclass
    # fields, not a capability probe).
    for field in dataclasses.fields(algorithm):
        if isinstance(getattr(type(algorithm), field.name, None), property):
            continue  # derived (the optimizer, the batch size)
        value = getattr(algorithm, field.name)
        if isinstance(value, jax.core.Tracer):
            described = "traced"
        elif eqx.is_array(value):
            described = np.array2string(np.asarray(value), precision=8)
        elif callable(value):
            described = (
                f"{getattr(value, '__module__', '?')}."
                f"{getattr(value, '__qualname__', type(value).__qualname__)}"
            )
        else:
            described = re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))
        identity[f"algorithm.{field.name}"] = described
    try:
        entries = structure_entries(initial_state)
    except Exception:  # an object the describer refuses: shapes still count
        entries = [
            (jax.tree_util.keystr(path), f"{leaf.dtype}{list(leaf.shape)}")
            for path, leaf in jax.tree_util.tree_flatten_with_path(initial_state)[0]
            if isinstance(leaf, jax.ShapeDtypeStruct)
        ]
    for path, description in entries:
        identity[f"state.{path}"] = description
    return identity
