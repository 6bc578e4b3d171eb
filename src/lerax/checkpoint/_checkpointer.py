"""Checkpoints of a whole training state, written from inside the compiled run.

The compiled program hands the state's arrays to the host through a
`jax.pure_callback` every `every_iterations` iterations; a background thread
writes them with orbax-checkpoint (atomic: a step directory only becomes visible
once complete) and keeps the newest `keep`. On the next `learn` with the same
directory, the host finds the newest readable checkpoint before compiling, checks
that it belongs to this run, and the program starts from it: the structure comes
from the code, the numbers from the file, so the continued run is bit-for-bit the
uninterrupted one.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import os
import queue
import shutil
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Int, PyTree

from lerax._checks import check_size
from lerax._host import emit, lookup, register
from lerax._sharding import replicate

_FORMAT = 1
_MAX_REPORTED = 6


def _orbax():
    try:
        import orbax.checkpoint as ocp
    except ImportError as error:  # pragma: no cover - gymnax pulls orbax in
        raise ImportError(
            "lerax.checkpoint needs orbax-checkpoint: pip install 'lerax[checkpoint]'."
        ) from error
    return ocp


# --------------------------------------------------------------------------------
# Leaves <-> host arrays (typed PRNG keys travel as their raw key data)


def _is_key(x: Any) -> bool:
    return isinstance(x, jax.Array | jax.ShapeDtypeStruct) and jnp.issubdtype(
        x.dtype, jax.dtypes.prng_key
    )


def _to_raw(leaf: Array) -> Array:
    return jax.random.key_data(leaf) if _is_key(leaf) else leaf


def _from_raw(raw: Array, like: Array) -> Array:
    if _is_key(like):
        return jax.random.wrap_key_data(raw, impl=jax.random.key_impl(like))
    return raw


# --------------------------------------------------------------------------------
# Host side: one writer per directory, shared by every Checkpointer naming it


@dataclasses.dataclass
class _Pending:
    step: int
    leaves: list[np.ndarray]
    meta: dict[str, Any]


class _Host:
    """The host-side half of a checkpoint directory (never part of a pytree)."""

    def __init__(self, directory: Path, keep: int):
        self.directory = directory
        self.keep = keep
        self.meta: dict[str, Any] | None = None
        self.restore_leaves: list[np.ndarray] | None = None
        self.queue: queue.Queue[_Pending | None] = queue.Queue()
        self.error: BaseException | None = None
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.handle = -1
        self._manager = None

    def receive(self, event: str, data: dict[str, Any], num_runs: int) -> None:
        """Take a state the compiled run hands over (see `lerax._host`).

        Args:
            event: "save".
            data: `count` (iterations done) and `leaves`, each with the runs
                flattened into one leading axis of length `num_runs`.
            num_runs: 1, or the number of vmapped runs.
        """
        if event != "save":
            return
        if self.meta is None:  # a compiled run re-used without prepare()
            self.error = RuntimeError("Checkpointer.prepare was not called.")
            return
        step = int(np.asarray(data["count"]).reshape(-1)[0])
        leaves = [np.array(a, copy=True) for a in data["leaves"]]
        meta = dict(self.meta, num_leaves=len(leaves), step=step, num_runs=num_runs)
        self.submit(_Pending(step=step, leaves=leaves, meta=meta))

    # -- orbax ------------------------------------------------------------------

    def manager(self):
        if self._manager is None:
            ocp = _orbax()
            self._manager = ocp.CheckpointManager(
                self.directory,
                options=ocp.CheckpointManagerOptions(
                    max_to_keep=self.keep,
                    create=True,
                    enable_async_checkpointing=False,
                ),
            )
        return self._manager

    def forget_manager(self) -> None:
        if self._manager is not None:
            self._manager.close()
        self._manager = None

    def read(self, step: int) -> tuple[dict[str, Any], list[np.ndarray]]:
        ocp = _orbax()
        restored = self.manager().restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.PyTreeRestore(), meta=ocp.args.JsonRestore()
            ),
        )
        meta = dict(restored["meta"])
        tree = restored["state"]
        leaves = [np.asarray(tree[f"{i:05d}"]) for i in range(meta["num_leaves"])]
        return meta, leaves

    # -- the writer thread --------------------------------------------------------

    def submit(self, pending: _Pending) -> None:
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(
                    target=self._write_loop, name="lerax-checkpoint", daemon=True
                )
                self.thread.start()
        self.queue.put(pending)

    def _write_loop(self) -> None:
        ocp = _orbax()
        while True:
            pending = self.queue.get()
            try:
                if pending is None:
                    return
                if self.error is None:
                    tree = {f"{i:05d}": leaf for i, leaf in enumerate(pending.leaves)}
                    manager = self.manager()
                    if pending.step in manager.all_steps():
                        # A finished run re-run: the checkpoint already exists.
                        continue
                    manager.save(
                        pending.step,
                        args=ocp.args.Composite(
                            state=ocp.args.PyTreeSave(tree),
                            meta=ocp.args.JsonSave(pending.meta),
                        ),
                    )
                    manager.wait_until_finished()
            except BaseException as error:  # reported by wait()
                self.error = error
            finally:
                self.queue.task_done()

    def wait(self) -> None:
        self.queue.join()
        if self.error is not None:
            error, self.error = self.error, None
            raise RuntimeError(
                f"writing a checkpoint to {self.directory} failed: {error}"
            ) from error


# Hosts by directory. The compiled program names a host only by its handle (an
# array leaf registered with `lerax.callback`'s host table), so checkpointers of
# different directories share one compiled program.
_HOSTS: dict[Path, _Host] = {}
_HOSTS_LOCK = threading.Lock()


def _host(directory: Path, keep: int) -> _Host:
    with _HOSTS_LOCK:
        host = _HOSTS.get(directory)
        if host is None:
            host = _HOSTS[directory] = _Host(directory, keep)
            host.handle = int(register(host))
        elif host.keep != keep:
            host.wait()
            host.forget_manager()
            host.keep = keep
        return host


@atexit.register
def _flush_all() -> None:  # pragma: no cover - runs at interpreter exit
    for host in list(_HOSTS.values()):
        try:
            host.wait()
        except Exception as error:
            warnings.warn(str(error), stacklevel=1)


class _StaleTemporaryFilter(logging.Filter):
    """Drop orbax's warning about the temporary directory a killed run left.

    A run killed while writing step `n` leaves `<n>.orbax-checkpoint-tmp`; when
    the continued run writes step `n` again, orbax removes it and logs (through
    absl) "Attempted to create temporary directory ... which already exists".
    That is the normal resume path, not something for the user to act on, so
    this record is dropped when the directory is a lerax checkpoint directory;
    every other record passes.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Attempted to create temporary directory"):
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        if len(args) != 1:
            return True
        return Path(str(args[0])).parent not in _HOSTS


