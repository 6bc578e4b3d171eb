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

A host callback runs on the thread that executes the compiled program, which
waits for it. A receiver whose work is slow (drawing a bar, writing files) can
set `asynchronous = True`: the callback then only copies the values and queues
them, and one background thread hands them to the receiver, in order. An emit
marked `final` (a run's last delivery) waits until the queue is empty, so
everything a run sent is handled when the run's result is ready. The time of
each delivery is `delivery_time()`, read by the receiver.
"""

from __future__ import annotations

import atexit
import itertools
import math
import queue
import threading
import time
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_batching import custom_vmap
from jaxtyping import Array, Int

from lerax._sharding import spread_over_devices

_HOSTS: dict[int, Any] = {}
_IDS = itertools.count()
# Held while registering and while a receiver runs, so deliveries never overlap.
_LOCK = threading.RLock()
# Deliveries to asynchronous receivers, handled in order by one daemon thread.
_QUEUE: queue.Queue = queue.Queue()
_WORKER: threading.Thread | None = None
_WORKER_LOCK = threading.Lock()
# A background receiver's first error, by receiver, raised at its final delivery.
_ERRORS: dict[int, BaseException] = {}
_CLOCK = threading.local()


def delivery_time() -> float:
    """When the delivery being handled left the compiled run.

    Returns:
        A `time.perf_counter()` reading taken by the host callback (not when a
        background thread got round to handling it).
    """
    return getattr(_CLOCK, "time", None) or time.perf_counter()


def _handle(receiver: Any, event: str, data: Any, num_runs: int, at: float) -> None:
    _CLOCK.time = at
    try:
        with _LOCK:
            receiver.receive(event, data, num_runs)
    finally:
        _CLOCK.time = None


def _work() -> None:
    while True:
        item = _QUEUE.get()
        try:
            _handle(*item)
        except BaseException as error:  # kept and raised by the next `drain`
            _ERRORS.setdefault(id(item[0]), error)
        finally:
            _QUEUE.task_done()


def _enqueue(item: tuple) -> None:
    global _WORKER
    with _WORKER_LOCK:
        if _WORKER is None or not _WORKER.is_alive():
            _WORKER = threading.Thread(
                target=_work, name="lerax-host-deliveries", daemon=True
            )
            _WORKER.start()
    _QUEUE.put(item)


def settle() -> None:
    """Wait until every queued delivery has been handled (errors stay queued)."""
    _QUEUE.join()


def drain(receiver: Any = None) -> None:
    """Wait until every queued delivery has been handled.

    Args:
        receiver: Whose background error to raise (`None`: any receiver's).

    Raises:
        Exception: The first error `receiver` raised in the background since
            its last `drain` (another receiver's errors stay for its own).
    """
    _QUEUE.join()
    key = next(iter(_ERRORS), None) if receiver is None else id(receiver)
    if key in _ERRORS:
        raise _ERRORS.pop(key)


atexit.register(lambda: _QUEUE.join() if _WORKER is not None else None)


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
    at = time.perf_counter()
    # Copies: the buffers handed to a host callback may be reused after it returns.
    arrays = [np.array(a) for a in arrays]
    batch_shape = arrays[0].shape  # the handle is a scalar per run
    num_runs = math.prod(batch_shape)
    flat = [a.reshape((num_runs,) + a.shape[len(batch_shape) :]) for a in arrays]
    handle, final, data = jax.tree.unflatten(treedef, flat)
    receiver = _HOSTS.get(int(handle[0]))
    if receiver is None:
        return
    if getattr(receiver, "asynchronous", False):
        _enqueue((receiver, event, data, num_runs, at))
        if bool(np.any(final)):
            drain(receiver)
    else:
        _handle(receiver, event, data, num_runs, at)


def emit(
    handle: Int[Array, ""],
    event: str,
    data: dict[str, Array],
    *,
    ordered: bool = True,
    final: Array | bool = False,
) -> None:
    """Send `data` to the host object of `handle`, one call per run batch.

    Args:
        handle: The receiver's handle (from `register`).
        event: The event name passed to the receiver.
        data: Arrays to deliver (scalars, or fixed-shape arrays).
        ordered: Deliver in program order. JAX supports ordered effects on one
            device only, so in a program sharded over a mesh (`learn(mesh=)`)
            deliveries are unordered whatever this says.
        final: A (traced) boolean: when true, the host callback returns only
            after an asynchronous receiver has handled this and every earlier
            delivery (set it on a run's last delivery).
    """
    ordered = ordered and not spread_over_devices()
    leaves, treedef = jax.tree.flatten((handle, jnp.asarray(final, bool), data))

    @custom_vmap
    def send(*xs):
        jax.debug.callback(
            lambda *a: _deliver(event, treedef, *a), *xs, ordered=ordered
        )
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
