"""Policy serialize / deserialize: round trips, mismatches, damaged files, atomicity."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lerax._serialization as serialization
from lerax.policy import MLPActorCriticPolicy, NullPolicyState
from lerax.space import Box, Dict, Discrete

OBS = Box(-1.0, 1.0, shape=(3,))
ACT = Discrete(2)
WIDTH = 8

DICT_OBS = Dict({"pos": Box(-2.0, 2.0, shape=(2,)), "flag": Discrete(3)})
BOX_ACT = Box(-1.0, 1.0, shape=(2,))


def _kwargs(**overrides):
    kwargs = dict(observation_space=OBS, action_space=ACT, width_size=WIDTH)
    kwargs.update(overrides)
    return kwargs


@pytest.fixture(scope="module")
def policy():
    return MLPActorCriticPolicy(key=jax.random.key(0), **_kwargs())


@pytest.fixture(scope="module")
def box_policy():
    # A Box-action policy has a log_std leaf; perturb it so it is not the default.
    policy = MLPActorCriticPolicy(
        observation_space=DICT_OBS,
        action_space=BOX_ACT,
        width_size=WIDTH,
        key=jax.random.key(1),
    )
    return eqx.tree_at(lambda p: p.log_std, policy, jnp.array([-0.3, 0.7]))


@pytest.fixture
def saved(policy, tmp_path):
    path = tmp_path / "policy.eqx"
    policy.serialize(path)
    return path


def _array_leaves(tree):
    return jax.tree.leaves(eqx.filter(tree, eqx.is_array))


def _assert_bitwise_equal(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    leaves_a, leaves_b = _array_leaves(a), _array_leaves(b)
    assert len(leaves_a) == len(leaves_b) > 0
    for x, y in zip(leaves_a, leaves_b, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes()


def _listing(folder):
    return sorted(os.listdir(folder))


# ----------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("which", ["policy", "box_policy"])
def test_round_trip_reproduces_every_leaf_bit_for_bit(which, request, tmp_path):
    original = request.getfixturevalue(which)
    kwargs = dict(
        observation_space=original.observation_space,
        action_space=original.action_space,
        width_size=WIDTH,
    )
    # The skeleton's own key gives other weights, so equality comes from the file.
    other = MLPActorCriticPolicy(key=jax.random.key(99), **kwargs)
    assert not np.array_equal(
        other.actor.layers[0].weight, original.actor.layers[0].weight
    )

    original.serialize(tmp_path / "model")
    loaded = MLPActorCriticPolicy.deserialize(
        tmp_path / "model", key=jax.random.key(99), **kwargs
    )
    assert type(loaded) is MLPActorCriticPolicy
    _assert_bitwise_equal(loaded, original)
    assert loaded.activation is original.activation


def test_round_trip_gives_the_same_actions_and_values(policy, saved):
    loaded = MLPActorCriticPolicy.deserialize(saved, key=jax.random.key(5), **_kwargs())

    @eqx.filter_jit
    def act(policy, obs, keys):
        state = NullPolicyState()

        def one(o, k):
            _, det = policy(state, o)
            _, sampled, value, log_prob = policy.action_and_value(state, o, key=k)
            return det, sampled, value, log_prob

        return jax.vmap(one)(obs, keys)

    obs = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (16, 3)), jnp.float32)
    keys = jax.random.split(jax.random.key(7), 16)
    for got, want in zip(act(loaded, obs, keys), act(policy, obs, keys), strict=True):
        np.testing.assert_array_equal(got, want)


def test_eqx_suffix_is_appended_and_found(policy, tmp_path):
    policy.serialize(tmp_path / "model")
    assert _listing(tmp_path) == ["model.eqx"]
    policy.serialize(tmp_path / "named.eqx")
    policy.serialize(str(tmp_path / "model.v1"))
    assert _listing(tmp_path) == ["model.eqx", "model.v1.eqx", "named.eqx"]
    loaded = MLPActorCriticPolicy.deserialize(
        str(tmp_path / "model"), key=jax.random.key(0), **_kwargs()
    )
    _assert_bitwise_equal(loaded, policy)


def test_file_holds_a_structural_fingerprint_then_the_equinox_leaves(policy, saved):
    blob = saved.read_bytes()
    assert blob.startswith(b"LERAX\x00")
    reference = io.BytesIO()
    eqx.tree_serialise_leaves(reference, policy)
    assert blob.endswith(reference.getvalue())

    def fingerprint_bytes(p, name):
        p.serialize(saved.parent / name)
        return (saved.parent / f"{name}.eqx").read_bytes()[8:40]

    # Same structure, other weights: same fingerprint. Other width: different.
    same = MLPActorCriticPolicy(key=jax.random.key(3), **_kwargs())
    wider = MLPActorCriticPolicy(key=jax.random.key(3), **_kwargs(width_size=16))
    assert fingerprint_bytes(same, "same") == blob[8:40]
    assert fingerprint_bytes(wider, "wider") != blob[8:40]
    assert len(blob[8:40]) == 32


def test_a_fresh_process_loads_the_file(policy, saved):
    # No memory address (e.g. of the activation function) may leak into the
    # fingerprint: another interpreter must rebuild the same one.
    script = textwrap.dedent(
        f"""
        import jax
        import numpy as np
        from lerax.policy import MLPActorCriticPolicy
        from lerax.space import Box, Discrete
        loaded = MLPActorCriticPolicy.deserialize(
            {str(saved)!r},
            observation_space=Box(-1.0, 1.0, shape=(3,)),
            action_space=Discrete(2),
            width_size={WIDTH},
            key=jax.random.key(123),
        )
        print(np.asarray(loaded.critic.layers[-1].weight).tobytes().hex())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    want = np.asarray(policy.critic.layers[-1].weight).tobytes().hex()
    assert result.stdout.strip().splitlines()[-1] == want