logging.getLogger("absl").addFilter(_StaleTemporaryFilter())


# --------------------------------------------------------------------------------
# Run identity: what must match for a checkpoint to continue this run


def _describe_differences(saved: dict[str, str], current: dict[str, str]) -> list[str]:
    lines = []
    for path in list(saved) + [p for p in current if p not in saved]:
        old, new = saved.get(path, "absent"), current.get(path, "absent")
        # An algorithm option added after the checkpoint was written matches
        # it when the option is off (`None`): the saved run did not have it.
        if path.startswith("algorithm.") and {old, new} == {"absent", "None"}:
            continue
        if old != new:
            lines.append(f"{path}: checkpoint has {old}, this run has {new}")
    return lines


class Checkpointer(eqx.Module):
    """Save the whole training state periodically, and continue from it.

    Pass it to `learn` or `learn_state`. Every `every_iterations` iterations (and
    after the last one) the compiled run writes the complete state: policy,
    optimizer state, environment and policy states, PRNG key, iteration count and
    callback states. Writes happen on a background thread with orbax-checkpoint,
    atomically, keeping the newest `keep` checkpoints.

    Calling the same `learn(...)` again with the same directory (after a crash or
    a pre-empted job, say) continues from the newest readable checkpoint, and the
    final parameters are bit-for-bit those of an uninterrupted run with the same
    key. An unreadable newest checkpoint is moved aside (to
    `corrupt-<step>-<time>`, never deleted) with a warning naming it, and the one
    before it is used. A directory holding checkpoints of a different run (other
    hyperparameters, sizes, environment, policy or callbacks) raises a
    `ValueError` saying what differs.

    Under `jax.vmap` of `learn` over seeds, one checkpoint holds every seed (its
    arrays have the batch axis in front); continuing it needs the same batch.

    The compiled program carries the directory only as a small integer handle,
    so a run with a new directory reuses the compiled program of an earlier one.

    Attributes:
        handle: The directory's handle (an int32 array leaf).
        every_iterations: Save every this many iterations.
    """

    handle: Int[Array, ""]
    every_iterations: int = eqx.field(static=True)

    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        every_iterations: int,
        keep: int = 3,
    ):
        """Configure a checkpoint directory.

        Args:
            directory: Where checkpoints go; one directory per run.
            every_iterations: Save every this many iterations (>= 1). The last
                iteration is always saved.
            keep: How many of the newest checkpoints to keep (>= 1).

        Raises:
            ValueError: If `every_iterations` or `keep` is not a positive int, or
                `directory` names an existing file.
        """
        check_size("Checkpointer", "every_iterations", every_iterations)
        check_size("Checkpointer", "keep", keep)
        path = Path(directory).expanduser().absolute()
        if path.exists() and not path.is_dir():
            raise ValueError(
                f"Checkpointer: directory {str(path)!r} exists and is not a directory."
            )
        host = _host(path, int(keep))
        # The directory reaches the compiled program only as this handle, so a
        # new directory does not recompile anything.
        self.handle = jnp.asarray(host.handle, jnp.int32)
        self.every_iterations = every_iterations

    @property
    def directory(self) -> str:
        """The checkpoint directory, as an absolute path."""
        return str(self._host().directory)

    @property
    def keep(self) -> int:
        """How many of the newest checkpoints are kept."""
        return self._host().keep

    def _host(self) -> _Host:
        return lookup(self.handle)

    def steps(self) -> list[int]:
        """The iteration counts of the checkpoints in the directory, oldest first.

        Returns:
            The saved steps (empty when there are none).
        """
        host = self._host()
        if not host.directory.is_dir():
            return []
        host.wait()
        host.forget_manager()
        return sorted(host.manager().all_steps())

    def prepare(self, identity: dict[str, str]) -> int:
        """Find the checkpoint this run continues from (host side, before compiling).

        When a checkpoint is found, prints once where the run continues
        ("Checkpointer: resumed from iteration 52 of 128 (DIRECTORY/52)").

        Args:
            identity: `path -> description` entries that must match between the
                checkpoint and this run (its `num_iterations` entry, when
                present, is the "of 128" of that line).

        Returns:
            The iteration count to continue from (0 when starting afresh).

        Raises:
            ValueError: If the directory holds checkpoints of a different run.
        """
        host = self._host()
        host.wait()
        host.meta = {"format": _FORMAT, "identity": identity}
        host.restore_leaves = None
        directory = host.directory
        if not directory.is_dir():
            return 0
        host.forget_manager()
        for step in sorted(host.manager().all_steps(), reverse=True):
            try:
                meta, leaves = host.read(step)
            except Exception as error:
                moved = directory / f"corrupt-{step}-{time.strftime('%Y%m%dT%H%M%S')}"
                host.forget_manager()
                shutil.move(str(directory / str(step)), moved)
                warnings.warn(
                    f"Checkpointer: checkpoint {str(directory / str(step))!r} is "
                    f"unreadable ({type(error).__name__}); moved it to "
                    f"{str(moved)!r} and falling back to the one before it.",
                    RuntimeWarning,
                    stacklevel=3,
                )
                continue
            differences = _describe_differences(meta.get("identity", {}), identity)
            if meta.get("format") != _FORMAT or differences:
                shown = "\n  ".join(differences[:_MAX_REPORTED])
                more = len(differences) - _MAX_REPORTED
                raise ValueError(
                    f"Checkpointer: {str(directory)!r} holds checkpoints of a "
                    f"different run; what differs:\n  {shown}"
                    + (f"\n  ... and {more} more" if more > 0 else "")
                    + "\nUse another directory for this run, or the original "
                    "settings to continue the saved one."
                )
            host.restore_leaves = leaves
            host.forget_manager()
            planned = identity.get("num_iterations")
            # Said once, on the host, before compiling: where the run continues.
            print(
                f"Checkpointer: resumed from iteration {step}"
                + (f" of {planned}" if planned is not None else "")
                + f" ({str(directory / str(step))})",
                flush=True,
            )
            return step
        host.forget_manager()
        return 0

    def wait(self) -> None:
        """Block until every checkpoint handed to the writer is on disk.

        Raises:
            RuntimeError: If a write failed.
        """
        self._host().wait()

    # -- inside the compiled program ----------------------------------------------

    def restore(self, state: PyTree) -> PyTree:
        """Replace the arrays of `state` by those of the prepared checkpoint.

        Called inside the compiled program, after `prepare` returned a step > 0.

        Args:
            state: A state of the run's structure (its values are ignored).

        Returns:
            The state read from the checkpoint.
        """
        dynamic, static = eqx.partition(state, eqx.is_array)
        leaves, treedef = jax.tree.flatten(dynamic)
        raw = [_to_raw(leaf) for leaf in leaves]
        example_ndim = raw[0].ndim

        def load(handle, *arrays):
            # Saved leaves have the runs flattened into one leading axis (one
            # run without jax.vmap); this run's arrays say the batch shape.
            saved = lookup(handle).restore_leaves
            ok = saved is not None and len(saved) == len(arrays)
            ok = ok and all(
                s.size == a.size and s.dtype == a.dtype
                for s, a in zip(saved, arrays, strict=True)
            )
            out = (
                [s.reshape(a.shape) for s, a in zip(saved, arrays, strict=True)]
                if ok
                else [np.zeros(a.shape, a.dtype) for a in arrays]
            )
            flag = np.full(arrays[0].shape[: arrays[0].ndim - example_ndim], ok)
            return [flag, *out]

        shapes = [jax.ShapeDtypeStruct((), jnp.bool_)] + [
            jax.ShapeDtypeStruct(r.shape, r.dtype) for r in raw
        ]
        ok, *loaded = jax.pure_callback(
            load, shapes, self.handle, *raw, vmap_method="broadcast_all"
        )
        loaded = eqx.error_if(
            loaded,
            ~ok,
            "Checkpointer: the checkpoint to continue from does not fit this run's "
            "arrays (saved under a jax.vmap of another batch size?).",
        )
        loaded = [_from_raw(r, like) for r, like in zip(loaded, leaves, strict=True)]
        return eqx.combine(jax.tree.unflatten(treedef, loaded), static)

    def maybe_save(
        self,
        state: PyTree,
        iteration: Int[Array, ""],
        num_iterations: int,
    ) -> None:
        """Hand `state` to the writer if iteration `iteration` (from 0) is due.

        The arrays leave through an ordered host callback (never pruned as dead
        code); under `jax.vmap` the host receives every member in one call.

        Args:
            state: The state after iteration `iteration`; must have an
                `iteration_count` field.
            iteration: The index of the iteration just finished (not batched, so
                the condition stays a real branch under `jax.vmap`).
            num_iterations: The run's total; the last iteration is always saved.
        """
        due = ((iteration + 1) % self.every_iterations == 0) | (
            iteration + 1 == num_iterations
        )
        dynamic = eqx.filter(state, eqx.is_array)
        raw = [_to_raw(leaf) for leaf in jax.tree.leaves(dynamic)]
        data = {"count": state.iteration_count, "leaves": raw}

        def write(data):
            # With `learn(mesh=)`: gather sharded arrays for the host, only when
            # due (a no-op without a mesh).
            # Unordered: each save stands alone (the writer orders by step).
            emit(self.handle, "save", replicate(data), ordered=False)

        jax.lax.cond(due, write, lambda data: None, data)
