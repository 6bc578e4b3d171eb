"""Encoding a policy's constructor arguments (its recipe) as JSON, and back.

`serialize` writes, beside the weights, the arguments `constructor_arguments`
returns (spaces, sizes, named activations), so `lerax.load(path)` can build the
skeleton without the environment or the original call. The recipe is advice for
building the skeleton, never trusted blindly: the skeleton it builds must still
match the file's structural fingerprint before any weight is loaded.

Values are encoded as JSON: numbers, strings, booleans and `None` as they are;
tuples as `{"tuple": [...]}`; spaces by `lerax.space.space_to_json`;
functions by `module.qualname` (lerax refuses lambdas and local functions in
saved policies anyway), resolved by import when loading.
"""

import importlib
from typing import Any

from lerax.space import AbstractSpace, space_from_json, space_to_json


def _callable_path(fn: Any) -> str:
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        raise ValueError(
            f"cannot record the function {fn!r} in a recipe: use a named "
            "module-level function (jax.nn.relu, or a top-level def)."
        )
    return f"{module}:{qualname}"


def encode(value: Any) -> Any:
    """Encode one constructor argument as JSON-compatible data.

    Args:
        value: A space, a tuple or list, a function, or a plain value.

    Returns:
        Its encoding.

    Raises:
        ValueError: If the value cannot be recorded (a lambda, an array, ...).
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, AbstractSpace):
        return {"space": space_to_json(value)}
    if isinstance(value, (tuple, list)):
        return {"tuple": [encode(v) for v in value]}
    if callable(value):
        return {"function": _callable_path(value)}
    raise ValueError(f"cannot record {type(value).__name__} {value!r} in a recipe.")


def decode(data: Any) -> Any:
    """Invert `encode`.

    Args:
        data: What `encode` returned, after a JSON round trip.

    Returns:
        The constructor argument.

    Raises:
        ValueError: If the data is not an encoding `encode` writes, or a
            recorded function cannot be imported.
    """
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, dict) and len(data) == 1:
        ((kind, payload),) = data.items()
        if kind == "space":
            return space_from_json(payload)
        if kind == "tuple":
            return tuple(decode(v) for v in payload)
        if kind == "function":
            return import_path(str(payload))
    raise ValueError(f"malformed recipe entry {data!r}.")


def import_path(path: str) -> Any:
    """Import `module:qualname`.

    Args:
        path: What `encode` wrote for a function or a class.

    Returns:
        The object.

    Raises:
        ValueError: If it cannot be imported.
    """
    module_name, _, qualname = path.partition(":")
    try:
        value: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as err:
        raise ValueError(
            f"the recipe names {path}, which cannot be imported ({err})."
        ) from None
    return value


def encode_recipe(cls: type, arguments: dict[str, Any]) -> dict[str, Any]:
    """The recipe `serialize` writes: a class and its encoded arguments.

    Args:
        cls: The policy's class.
        arguments: What its `constructor_arguments()` returned.

    Returns:
        `{"class": "module:qualname", "arguments": {name: encoding}}`.

    Raises:
        ValueError: If an argument cannot be recorded.
    """
    return {
        "class": class_path(cls),
        "arguments": {k: encode(v) for k, v in arguments.items()},
    }


def class_path(cls: type) -> str:
    """`module:qualname` of a class, by its public module where it has one.

    `lerax.policy._mlp.MLPActorCriticPolicy` is recorded as
    `lerax.policy:MLPActorCriticPolicy`, so moving a class between private
    modules does not break the recipes of saved files.

    Args:
        cls: The class.

    Returns:
        The path `import_path` resolves back to `cls`.
    """
    parts = cls.__module__.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_"):
            public = ".".join(parts[:i])
            try:
                if public and import_path(f"{public}:{cls.__qualname__}") is cls:
                    return f"{public}:{cls.__qualname__}"
            except ValueError:
                pass
            break
    return f"{cls.__module__}:{cls.__qualname__}"


def decode_arguments(recipe: dict[str, Any], cls: type) -> dict[str, Any]:
    """The constructor arguments of a recipe written for `cls`.

    Args:
        recipe: What `encode_recipe` returned, after a JSON round trip.
        cls: The class the caller will build.

    Returns:
        The keyword arguments.

    Raises:
        ValueError: If the recipe is malformed or was written for another class.
    """
    try:
        recorded = str(recipe["class"])
        arguments = dict(recipe["arguments"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"the file's recipe is unreadable ({err!r}).") from None
    if recorded != class_path(cls):
        raise ValueError(
            f"the file holds a {recorded.split(':')[-1]}, not a {cls.__qualname__}."
        )
    return {k: decode(v) for k, v in arguments.items()}
