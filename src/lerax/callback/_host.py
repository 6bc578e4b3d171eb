"""Delivering values from the compiled run to host-side objects, once per run.

Host-side objects (progress bars, file writers) are never pytree leaves. Each is
registered in a process-wide table and named in the compiled program by an integer
handle, an array leaf of the callback that owns it; so a new callback with the
same structure reuses the compiled program, and its handle routes the values to
its own object.

`emit` sends a dict of arrays to the object through an ordered
`jax.debug.callback` (an effect, so it is never removed as dead code, also under an
outer `jax.jit`; ordered, so the host sees a run's events in program order).
Under `jax.vmap` (over seeds, or over hyperparameters) a custom batching rule
makes the host receive every batch member in ONE call, with the batch flattened
into a leading axis, instead of one call per member.
"""

from __future__ import annotations

import itertools
import math
import threading
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_batching import custom_vmap
from jaxtyping import Array, Int

_HOSTS: dict[int, Any] = {}
_IDS = itertools.count()
# Held while registering and while a receiver runs, so deliveries never overlap.
_LOCK = threading.RLock()


class HostReceiver(Protocol):
    """What `emit` delivers to: a method per event name taking the batch."""

    def receive(self, event: str, data: dict[str, np.ndarray], num_runs: int) -> None:
        """Handle one delivery.

        Args:
            event: The event name given to `emit`.
            data: The emitted values, each with a leading axis of length
                `num_runs` (one entry per vmapped run; 1 without `jax.vmap`).
            num_runs: The number of runs in the batch.
        """


def register(receiver: HostReceiver) -> Int[Array, ""]:
    """Register a host object and return its handle.

    Args:
        receiver: The object that will receive `emit`'s deliveries.

    Returns:
        The handle, an int32 scalar array (keep it as an array leaf).
    """
    with _LOCK:
        handle = next(_IDS)
        _HOSTS[handle] = receiver
    return jnp.asarray(handle, jnp.int32)


def lookup(handle: Array | int) -> Any:
    """The host object registered under `handle`.

    Args:
        handle: A handle from `register` (a concrete array or int).

    Returns:
        The registered object.

    Raises:
        KeyError: If no object has that handle.
    """
    key = int(np.asarray(handle).reshape(-1)[0])
    try:
        return _HOSTS[key]
    except KeyError:
        raise KeyError(f"no host object is registered under handle {key}") from None


def _deliver(event: str, treedef, *arrays) -> None:
    arrays = [np.asarray(a) for a in arrays]
    batch_shape = arrays[0].shape  # the handle is a scalar per run
    num_runs = math.prod(batch_shape)
    flat = [a.reshape((num_runs,) + a.shape[len(batch_shape) :]) for a in arrays]
    handle, data = jax.tree.unflatten(treedef, flat)
    receiver = _HOSTS.get(int(handle[0]))
    if receiver is not None:
        with _LOCK:
            receiver.receive(event, data, num_runs)


def emit(handle: Int[Array, ""], event: str, data: dict[str, Array]) -> None:
    """Send `data` to the host object of `handle`, one call per run batch.

    Args:
        handle: The receiver's handle (from `register`).
        event: The event name passed to the receiver.
        data: Arrays to deliver (scalars, or fixed-shape arrays).
    """
    leaves, treedef = jax.tree.flatten((handle, data))

    @custom_vmap
    def send(*xs):
        jax.debug.callback(lambda *a: _deliver(event, treedef, *a), *xs, ordered=True)
        return jnp.zeros((), jnp.int32)

    @send.def_vmap
    def _send_batched(axis_size, in_batched, *xs):
        xs = [
            x if batched else jnp.broadcast_to(x, (axis_size, *jnp.shape(x)))
            for x, batched in zip(xs, in_batched, strict=True)
        ]
        # Calling `send` again lets an enclosing vmap add its axis the same way.
        send(*xs)
        return jnp.zeros((axis_size,), jnp.int32), True

    send(*leaves)