# ----------------------------------------------------------------------------------
# Structure mismatches


@pytest.mark.parametrize(
    "overrides, culprit",
    [
        ({"width_size": 16}, "width_size"),
        ({"depth": 1}, "depth"),
        ({"activation": jax.nn.relu}, "relu"),
        ({"observation_space": Box(-1.0, 1.0, shape=(4,))}, "observation_space"),
        ({"action_space": Discrete(3)}, "action_space"),
        ({"action_space": BOX_ACT}, "log_std"),
    ],
    ids=["width", "depth", "activation", "other-obs", "other-actions", "box-actions"],
)
def test_other_structure_is_rejected_naming_the_difference(saved, overrides, culprit):
    with pytest.raises(ValueError, match="different structure") as info:
        MLPActorCriticPolicy.deserialize(
            saved, key=jax.random.key(0), **_kwargs(**overrides)
        )
    assert culprit in str(info.value)


def test_observation_size_mismatch_names_the_shapes(saved):
    with pytest.raises(ValueError) as info:
        MLPActorCriticPolicy.deserialize(
            saved,
            key=jax.random.key(0),
            **_kwargs(observation_space=Box(-1.0, 1.0, shape=(5,))),
        )
    assert "float32[8, 3]" in str(info.value) and "float32[8, 5]" in str(info.value)


def test_a_file_of_another_class_is_rejected(tmp_path):
    mlp = eqx.nn.MLP(3, 2, WIDTH, 2, key=jax.random.key(0))
    serialization.save_module(mlp, tmp_path / "mlp")
    with pytest.raises(ValueError, match="class: file has equinox.nn.MLP"):
        MLPActorCriticPolicy.deserialize(
            tmp_path / "mlp", key=jax.random.key(0), **_kwargs()
        )


# ----------------------------------------------------------------------------------
# Damaged and foreign files


def _load(path):
    return MLPActorCriticPolicy.deserialize(path, key=jax.random.key(0), **_kwargs())


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        _load(tmp_path / "nothing-here")
    with pytest.raises(FileNotFoundError):
        _load(tmp_path / "nothing-here.eqx")


