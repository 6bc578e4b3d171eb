"""Every public abstract class of `lerax.algorithm` is a real abstract class.

Real means: no dataclass fields of its own (an `eqx.AbstractVar` that became a
string annotation turns into an ordinary field) and no instances. The concrete
states keep the field order the checkpoint format stores their leaves in.
"""

import dataclasses
import inspect

import pytest

import lerax.algorithm
from lerax.algorithm import OnPolicyState, OnPolicyStepState

ABSTRACT = [
    getattr(lerax.algorithm, name)
    for name in lerax.algorithm.__all__
    if name.startswith("Abstract") and inspect.isclass(getattr(lerax.algorithm, name))
]


def test_the_walk_finds_the_abstract_classes():
    names = {cls.__name__ for cls in ABSTRACT}
    assert {
        "AbstractAlgorithm",
        "AbstractAlgorithmState",
        "AbstractStepState",
        "AbstractOnPolicyAlgorithm",
        "AbstractOnPolicyState",
        "AbstractOnPolicyStepState",
        "AbstractActorCriticAlgorithm",
    } <= names


@pytest.mark.parametrize("cls", ABSTRACT, ids=lambda c: c.__name__)
def test_abstract_class_has_no_dataclass_fields(cls):
    assert [f.name for f in dataclasses.fields(cls)] == []


@pytest.mark.parametrize("cls", ABSTRACT, ids=lambda c: c.__name__)
def test_abstract_class_cannot_be_instantiated(cls):
    with pytest.raises(TypeError, match="abstract"):
        cls()


def test_concrete_states_keep_the_checkpoint_field_order():
    # The order a checkpoint written by the release before the abstract bases
    # lost their fields stores the leaves in (tests/fixtures/checkpoint).
    assert [f.name for f in dataclasses.fields(OnPolicyState)] == [
        "iteration_count",
        "policy",
        "step_state",
        "env",
        "opt_state",
        "callback_state",
        "key",
        "fault",
        "fault_iteration",
        "skipped_updates",
        "num_iterations",
        "reward_normalizer",
    ]
    assert [f.name for f in dataclasses.fields(OnPolicyStepState)] == [
        "callback_state",
        "env_state",
        "policy_state",
        "observation",
        "episode_return",
        "episode_length",
    ]
