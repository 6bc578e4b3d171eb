"""Every public symbol is in the API reference and documents what it takes.

The public API is what the `lerax.*` packages export in `__all__`. Each symbol
must appear on an API page (`::: lerax.module` for a whole module, or
`::: lerax.module.Name`), and its docstring must have an `Args:` section when
it takes arguments, a `Returns:` section when it returns something and a
`Raises:` section when its code raises (Google style, which mkdocstrings
renders and checks). A class documents its constructor's arguments in its own
or its `__init__`'s docstring (as `Args:` or, for dataclass fields,
`Attributes:`). Every example script opens with a docstring saying what it shows.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import textwrap
from pathlib import Path

import pytest

import lerax

ROOT = Path(__file__).resolve().parents[1]
API_DOCS = ROOT / "docs" / "api"
# Modules whose import needs an optional extra that a minimal install lacks are
# still checked here: `.[dev]` installs every extra.


def public_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(lerax.__path__, "lerax."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts) or parts[-1] == "__main__":
            continue
        names.append(info.name)
    return sorted(names)


def public_symbols() -> list[tuple[str, str]]:
    out = []
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            out.append((module_name, name))
    return out


SYMBOLS = public_symbols()


def documented_targets() -> set[str]:
    targets = set()
    for page in API_DOCS.glob("*.md"):
        for line in page.read_text().splitlines():
            match = re.match(r"^:::\s+(\S+)", line)
            if match:
                targets.add(match.group(1))
    return targets


def section(doc: str, *names: str) -> bool:
    return any(re.search(rf"^\s*{n}:\s*$", doc, re.MULTILINE) for n in names)


def own_function_node(func) -> ast.FunctionDef | None:
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        return None
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return node
    return None


def walk_own(node: ast.AST):
    """The nodes of a function body, not descending into nested functions."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        yield child
        yield from walk_own(child)


def raises(node: ast.FunctionDef) -> bool:
    return any(isinstance(n, ast.Raise) for n in walk_own(node))


def returns_value(node: ast.FunctionDef) -> bool:
    return any(
        isinstance(n, ast.Return)
        and n.value is not None
        or isinstance(n, (ast.Yield, ast.YieldFrom))
        for n in walk_own(node)
    )


def arg_names(node: ast.FunctionDef) -> list[str]:
    args = node.args
    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
    return [n for n in names if n not in ("self", "cls")]


def function_problems(func, doc: str, what: str) -> list[str]:
    node = own_function_node(func)
    if node is None:
        return []
    problems = []
    names = arg_names(node)
    if names and not section(doc, "Args", "Arguments"):
        problems.append(f"{what}: no Args section (takes {', '.join(names)})")
    if returns_value(node) and not section(doc, "Returns", "Yields"):
        problems.append(f"{what}: no Returns section")
    if raises(node) and not section(doc, "Raises"):
        problems.append(f"{what}: raises but has no Raises section")
    return problems


def class_problems(cls, what: str) -> list[str]:
    doc = cls.__dict__.get("__doc__") or ""
    # A dataclass without a docstring gets its signature as one: not prose.
    if not doc.strip() or doc.startswith(f"{cls.__name__}("):
        return [f"{what}: no docstring"]
    init = cls.__dict__.get("__init__")
    init_doc = (init.__doc__ or "") if init is not None else ""
    both = doc + "\n" + init_doc
    problems = []
    if init is not None and inspect.isfunction(init):
        node = own_function_node(init)
        if node is not None:
            names = arg_names(node)
            if names and not section(both, "Args", "Arguments", "Attributes"):
                problems.append(
                    f"{what}: constructor arguments ({', '.join(names)}) undocumented"
                )
            if raises(node) and not section(both, "Raises"):
                problems.append(f"{what}: __init__ raises but has no Raises section")
    else:
        fields = [
            f
            for f in getattr(cls, "__dataclass_fields__", {})
            if not f.startswith("_") and f in cls.__dict__.get("__annotations__", {})
        ]
        if fields and not section(both, "Args", "Arguments", "Attributes"):
            problems.append(f"{what}: fields ({', '.join(fields)}) undocumented")
    check = cls.__dict__.get("__check_init__")
    if check is not None:
        node = own_function_node(check)
        if node is not None and raises(node) and not section(both, "Raises"):
            problems.append(f"{what}: __check_init__ raises but no Raises section")
    return problems


@pytest.mark.parametrize("module_name, name", SYMBOLS, ids=lambda x: x)
def test_symbol_is_in_the_api_reference(module_name, name):
    targets = documented_targets()
    assert module_name in targets or f"{module_name}.{name}" in targets, (
        f"{module_name}.{name} is exported but no docs/api page has "
        f"'::: {module_name}' or '::: {module_name}.{name}'"
    )


@pytest.mark.parametrize("module_name, name", SYMBOLS, ids=lambda x: x)
def test_symbol_docstring_has_its_sections(module_name, name):
    obj = getattr(importlib.import_module(module_name), name)
    what = f"{module_name}.{name}"
    if inspect.isclass(obj):
        problems = class_problems(obj, what)
    elif inspect.isfunction(obj):
        doc = obj.__doc__ or ""
        problems = [f"{what}: no docstring"] if not doc.strip() else []
        problems += function_problems(obj, doc, what)
    else:  # a constant or an alias: it needs no sections
        problems = []
    assert not problems, "\n".join(problems)


def own_methods(cls):
    """The public methods `cls` defines itself (lerax code) with a docstring.

    A method without its own docstring inherits the documented abstract one.
    """
    for attr, value in cls.__dict__.items():
        if attr.startswith("_"):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if (
            inspect.isfunction(value)
            and value.__doc__
            and value.__module__.startswith("lerax")
        ):
            yield attr, value


CLASSES = [
    (m, n)
    for m, n in SYMBOLS
    if inspect.isclass(getattr(importlib.import_module(m), n))
]


@pytest.mark.parametrize("module_name, name", CLASSES, ids=lambda x: x)
def test_documented_methods_have_their_sections(module_name, name):
    cls = getattr(importlib.import_module(module_name), name)
    problems = []
    for attr, method in own_methods(cls):
        what = f"{module_name}.{name}.{attr}"
        problems += function_problems(method, method.__doc__, what)
    assert not problems, "\n".join(problems)


def test_the_checks_flag_missing_sections():
    # The checks themselves, on known-bad and known-good docstrings.
    def bad(x):
        """Do something."""
        if x:
            raise ValueError("x")
        return x

    def good(x):
        """Do something.

        Args:
            x: A value.

        Returns:
            `x`.

        Raises:
            ValueError: If `x` is truthy.
        """
        if x:
            raise ValueError("x")
        return x

    problems = function_problems(bad, bad.__doc__, "bad")
    assert problems == [
        "bad: no Args section (takes x)",
        "bad: no Returns section",
        "bad: raises but has no Raises section",
    ]
    assert function_problems(good, good.__doc__, "good") == []

    class Undocumented:
        def __init__(self, size):
            self.size = size

    assert class_problems(Undocumented, "U") == ["U: no docstring"]


EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_opens_with_a_docstring_saying_what_it_shows(path):
    doc = ast.get_docstring(ast.parse(path.read_text()))
    assert doc, f"{path.name} does not open with a module docstring"
    first_paragraph = doc.split("\n\n")[0]
    assert len(first_paragraph.split()) >= 8, (
        f"{path.name}: the docstring's first paragraph is too short to say what "
        f"the example shows: {first_paragraph!r}"
    )
