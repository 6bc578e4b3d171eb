"""The install and home pages say what is true: extras, subpackages, CI.

Checked against the sources of truth: `pyproject.toml` (read with tomllib), the
package's own directory (pkgutil) and `.ci/run`.
"""

from __future__ import annotations

import pkgutil
import re
import tomllib
from pathlib import Path

import pytest

import lerax
import lerax.compatibility

ROOT = Path(__file__).resolve().parents[1]


def table_first_cells(text: str, header: str) -> list[str]:
    """The first cell of every row of the Markdown table whose header starts so."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    cells = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells.append(line.split("|")[1].strip())
    return cells


def test_the_extras_table_is_pyproject_s_extras():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    page = (ROOT / "docs" / "getting-started.md").read_text()
    cells = table_first_cells(page, "| extra | adds | for |")
    assert sorted(c.strip("`") for c in cells) == sorted(extras)
    # The packages column names each extra's own requirements.
    for line in page.splitlines():
        match = re.match(r"\| `(\w+)` \| (.*?) \|", line)
        if match and match.group(1) in extras and match.group(1) not in ("all", "dev"):
            for requirement in extras[match.group(1)]:
                name = re.split(r"[<>=\[ ]", requirement)[0]
                assert f"`{name}`" in match.group(2), (match.group(1), name)


def public_subpackages() -> list[str]:
    names = [
        f"lerax.{m.name}"
        for m in pkgutil.iter_modules(lerax.__path__)
        if m.ispkg and not m.name.startswith("_")
    ]
    # The adapters are modules of lerax.compatibility, one per library.
    names += [
        f"lerax.compatibility.{m.name}"
        for m in pkgutil.iter_modules(lerax.compatibility.__path__)
        if not m.name.startswith("_")
    ]
    return sorted(names)


@pytest.mark.parametrize("page", ["docs/index.md", "README.md"])
def test_the_home_page_table_covers_every_public_subpackage(page):
    cells = table_first_cells((ROOT / page).read_text(), "| package | what |")
    named = {name for cell in cells for name in re.findall(r"`(lerax[\w.]*)`", cell)}
    expected = public_subpackages()
    assert len(expected) >= 14  # the walk found the package, not an empty dir
    for name in expected:
        assert name in named or any(n.startswith(name + ".") for n in named), name


@pytest.mark.parametrize("page", ["docs/index.md", "README.md"])
def test_the_home_page_says_what_ci_runs(page):
    text = " ".join((ROOT / page).read_text().split())
    ci = (ROOT / ".ci" / "run").read_text()
    assert '\npip install -e ".[dev]"\n' in ci and "\npytest -n 2\n" in ci
    assert "LERAX_STRICT_SKIPS=1" in ci and "`LERAX_STRICT_SKIPS=1`" in text
    assert "the suite takes about 15 minutes" in text
    # The guides' code runs as its own step, and the home page says so.
    assert "\npytest -n 2 --dist load -m docs tests/test_docs_code.py\n" in ci
    assert "`pytest -n 2 --dist load -m docs`" in text
    smoke = list(dict.fromkeys(re.findall(r"benchmarks/(\w+)\.py --smoke", ci)))
    scripts = [s for s in smoke if s != "scale"]
    words = dict(
        enumerate(
            "zero one two three four five six seven eight nine ten eleven twelve "
            "thirteen fourteen fifteen sixteen seventeen eighteen nineteen "
            "twenty".split()
        )
    )
    assert f"{words[len(scripts)]} benchmark scripts" in text
    for script in smoke:
        assert re.search(rf"[`/]{script}\.py", text), script
    assert "examples/*.py" in ci and "every example of `examples/`" in text
    assert "pip install lerax` does not" in text  # the PyPI name clash
