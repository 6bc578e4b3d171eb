"""Fingerprinted, atomic saving and loading of Equinox modules.

File layout (all integers big-endian):

    magic        6 bytes   b"LERAX\\x00"
    version      2 bytes   format version, currently 1
    fingerprint 32 bytes   SHA-256 of the module's structure (see below)
    header_len   4 bytes   length of the JSON header
    header       JSON      class name, structure entries, leaf-data length and hash
    leaf data    rest      exactly what `eqx.tree_serialise_leaves` writes

The structure is a list of `(path, description)` entries produced by walking the
module: the class and every node's type, every static field's value (callables by
`module.qualname`, never by a memory address), and every leaf's dtype and shape.
Leaf *values* are not part of it. The fingerprint is the SHA-256 of the class's
identity and those entries, so two modules share a fingerprint exactly when
their skeletons are interchangeable.

Identity rules:

- A class is `public_module.qualname`, where `public_module` is its module cut
  before the first private (`_name`) component: `lerax.policy._mlp` gives
  `lerax.policy.MLPActorCriticPolicy`. So a class of the same name in another
  package (or in `__main__`) is a different class, while moving a class between
  private modules of one package does not invalidate saved files.
- A callable is `module.qualname` (a lambda bound to exactly one module global,
  like `_identity = lambda x: x`, is `module.global_name`). Other lambdas and
  functions defined inside other functions (`<lambda>` or `<locals>` in the
  qualified name) are refused: every
  lambda of a module has the same name, so a file saved with
  `lambda x: jnp.tanh(x)` would otherwise load into a skeleton built with
  `lambda x: jax.nn.relu(x)`. Keeping the entries in the header lets
a mismatch be reported as "this path differs: file has X, skeleton has Y".

Compatibility: there is no legacy rule; a file loads only into a skeleton whose
class and entries are exactly the file's. A refactor of a saved class must keep
its entries (field order included). The issue-21 reshape of the policies did: the
abstract bases lost their stringified-`AbstractVar` fields (`name` was never an
entry, since every concrete class overrides it as a `ClassVar`), and the concrete
classes declare `action_space` before `observation_space`, the order the old
base imposed (tests/test_policy_fields.py, tests/test_saved_files.py).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import io
import json
import os
import re
import secrets
import stat
import struct
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import equinox as eqx
import jax
import numpy as np

__all__ = [
    "SUFFIX",
    "UnstableIdentityError",
    "fingerprint",
    "load_module",
    "read_recipe",
    "resolve_load_path",
    "save_module",
    "structure_entries",
]

ModuleType = TypeVar("ModuleType", bound=eqx.Module)

SUFFIX = ".eqx"
MAGIC = b"LERAX\x00"
# Version 2: class identities include the (public) module; lambdas are refused.
VERSION = 2
_PREFIX = struct.Struct(">6sH32sI")  # magic, version, fingerprint, header length
_MAX_REPORTED_DIFFERENCES = 8
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


# --------------------------------------------------------------------------------
# Structure and fingerprint


class UnstableIdentityError(ValueError):
    """A static value has no identity that survives a new process (a lambda)."""


def _public_module(module: str) -> str:
    parts = module.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:i]) or module
    return module


def _type_name(cls: type) -> str:
    """A class's identity: its public module and qualified name."""
    return f"{_public_module(cls.__module__)}.{cls.__qualname__}"


def _global_name(fn: Any, module: str) -> str | None:
    """The name under which `fn` is a global of `module`, if exactly one."""
    namespace = getattr(sys.modules.get(module), "__dict__", {})
    names = [name for name, value in namespace.items() if value is fn]
    return names[0] if len(names) == 1 else None


def _callable_name(fn: Any) -> str:
    if isinstance(fn, functools.partial):
        args = ", ".join(_static_repr(a) for a in fn.args)
        kwargs = ", ".join(
            f"{k}={_static_repr(v)}" for k, v in sorted(fn.keywords.items())
        )
        inner = ", ".join(s for s in (_callable_name(fn.func), args, kwargs) if s)
        return f"partial({inner})"
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str):
        if qualname == "<lambda>":
            # A lambda bound to a module global (`_identity = lambda x: x`) is
            # identified by that global's name.
            qualname = _global_name(fn, module) or qualname
        if "<lambda>" in qualname or "<locals>" in qualname:
            kind = "a lambda" if qualname.endswith("<lambda>") else "a local function"
            raise UnstableIdentityError(
                f"{kind} ({module}.{qualname}) cannot be fingerprinted: its name "
                "does not identify it (two different lambdas share it), so a file "
                "saved with one could load into a skeleton built with another. Use "
                "a named module-level function instead (for example jax.nn.relu, "
                "or a `def` at the top level of your module)."
            )
        return f"{module}.{qualname}"
    return _ADDRESS.sub("", repr(fn))


