"""Export a policy's greedy action function to ONNX, through jax2onnx.

The ONNX graph takes a batch of observations (the batch dimension is dynamic,
named `"batch"`) and, for a policy with a state (a recurrent policy), the state
as explicit inputs; it returns the greedy actions, optionally the critic's
values, and the next state. Any ONNX runtime can run it:

```python
import onnxruntime as ort
session = ort.InferenceSession("policy.onnx")
(actions,) = session.run(["action"], {"observation": observations})
```
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import export as jax_export
from jax.extend.core import jaxpr_as_fun
from jaxtyping import Array, Key

from lerax._optional import import_extra
from lerax._serialization import atomic_write
from lerax.policy import AbstractActorCriticPolicy, AbstractPolicy

_NOISY_LOGGERS = ("jax2onnx.plugins.plugin_system", "onnx_ir.serde")


class _KnownNoise(logging.Filter):
    # Two harmless warnings, dropped so that an export prints nothing: jax2onnx
    # 0.13 skips its dm-pix image plugins on JAX 0.10 (lerax never uses them),
    # and onnx_ir notes value-info entries it leaves untyped.
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (
            ("dm_pix" in message and "Skipping" in message)
            or "value type for shape" in message
        )


@contextlib.contextmanager
def _quiet_known_noise() -> Iterator[None]:
    loggers = [logging.getLogger(n) for n in _NOISY_LOGGERS]
    noise = _KnownNoise()
    for logger in loggers:
        logger.addFilter(noise)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(noise)


def _names(prefix: str, tree: Any) -> list[str]:
    # One name per leaf: `prefix` for a lone array, else `prefix` plus the
    # leaf's path ("state.hidden", "observation['pos']", "observation[0]").
    paths = [path for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]
    return [prefix + jax.tree_util.keystr(p) for p in paths]


def export_onnx(
    policy: AbstractPolicy,
    path: str | os.PathLike,
    *,
    include_value: bool = False,
    opset: int = 21,
    key: Key[Array, ""] | None = None,
) -> Path:
    """Write `policy`'s greedy action function to `path` as an ONNX model.

    The graph's inputs are the observation leaves, each with a leading batch
    axis of any size (named `"observation"` for an array observation, else
    `"observation"` plus the leaf's path, such as `"observation['pos']"`), then,
    for a policy with a state, its leaves (`"state.hidden"`, and `"state.cell"`
    for an LSTM), batched the same way. The outputs are `"action"` (the mode of
    the action distribution: the argmax for Discrete actions, the mean for Box
    actions), `"value"` with `include_value=True`, and the state after the
    observation (`"next_state.hidden"`, ...). Feed the zero state at the start
    of an episode (what `policy.reset` returns) and `next_state` back in after
    each step; resetting at episode ends is the caller's job, as in training.

    The policy is traced with plain JAX first (so every lerax check runs as it
    does in training) and jax2onnx converts the resulting program of JAX
    primitives. Action masks and sampling are not exported.

    Args:
        policy: A lerax policy (for example a trained `MLPActorCriticPolicy` or
            `GRUActorCriticPolicy`).
        path: Where to write; `.onnx` is appended when there is no suffix. The
            file is replaced atomically: an interrupted export leaves any older
            file at `path` intact.
        include_value: Also return the critic's value of each observation.
        opset: The ONNX opset to target.
        key: The key for the policy's initial state, used only to find the
            state's structure (and written nowhere); by default `key(0)`.

    Returns:
        The path written.

    Raises:
        TypeError: If `policy` is not a lerax policy, or `include_value` is
            asked of a policy without a critic.
        ImportError: If jax2onnx is missing (`pip install 'lerax[onnx]'`).
        NotImplementedError: If the policy uses an operation jax2onnx cannot
            convert (the message names it).
    """
    if not isinstance(policy, AbstractPolicy):
        raise TypeError(
            f"export_onnx: policy must be a lerax AbstractPolicy, got "
            f"{type(policy).__name__}."
        )
    if include_value and not isinstance(policy, AbstractActorCriticPolicy):
        raise TypeError(
            f"export_onnx: include_value=True needs an actor-critic policy, got "
            f"{type(policy).__name__}."
        )
    with _quiet_known_noise():
        jax2onnx = import_extra("jax2onnx", "onnx", owner="export_onnx")
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".onnx")
    key = jax.random.key(0) if key is None else key

    example_observation = policy.observation_space.sample(key=jax.random.key(0))
    observation_leaves, observation_def = jax.tree.flatten(example_observation)
    initial_state = policy.reset(key=key)
    state_leaves, state_def = jax.tree.flatten(initial_state)
    params, static = eqx.partition(policy, eqx.is_array)

    def one(params, observation, state_leaves):
        live = eqx.combine(params, static)
        state = jax.tree.unflatten(state_def, state_leaves)
        new_state, action = live(state, observation)
        out = list(jax.tree.leaves(action))
        if include_value:
            out.append(live.value(state, observation)[1])
        return out + jax.tree.leaves(new_state)

    def program(*flat):
        observation = jax.tree.unflatten(
            observation_def, flat[: len(observation_leaves)]
        )
        leaves = list(flat[len(observation_leaves) :])
        return jax.vmap(one, in_axes=(None, 0, 0))(params, observation, leaves)

    (batch,) = jax_export.symbolic_shape("batch")
    specs = [
        jax.ShapeDtypeStruct((batch, *np.shape(x)), jnp.asarray(x).dtype)
        for x in (*observation_leaves, *state_leaves)
    ]
    # Trace with plain JAX, then hand jax2onnx only JAX primitives: jax2onnx
    # replaces some jax.numpy and Equinox functions while it traces, and under
    # `jax.vmap` those replacements gave wrongly shaped outputs for lerax
    # policies (jax2onnx 0.17.1: a (2,) action for a batch of 1000).
    closed = jax.make_jaxpr(program)(*specs)
    action_example = jax.eval_shape(
        lambda: policy(initial_state, example_observation)[1]
    )
    input_names = _names("observation", example_observation) + _names(
        "state", initial_state
    )
    output_names = _names("action", action_example)
    if include_value:
        output_names.append("value")
    output_names += _names("next_state", initial_state)
    try:
        with _quiet_known_noise():
            model = jax2onnx.to_onnx(
                jaxpr_as_fun(closed),
                specs,
                model_name=type(policy).__name__,
                opset=opset,
                input_names=input_names,
                output_names=output_names,
            )
    except NotImplementedError as err:
        raise NotImplementedError(
            f"export_onnx: jax2onnx cannot convert {type(policy).__name__}: {err}"
        ) from err
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, [model.SerializeToString()])
    return path
