"""The Equinox abstract/final pattern: only abstract classes are subclassed."""

import __future__

import dataclasses
import importlib
import inspect
import pkgutil
import re
import sys

import equinox as eqx
import pytest

import lerax


def lerax_module_classes():
    classes = set()
    for info in pkgutil.walk_packages(lerax.__path__, prefix="lerax."):
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if obj.__module__.startswith("lerax.") and issubclass(obj, eqx.Module):
                classes.add(obj)
    return classes


def test_found_the_package_classes():
    names = {cls.__name__ for cls in lerax_module_classes()}
    assert {"PPO", "A2C", "MLPActorCriticPolicy", "Box", "TimeLimit"} <= names


def test_every_subclassed_lerax_class_is_abstract():
    classes = lerax_module_classes()
    offenders = sorted(
        f"{parent.__module__}.{parent.__name__} (subclassed by {child.__name__})"
        for child in classes
        for parent in child.__mro__[1:]
        if parent in classes and not parent.__name__.startswith("Abstract")
    )
    assert offenders == []


def test_classes_with_abstract_members_are_named_abstract():
    offenders = sorted(
        cls.__name__
        for cls in lerax_module_classes()
        if inspect.isabstract(cls) and not cls.__name__.startswith("Abstract")
    )
    assert offenders == []


# Packages whose public abstract classes are held to the Equinox pattern below;
# every public subpackage (issue 21).
ABSTRACT_PACKAGES = [
    "lerax.space",
    "lerax.distribution",
    "lerax.env",
    "lerax.policy",
    "lerax.buffer",
    "lerax.callback",
    "lerax.algorithm",
    "lerax.export",
    "lerax.evaluation",
]


def public_abstract_classes():
    found = []
    for package in ABSTRACT_PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            if (
                inspect.isclass(obj)
                and issubclass(obj, eqx.Module)
                and name.startswith("Abstract")
            ):
                found.append((f"{package}.{name}", obj))
    return sorted(found, key=lambda item: item[0])


PUBLIC_ABSTRACT = public_abstract_classes()


def test_found_the_public_abstract_classes():
    names = {name for name, _ in PUBLIC_ABSTRACT}
    assert {
        "lerax.policy.AbstractPolicy",
        "lerax.policy.AbstractPolicyState",
        "lerax.policy.AbstractActorCriticPolicy",
        "lerax.policy.AbstractFeedForwardActorCriticPolicy",
        "lerax.policy.AbstractRecurrentActorCriticPolicy",
    } <= names


@pytest.mark.parametrize(
    "cls", [cls for _, cls in PUBLIC_ABSTRACT], ids=[n for n, _ in PUBLIC_ABSTRACT]
)
def test_a_public_abstract_class_has_no_dataclass_fields(cls):
    # A stringified `eqx.AbstractVar[...]` (from `from __future__ import
    # annotations`) is not recognised by Equinox and becomes a real field.
    own = [
        field.name
        for field in dataclasses.fields(cls)
        if field.name in cls.__dict__.get("__annotations__", {})
    ]
    assert own == []
    assert [field.name for field in dataclasses.fields(cls)] == []


@pytest.mark.parametrize(
    "cls", [cls for _, cls in PUBLIC_ABSTRACT], ids=[n for n, _ in PUBLIC_ABSTRACT]
)
def test_a_public_abstract_class_cannot_be_instantiated(cls):
    with pytest.raises(TypeError, match=r"(?i)instantiate abstract class"):
        cls()


@pytest.mark.parametrize(
    "cls", [cls for _, cls in PUBLIC_ABSTRACT], ids=[n for n, _ in PUBLIC_ABSTRACT]
)
def test_a_module_declaring_abstract_vars_does_not_stringify_annotations(cls):
    module = sys.modules[cls.__module__]
    source = inspect.getsource(module)
    declares = re.search(r"^\s+\w+: eqx\.Abstract(Class)?Var\[", source, re.M)
    if declares:
        assert vars(module).get("annotations") is not __future__.annotations