def _static_repr(value: Any) -> str:
    """A repr of a static value that is stable across processes."""
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return repr(value)
    if _is_array(value):
        # NumPy's repr elides the middle of large arrays; hash the bytes instead.
        try:
            digest = hashlib.sha256(np.asarray(value).tobytes()).hexdigest()[:16]
        except Exception:  # an abstract value (a tracer or ShapeDtypeStruct)
            digest = "abstract"
        return f"array {_array_repr(value)} sha256:{digest}"
    if isinstance(value, enum.Enum):
        return f"{_type_name(type(value))}.{value.name}"
    if isinstance(value, tuple):
        inner = ", ".join(_static_repr(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(_static_repr(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = sorted((repr(k), _static_repr(v)) for k, v in value.items())
        return "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
    if isinstance(value, np.dtype):
        return f"dtype({value.name})"
    if isinstance(value, type):
        return _type_name(value)
    if callable(value):
        return _callable_name(value)
    return _ADDRESS.sub("", repr(value))


def _is_array(x: Any) -> bool:
    return isinstance(x, (jax.Array, jax.ShapeDtypeStruct, np.ndarray, np.generic))


def _array_repr(x: Any) -> str:
    dtype = np.dtype(x.dtype).name
    return f"{dtype}[{', '.join(str(int(d)) for d in x.shape)}]"


def structure_entries(module: Any) -> list[tuple[str, str]]:
    """Describe the structure of a pytree as `(path, description)` pairs.

    Node types, static field values and leaf dtypes/shapes are described; leaf
    values are not. Works on concrete modules and on `eqx.filter_eval_shape`
    skeletons alike (`ShapeDtypeStruct` leaves describe like arrays).

    Args:
        module: An Equinox module (or any pytree).

    Returns:
        The entries, in a deterministic order.

    Raises:
        UnstableIdentityError: (a `ValueError`) If a static field or an opaque
            leaf is a lambda or a local function; the message names its path.
    """
    entries: list[tuple[str, str]] = []

    def child(path: str, name: str) -> str:
        return f"{path}.{name}" if path else name

    def visit(path: str, x: Any) -> None:
        where = path or "<root>"
        if isinstance(x, eqx.Module):
            entries.append((where, f"module {_type_name(type(x))}"))
            for field in dataclasses.fields(x):
                value = getattr(x, field.name, None)
                if field.metadata.get("static", False):
                    name = child(path, field.name)
                    try:
                        desc = _static_repr(value)
                    except UnstableIdentityError as err:
                        raise UnstableIdentityError(f"{name}: {err}") from None
                    entries.append((name, f"static {desc}"))
                else:
                    visit(child(path, field.name), value)
        elif _is_array(x):
            entries.append((where, _array_repr(x)))
        elif x is None:
            entries.append((where, "None"))
        elif isinstance(x, (bool, int, float, complex)):
            entries.append((where, type(x).__name__))
        elif isinstance(x, dict):
            entries.append((where, f"dict[{len(x)}]"))
            for k in sorted(x, key=repr):
                visit(f"{path}[{k!r}]", x[k])
        elif isinstance(x, (list, tuple)) and type(x) in (list, tuple):
            entries.append((where, f"{type(x).__name__}[{len(x)}]"))
            for i, v in enumerate(x):
                visit(f"{path}[{i}]", v)
        else:
            # Other pytree nodes (named tuples, custom nodes) or opaque leaves.
            keyed, _ = jax.tree_util.tree_flatten_with_path(
                x, is_leaf=lambda y: y is not x
            )
            if len(keyed) == 1 and keyed[0][1] is x:
                if callable(x):
                    try:
                        desc = _callable_name(x)
                    except UnstableIdentityError as err:
                        raise UnstableIdentityError(f"{where}: {err}") from None
                    entries.append((where, f"callable {desc}"))
                else:
                    entries.append((where, f"object {_type_name(type(x))}"))
                return
            entries.append((where, f"node {_type_name(type(x))}"))
            for key_path, v in keyed:
                visit(path + jax.tree_util.keystr(key_path), v)

    visit("", module)
    return entries


def _class_name(module: Any) -> str:
    return _type_name(type(module))


def _fingerprint_of(class_name: str, entries: Sequence[Sequence[str]]) -> bytes:
    payload = json.dumps(
        {"class": class_name, "structure": [list(e) for e in entries]},
        separators=(",", ":"),
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode("utf-8")).digest()


def fingerprint(module: Any) -> bytes:
    """The 32-byte structural fingerprint of a module.

    Args:
        module: An Equinox module (concrete or an `eqx.filter_eval_shape` skeleton).

    Returns:
        The SHA-256 digest of the class's identity and `structure_entries`.

    Raises:
        UnstableIdentityError: (a `ValueError`) If the module holds a lambda or a
            local function (see the module docstring).
    """
    return _fingerprint_of(_class_name(module), structure_entries(module))


# --------------------------------------------------------------------------------
# Saving


def _save_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path if path.suffix == SUFFIX else path.with_name(path.name + SUFFIX)


def atomic_write(path: Path, chunks: Sequence[bytes]) -> None:
    """Write `chunks` to `path` so that `path` is either untouched or complete.

    Used by `save_module` and by the ONNX export.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    # O_EXCL: never clobber a stranger's file; mode 0o666 lets the umask apply as
    # for an ordinary new file.
    fd = os.open(
        tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666
    )
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        except FileNotFoundError:
            pass
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if os.name == "posix":  # make the rename itself durable; best effort
        try:
            dir_fd = os.open(path.parent, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dir_fd)
        except OSError:
            pass
        finally:
            os.close(dir_fd)


def save_module(
    module: eqx.Module,
    path: str | os.PathLike,
    *,
    recipe: Mapping[str, Any] | None = None,
) -> Path:
    """Save a module's fingerprint, structure and leaves atomically.

    The leaves are serialised to memory first; the file is then written to a
    temporary file in the same folder, flushed, fsynced and moved over `path` with
    `os.replace`. On any exception the temporary file is removed and an existing
    file at `path` is left untouched.

    Args:
        module: The module to save.
        path: Where to save; `.eqx` is appended unless it is already the suffix.
        recipe: JSON-compatible data that rebuilds the module's skeleton (its
            class and constructor arguments), stored in the header and returned
            by `read_recipe`. It is not part of the fingerprint: a skeleton
            built from it must still match the structure before loading.

    Returns:
        The path written.

    Raises:
        FileNotFoundError: If the folder of `path` does not exist.
        UnstableIdentityError: (a `ValueError`) If the module holds a lambda or a
            local function, whose identity a file cannot record.
    """
    path = _save_path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"Cannot save to {path}: folder {path.parent} does not exist."
        )
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, module)
    data = buffer.getvalue()
    entries = structure_entries(module)
    class_name = _class_name(module)
    fields: dict[str, Any] = {
        "class": class_name,
        "structure": [list(e) for e in entries],
        "data_bytes": len(data),
        "data_sha256": hashlib.sha256(data).hexdigest(),
    }
    if recipe is not None:
        fields["recipe"] = dict(recipe)
    header = json.dumps(fields, separators=(",", ":")).encode("utf-8")
    prefix = _PREFIX.pack(
        MAGIC, VERSION, _fingerprint_of(class_name, entries), len(header)
    )
    atomic_write(path, [prefix, header, data])
    return path


# --------------------------------------------------------------------------------
# Loading


def resolve_load_path(path: str | os.PathLike) -> Path:
    """Find the file to load: `path` itself, else `path` with `.eqx` appended.

    Args:
        path: The path given by the user.

    Returns:
        An existing file path.

    Raises:
        FileNotFoundError: If neither exists.
    """
    path = Path(path)
    if path.is_file():
        return path
    with_suffix = _save_path(path)
    if with_suffix.is_file():
        return with_suffix
    tried = f"{path}" if with_suffix == path else f"{path} or {with_suffix}"
    raise FileNotFoundError(f"No saved model at {tried}.")


def read_recipe(path: str | os.PathLike) -> tuple[str, dict[str, Any] | None]:
    """The class name and the recipe a saved file's header records.

    Args:
        path: The file (`.eqx` is tried as well).

    Returns:
        `(class_name, recipe)`; `recipe` is `None` when the file has none.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file is not a lerax model file, or is truncated or
            corrupted.
    """
    path = resolve_load_path(path)
    class_name, _, _, _, header = _read_file(path)
    recipe = header.get("recipe")
    return class_name, recipe if isinstance(recipe, dict) else None


def _read_file(
    path: Path,
) -> tuple[str, list[tuple[str, str]], bytes, bytes, dict[str, Any]]:
    """Validate the framing of a saved file; return class, entries, fp, data, header."""
    blob = path.read_bytes()
    if len(blob) < len(MAGIC) or blob[: len(MAGIC)] != MAGIC:
        raise ValueError(
            f"{path} is not a lerax model file (it does not start with the lerax "
            "magic bytes); save models with `serialize`."
        )
    if len(blob) < _PREFIX.size:
        raise ValueError(f"{path} is truncated: it ends inside the file header.")
    _, version, stored_fp, header_len = _PREFIX.unpack_from(blob)
    if version != VERSION:
        raise ValueError(
            f"{path} uses lerax model format version {version}; this lerax reads "
            f"version {VERSION}."
        )
    header_end = _PREFIX.size + header_len
    if len(blob) < header_end:
        raise ValueError(f"{path} is truncated: it ends inside the JSON header.")
    try:
        header = json.loads(blob[_PREFIX.size : header_end].decode("utf-8"))
        class_name = header["class"]
        entries = [(str(p), str(d)) for p, d in header["structure"]]
        data_bytes = int(header["data_bytes"])
        data_sha256 = str(header["data_sha256"])
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path} is corrupted: its header is unreadable.") from err
    if _fingerprint_of(class_name, entries) != stored_fp:
        raise ValueError(
            f"{path} is corrupted: its header does not match its fingerprint."
        )
    data = blob[header_end:]
    if len(data) < data_bytes:
        raise ValueError(
            f"{path} is truncated: {len(data)} of {data_bytes} bytes of leaf data "
            "are present."
        )
    if len(data) > data_bytes:
        raise ValueError(
            f"{path} is corrupted: {len(data) - data_bytes} unexpected bytes follow "
            "the leaf data."
        )
    if hashlib.sha256(data).hexdigest() != data_sha256:
        raise ValueError(f"{path} is corrupted: its leaf data fails its checksum.")
    return class_name, entries, stored_fp, data, header


def _depth(path: str) -> int:
    return path.count(".") + path.count("[")


def _short(desc: str) -> str:
    return desc if len(desc) <= 80 else desc[:77] + "..."


def _describe_mismatch(
    file_class: str,
    file_entries: list[tuple[str, str]],
    skeleton_class: str,
    skeleton_entries: list[tuple[str, str]],
) -> str:
    lines = []
    if file_class != skeleton_class:
        lines.append(f"class: file has {file_class}, skeleton is {skeleton_class}")
    file_map = dict(file_entries)
    skeleton_map = dict(skeleton_entries)
    for path, desc in skeleton_entries:
        if path not in file_map:
            lines.append(f"{path}: not in the file (skeleton has {_short(desc)})")
        elif file_map[path] != desc:
            lines.append(
                f"{path}: file has {_short(file_map[path])}, skeleton has "
                f"{_short(desc)}"
            )
    for path, desc in file_entries:
        if path not in skeleton_map:
            lines.append(f"{path}: not in the skeleton (file has {_short(desc)})")
    if not lines:
        lines.append("the order of the tree's entries differs")
    # Shallow differences first: "width_size: 32 vs 64" says more than the
    # dozen weight shapes it implies.
    lines.sort(key=lambda line: _depth(line.split(": ", 1)[0]))
    shown = lines[:_MAX_REPORTED_DIFFERENCES]
    if len(lines) > len(shown):
        shown.append(f"... and {len(lines) - len(shown)} more differences")
    return "\n  ".join(shown)


def load_module(path: str | os.PathLike, skeleton: ModuleType) -> ModuleType:
    """Load leaves saved by `save_module` into a skeleton with the same structure.

    Args:
        path: The file (`.eqx` is tried as well if `path` does not exist).
        skeleton: A module of the saved structure, concrete or from
            `eqx.filter_eval_shape`; its leaves are replaced.

    Returns:
        The skeleton with the saved leaves.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file is not a lerax model file, is truncated or
            corrupted, or was saved from a different structure (the message lists
            what differs), or if the skeleton holds a lambda or a local function.
    """
    path = resolve_load_path(path)
    file_class, file_entries, file_fp, data, _ = _read_file(path)
    skeleton_entries = structure_entries(skeleton)
    skeleton_class = _class_name(skeleton)
    if _fingerprint_of(skeleton_class, skeleton_entries) != file_fp:
        raise ValueError(
            f"{path} was saved from a different structure than the "
            f"{skeleton_class} built from these arguments; rebuild it with the "
            "arguments it was saved with. Differences:\n  "
            + _describe_mismatch(
                file_class, file_entries, skeleton_class, skeleton_entries
            )
        )
    stream = io.BytesIO(data)
    try:
        loaded = eqx.tree_deserialise_leaves(stream, skeleton)
    except Exception as err:  # the checksum passed, so this is a format bug
        raise ValueError(f"{path}: its leaf data could not be read ({err}).") from err
    if stream.tell() != len(data):
        raise ValueError(
            f"{path}: the skeleton consumed {stream.tell()} of {len(data)} bytes of "
            "leaf data."
        )
    return loaded
