"""Background deliveries (`lerax._host`): order, final wait, errors."""

import jax
import numpy as np
import pytest

from lerax import _host


class Recorder:
    asynchronous = True

    def __init__(self, fail_on=None):
        self.seen = []
        self.fail_on = fail_on

    def receive(self, event, data, num_runs):
        if event == self.fail_on:
            raise RuntimeError(f"receiver failed on {event}")
        self.seen.append((event, int(data["i"][0]), num_runs))


def deliver(receiver_handle, event, i, final):
    # What the host callback receives: (handle, final, data) flattened.
    leaves, treedef = jax.tree.flatten(
        (np.asarray(receiver_handle), np.asarray(final), {"i": np.asarray(i)})
    )
    _host._deliver(event, treedef, *leaves)


def test_final_delivery_waits_for_every_earlier_one_in_order():
    recorder = Recorder()
    handle = int(_host.register(recorder))
    for i in range(50):
        deliver(handle, "iteration", i, final=False)
    deliver(handle, "iteration", 50, final=True)
    # Nothing waited before the final delivery; it returns only when all are in.
    assert recorder.seen == [("iteration", i, 1) for i in range(51)]


def test_an_error_surfaces_at_its_own_receivers_final_delivery_only():
    failing, other = Recorder(fail_on="bad"), Recorder()
    bad, good = int(_host.register(failing)), int(_host.register(other))
    deliver(bad, "bad", 0, final=False)
    # Another run's final delivery is not blamed for it.
    deliver(good, "iteration", 1, final=True)
    assert other.seen == [("iteration", 1, 1)]
    with pytest.raises(RuntimeError, match="receiver failed on bad"):
        deliver(bad, "iteration", 2, final=True)
    # Raised once: the next run of that receiver starts clean.
    deliver(bad, "iteration", 3, final=True)
    assert failing.seen == [("iteration", 2, 1), ("iteration", 3, 1)]
