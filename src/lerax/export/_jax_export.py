"""Export a policy's action function as serialized StableHLO with `jax.export`.

The file holds one `jax.export.Exported`, serialized: a function of a batch of
observations (the batch dimension is symbolic, so any batch size works, one
included) returning a dict `{"action": ...}`, plus `"value"` when asked for and
`"state"` for policies with a state. It is loaded with `load_policy`, or without
lerax:

```python
from jax import export
exported = export.deserialize(open("policy.jaxexport", "rb").read())
actions = exported.call(observations)["action"]
```
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import export as jax_export
from jaxtyping import Array, Key

from lerax.policy import AbstractActorCriticPolicy, AbstractPolicy


def _require_flatbuffers() -> None:
    try:
        import flatbuffers  # noqa: F401
    except ImportError as err:
        raise ImportError(
            "Serializing a jax.export program needs the flatbuffers package: "
            "pip install lerax[export]"
        ) from err


def _batched_spec(example: Any, batch: Any) -> Any:
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct((batch, *jnp.shape(x)), jnp.asarray(x).dtype),
        example,
    )


def export_policy(
    policy: AbstractPolicy,
    path: str | os.PathLike,
    *,
    deterministic: bool = True,
    include_value: bool = False,
    platforms: Sequence[str] = ("cpu", "cuda"),
    key: Key[Array, ""] | None = None,
) -> Path:
    """Write `policy`'s action function to `path` as serialized StableHLO.

    The exported function takes a batch of observations (leading axis of any
    size, symbolic in the program) and returns a dict with `"action"` (a batch
    of actions), `"value"` (with `include_value=True`, actor-critic policies
    only) and, if the policy carries a state, `"state"`. Its positional inputs
    are, in order: the observations; the policy state as a tuple of its leaves
    (only for policies with a state); a batch of raw PRNG key data of shape
    `(batch, 2)`, uint32 (only with `deterministic=False`). Every container is a
    plain tuple or dict, so `jax.export.deserialize` needs nothing from lerax.

    Args:
        policy: A lerax policy (for example a trained `MLPActorCriticPolicy`).
        path: Where to write; `.jaxexport` is appended when there is no suffix.
        deterministic: Export the deterministic action (the mode of the action
            distribution); `False` exports sampling, with key data as input.
        include_value: Also return the critic's value of each observation.
        platforms: The platforms the program is lowered for (it runs on any of
            them).
        key: The key for the policy's initial state, used only to find the
            state's structure (and written nowhere); by default `key(0)`.

    Returns:
        The path written.

    Raises:
        TypeError: If `policy` is not a lerax policy, or `include_value` is
            asked of a policy without a critic.
        ImportError: If `flatbuffers` is missing (`pip install lerax[export]`).
    """
    if not isinstance(policy, AbstractPolicy):
        raise TypeError(
            f"export_policy: policy must be a lerax AbstractPolicy, got "
            f"{type(policy).__name__}."
        )
    if include_value and not isinstance(policy, AbstractActorCriticPolicy):
        raise TypeError(
            f"export_policy: include_value=True needs an actor-critic policy, got "
            f"{type(policy).__name__}."
        )
    _require_flatbuffers()
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".jaxexport")
    key = jax.random.key(0) if key is None else key
    initial_state = policy.reset(key=key)
    state_leaves, state_def = jax.tree.flatten(initial_state)
    stateful = len(state_leaves) > 0
    params, static = eqx.partition(policy, eqx.is_array)

    def one(params, observation, state_leaves, key_data):
        live = eqx.combine(params, static)
        state = jax.tree.unflatten(state_def, state_leaves)
        key = None if key_data is None else jax.random.wrap_key_data(key_data)
        new_state, action = live(state, observation, key=key)
        out = {"action": action}
        if include_value:
            out["value"] = live.value(state, observation)[1]
        if stateful:
            out["state"] = tuple(jax.tree.leaves(new_state))
        return out

    def program(observation, *rest):
        rest = list(rest)
        leaves = tuple(rest.pop(0)) if stateful else ()
        key_data = None if deterministic else rest.pop(0)
        return jax.vmap(one, in_axes=(None, 0, 0, 0))(
            params, observation, leaves, key_data
        )

    (batch,) = jax_export.symbolic_shape("batch")
    example_observation = policy.observation_space.sample(key=jax.random.key(0))
    args = [_batched_spec(example_observation, batch)]
    if stateful:
        args.append(_batched_spec(tuple(state_leaves), batch))
    if not deterministic:
        args.append(jax.ShapeDtypeStruct((batch, 2), jnp.uint32))
    exported = jax_export.export(jax.jit(program), platforms=tuple(platforms))(*args)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(exported.serialize())
    os.replace(tmp, path)
    return path


class ExportedPolicy:
    """A policy loaded from an `export_policy` file: call it on observations.

    Attributes:
        exported: The deserialized `jax.export.Exported`.
    """

    def __init__(self, exported: jax_export.Exported):
        """Wrap a deserialized program.

        Args:
            exported: What `jax.export.deserialize` returned for the file.
        """
        self.exported = exported
        # The observation's first leaf is the program's first input.
        self._first_rank = len(exported.in_avals[0].shape)
        self._call = jax.jit(exported.call)

    def __call__(self, observation: Any, *args: Any) -> dict[str, Any]:
        """Run the exported function on one observation or a batch of them.

        An observation whose leaves have the exported rank without the batch
        axis is treated as one observation: a batch axis is added and removed.

        Args:
            observation: One observation or a batch (leading axis).
            *args: The policy state leaves and/or key data, as exported (batched
                like the observation).

        Returns:
            The exported function's dict (`"action"`, and `"value"`/`"state"`
            when exported).
        """
        single = np.ndim(jax.tree.leaves(observation)[0]) == self._first_rank - 1
        if single:
            observation, args = jax.tree.map(
                lambda x: jnp.asarray(x)[None], (observation, args)
            )
        out = self._call(observation, *args)
        if single:
            out = jax.tree.map(lambda x: x[0], out)
        return out


def load_policy(path: str | os.PathLike) -> ExportedPolicy:
    """Load a policy written by `export_policy`.

    Args:
        path: The file (`.jaxexport` is appended when there is no suffix).

    Returns:
        A callable `ExportedPolicy`.

    Raises:
        FileNotFoundError: If the file does not exist.
    """
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".jaxexport")
    if not path.exists():
        raise FileNotFoundError(f"load_policy: no exported policy at {path}.")
    return ExportedPolicy(jax_export.deserialize(bytearray(path.read_bytes())))
