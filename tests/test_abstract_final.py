"""The Equinox abstract/final pattern: only abstract classes are subclassed."""

import importlib
import inspect
import pkgutil

import equinox as eqx

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
