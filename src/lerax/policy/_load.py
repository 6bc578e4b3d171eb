"""`lerax.load`: a saved policy rebuilt from its file alone.

`serialize` writes, beside the weights, the arguments `constructor_arguments`
returns (spaces, sizes, named activations), so `load(path)` can build the
skeleton without the environment or the original call. The recipe is advice for
building the skeleton, never trusted blindly: the skeleton it builds must still
match the file's structural fingerprint before any weight is loaded.
"""

import os

from lerax._serialization import read_recipe, resolve_load_path

from ._base import AbstractPolicy
from ._recipe import import_path


def load(path: str | os.PathLike) -> AbstractPolicy:
    """Load a policy saved with `serialize`, rebuilding it from the file alone.

    Works for files saved by lerax's own policy classes, which record their
    constructor arguments (spaces, sizes, named activations). The rebuilt
    skeleton is checked against the file's structural fingerprint before any
    weight is loaded, exactly as `deserialize` does.

    ```python
    policy.serialize("cartpole.eqx")
    policy = lerax.load("cartpole.eqx")  # no env, no constructor arguments
    ```

    Args:
        path: The file (`.eqx` is tried as well).

    Returns:
        The policy, of the class it was saved from.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file is not a lerax model or is corrupted, or if it
            carries no recipe (saved by a custom policy class, or by lerax
            before recipes); the message names the class and says to call
            `Class.deserialize(path, env, **constructor_arguments)`.
    """
    path = resolve_load_path(path)
    class_name, recipe = read_recipe(path)
    if recipe is None:
        short = class_name.rsplit(".", 1)[-1]
        raise ValueError(
            f"{path} holds a {class_name} but no recipe to rebuild it (saved by a "
            "custom policy class, or by lerax before recipes): load it with "
            f"{short}.deserialize(path, env, **the constructor arguments it was "
            "built with)."
        )
    try:
        cls = import_path(str(recipe["class"]))
    except (KeyError, TypeError) as err:
        raise ValueError(
            f"{path} is corrupted: its recipe is unreadable ({err!r})."
        ) from None
    if not (isinstance(cls, type) and issubclass(cls, AbstractPolicy)):
        raise ValueError(f"{path}: its recipe names {cls!r}, which is not a policy.")
    return cls.deserialize(path)
