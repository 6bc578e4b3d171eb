"""The built-in policies keep the field order, hence the saved-file structure, of
the release before the issue-21 reshape.

A saved policy's fingerprint covers its structure entries in field order, and its
leaves are read in that order. The reshape made the abstract bases field-free, so
each concrete class's order is now the order it declares; the classes declare
`action_space` before `observation_space`, which is where the old base's
(stringified, hence real) fields put them. No legacy rule is needed in the
loader: the entries of the fixture files are exactly today's, and a file of any
other structure is refused as before.
"""

import dataclasses
import importlib.util
from pathlib import Path

import jax
import pytest

from lerax._serialization import _read_file, structure_entries
from lerax.policy import (
    CNNActorCriticPolicy,
    GRUActorCriticPolicy,
    LSTMActorCriticPolicy,
    MLPActorCriticPolicy,
)

FIXTURES = Path(__file__).parent / "fixtures"
_spec = importlib.util.spec_from_file_location(
    "make_fixtures", Path(__file__).parent / "scripts" / "make_fixtures.py"
)
make_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_fixtures)

# `[f.name for f in dataclasses.fields(cls)]` at commit 16efd8e.
RELEASED_FIELDS = {
    MLPActorCriticPolicy: [
        "action_space",
        "observation_space",
        "actor",
        "critic",
        "log_std",
        "trunk",
        "width_size",
        "depth",
        "actor_hidden_sizes",
        "critic_hidden_sizes",
        "shared_hidden_sizes",
        "state_dependent_std",
        "activation",
        "observation_normalizer",
    ],
    CNNActorCriticPolicy: [
        "action_space",
        "observation_space",
        "convs",
        "dense",
        "actor",
        "critic",
        "log_std",
        "channels",
        "kernel_sizes",
        "strides",
        "padding",
        "channels_last",
        "hidden_sizes",
        "actor_hidden_sizes",
        "critic_hidden_sizes",
        "activation",
    ],
    GRUActorCriticPolicy: [
        "action_space",
        "observation_space",
        "encoder",
        "core",
        "actor",
        "critic",
        "log_std",
        "hidden_size",
        "encoder_sizes",
    ],
}
RELEASED_FIELDS[LSTMActorCriticPolicy] = RELEASED_FIELDS[GRUActorCriticPolicy]


@pytest.mark.parametrize("cls", list(RELEASED_FIELDS), ids=lambda c: c.__name__)
def test_the_field_order_is_the_released_one(cls):
    assert [f.name for f in dataclasses.fields(cls)] == RELEASED_FIELDS[cls]


@pytest.mark.parametrize("name", sorted(make_fixtures.RECIPES))
def test_a_released_file_has_exactly_the_structure_of_todays_skeleton(name):
    cls, make_env, kwargs = make_fixtures.RECIPES[name]
    skeleton = cls(make_env(), key=jax.random.key(0), **kwargs)
    file_class, file_entries, _, _, _ = _read_file(FIXTURES / f"{name}.eqx")
    assert file_class == f"lerax.policy.{cls.__name__}"
    assert file_entries == structure_entries(skeleton)


def test_a_released_file_of_another_structure_is_refused_as_before():
    path = FIXTURES / "mlp_discrete.eqx"
    with pytest.raises(ValueError) as info:
        MLPActorCriticPolicy.deserialize(
            path, make_fixtures.ChainEnv(), key=jax.random.key(0), width_size=16
        )
    message = str(info.value)
    assert message.startswith(
        f"{path} was saved from a different structure than the "
        "lerax.policy.MLPActorCriticPolicy built from these arguments; rebuild it "
        "with the arguments it was saved with. Differences:\n  width_size: file has "
        "static 8, skeleton has static 16\n"
    )