def test_truncated_files_are_rejected(saved, tmp_path):
    blob = saved.read_bytes()
    header_len = int.from_bytes(blob[40:44], "big")
    cuts = [0, 3, 6, 20, 43, 44 + header_len // 2, 44 + header_len + 10, len(blob) - 1]
    for cut in cuts:
        damaged = tmp_path / f"cut{cut}.eqx"
        damaged.write_bytes(blob[:cut])
        with pytest.raises(ValueError, match="truncated|not a lerax model"):
            _load(damaged)


@pytest.mark.parametrize(
    "make_bytes, message",
    [
        (lambda blob: b"", "not a lerax model"),
        (
            lambda blob: np.random.default_rng(0).bytes(len(blob)),
            "not a lerax model",
        ),
        (lambda blob: b"LERAX\x00" + b"\xff" * 200, "version"),
        (lambda blob: blob[:8] + bytes(32) + blob[40:], "corrupted"),
        (lambda blob: blob[:50] + b"}" + blob[51:], "corrupted"),
        (lambda blob: blob[:-5] + bytes([blob[-5] ^ 1]) + blob[-4:], "checksum"),
        (lambda blob: blob + b"\x00", "unexpected bytes"),
    ],
    ids=[
        "empty",
        "random",
        "future-version",
        "wrong-fingerprint",
        "broken-header",
        "flipped-bit",
        "trailing",
    ],
)
def test_garbage_and_corrupted_files_are_rejected(saved, make_bytes, message):
    saved.write_bytes(make_bytes(saved.read_bytes()))
    with pytest.raises(ValueError, match=message):
        _load(saved)


def test_a_plain_equinox_file_is_not_a_lerax_model(policy, tmp_path):
    eqx.tree_serialise_leaves(tmp_path / "plain.eqx", policy)
    with pytest.raises(ValueError, match="not a lerax model"):
        _load(tmp_path / "plain.eqx")


# ----------------------------------------------------------------------------------
# Atomic writes


class _FailingFile:
    """Wraps a file; writes the first chunk, then fails on the second write."""

    def __init__(self, f, folder, seen):
        self._f, self._folder, self._seen = f, folder, seen

    def write(self, data):
        if self._seen.get("writes", 0) >= 1:
            # The temporary file exists and holds a partial model at this point.
            self._seen["listing"] = _listing(self._folder)
            raise OSError("disk full (simulated)")
        self._seen["writes"] = self._seen.get("writes", 0) + 1
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()
        return False


def test_failing_midway_through_the_write_leaves_the_old_file(
    policy, saved, monkeypatch
):
    before = saved.read_bytes()
    other = MLPActorCriticPolicy(key=jax.random.key(8), **_kwargs())
    seen = {}
    real_fdopen = os.fdopen

    def failing_fdopen(fd, *args, **kwargs):
        return _FailingFile(real_fdopen(fd, *args, **kwargs), saved.parent, seen)

    monkeypatch.setattr(serialization.os, "fdopen", failing_fdopen)
    with pytest.raises(OSError, match="simulated"):
        other.serialize(saved)
    monkeypatch.undo()
    assert len(seen["listing"]) == 2  # the old file and the partial temporary one
    assert saved.read_bytes() == before
    assert _listing(saved.parent) == ["policy.eqx"]


@pytest.mark.parametrize("stage", ["serialise", "fsync", "replace"])
def test_failures_at_every_stage_leave_the_old_file(policy, saved, monkeypatch, stage):
    before = saved.read_bytes()
    other = MLPActorCriticPolicy(key=jax.random.key(8), **_kwargs())

    def boom(*args, **kwargs):
        raise OSError(f"{stage} failed (simulated)")

    if stage == "serialise":
        real = eqx.tree_serialise_leaves

        def half_then_boom(f, tree):
            buffer = io.BytesIO()
            real(buffer, tree)
            f.write(buffer.getvalue()[:100])
            boom()

        monkeypatch.setattr(eqx, "tree_serialise_leaves", half_then_boom)
    elif stage == "fsync":
        monkeypatch.setattr(serialization.os, "fsync", boom)
    else:
        monkeypatch.setattr(serialization.os, "replace", boom)
    with pytest.raises(OSError, match="simulated"):
        other.serialize(saved)
    monkeypatch.undo()
    assert saved.read_bytes() == before
    assert _listing(saved.parent) == ["policy.eqx"]
    _assert_bitwise_equal(_load(saved), policy)


def test_failed_first_save_leaves_nothing_behind(policy, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError("fsync failed (simulated)")

    monkeypatch.setattr(serialization.os, "fsync", boom)
    with pytest.raises(OSError):
        policy.serialize(tmp_path / "fresh")
    assert _listing(tmp_path) == []


def test_saving_into_a_missing_folder_is_a_clear_error(policy, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        policy.serialize(tmp_path / "no-such-folder" / "model")


# ----------------------------------------------------------------------------------
# Identities: lambdas and local functions are refused, classes carry their module


def _named_tanh(x):
    return jnp.tanh(x)


def _local_activation():
    def act(x):
        return jax.nn.relu(x)

    return act


@pytest.mark.parametrize(
    "activation, what",
    [
        (lambda x: jnp.tanh(x), "a lambda"),
        (_local_activation(), "a local function"),
    ],
    ids=["lambda", "closure"],
)
def test_lambdas_and_local_functions_are_refused_naming_the_field(
    activation, what, tmp_path
):
    policy = MLPActorCriticPolicy(
        key=jax.random.key(0), activation=activation, **_kwargs()
    )
    pattern = rf"actor\.activation: {what} .*named module-level function"
    with pytest.raises(ValueError, match=pattern):
        policy.serialize(tmp_path / "p")
    assert not os.listdir(tmp_path)  # nothing was written
    # Nor does a lambda skeleton load a file saved with a named function.
    named = MLPActorCriticPolicy(
        key=jax.random.key(0), activation=_named_tanh, **_kwargs()
    )
    named.serialize(tmp_path / "p")
    with pytest.raises(ValueError, match=pattern):
        MLPActorCriticPolicy.deserialize(
            tmp_path / "p", key=jax.random.key(0), activation=activation, **_kwargs()
        )


def test_the_issue_case_tanh_lambda_never_loads_into_a_relu_lambda(tmp_path):
    saved_with = MLPActorCriticPolicy(
        key=jax.random.key(0), activation=lambda x: jnp.tanh(x), **_kwargs()
    )
    with pytest.raises(ValueError, match="lambda"):
        saved_with.serialize(tmp_path / "p")
    # Named functions are told apart by name, so the mix-up is reported.
    MLPActorCriticPolicy(
        key=jax.random.key(0), activation=_named_tanh, **_kwargs()
    ).serialize(tmp_path / "p")
    with pytest.raises(ValueError, match="activation: file has .*_named_tanh"):
        MLPActorCriticPolicy.deserialize(
            tmp_path / "p", key=jax.random.key(0), activation=jax.nn.relu, **_kwargs()
        )


class Net(eqx.Module):
    weight: jax.Array


class _OtherNet(eqx.Module):
    weight: jax.Array


# The same qualified name as `Net`, in another package.
_OtherNet.__qualname__ = "Net"
_OtherNet.__module__ = "someone_elses_package.models"


def test_class_identity_includes_the_public_module(tmp_path):
    serialization.save_module(Net(jnp.ones(3)), tmp_path / "net")
    with pytest.raises(
        ValueError,
        match=r"class: file has tests?\.?\w*\.?Net, skeleton is "
        r"someone_elses_package\.models\.Net",
    ):
        serialization.load_module(tmp_path / "net", _OtherNet(jnp.zeros(3)))
    # Private submodules are left out: lerax classes are named by their package.
    header = serialization._read_file(
        serialization.resolve_load_path(tmp_path / "net")
    )[0]
    assert header.endswith(".Net") and "._" not in header
    assert serialization._class_name(
        MLPActorCriticPolicy(key=jax.random.key(0), **_kwargs())
    ) == ("lerax.policy.MLPActorCriticPolicy")
