"""Every ```python block of the guides in docs/ runs, so the guides stay true.

Each page runs in its own Python subprocess (in a temporary directory, so files
a page saves do not land in the repository): its blocks in order, sharing one
namespace, as a reader would paste them. A block preceded by the line
`<!-- skip-test -->` is not run; keep that for the rare block that cannot run
here (one needing a GPU, a network or a cluster).

Quick mode: the guides show real training budgets (`2**17` timesteps and the
like), which would take minutes each. Instead of rewriting the code or making
the guides read environment variables, the runner sets `LERAX_DOCS_QUICK=4`
and runs a one-line prelude that caps
`AbstractOnPolicyAlgorithm.num_iterations` - the one function through which
`learn`, `learn_state`, `train_seeds` and `sweep` turn a budget into a number
of iterations - at that many iterations. The budget is still validated first
(a budget smaller than one iteration still raises), and everything that does
not depend on the number of iterations (shapes, compilation, logs, saving,
evaluation) runs exactly as written. Printed numbers then come from a short run.

Generated pages (benchmark tables) hold no code and are left out.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GENERATED = {"benchmarks.md", "overheads.md", "scale-benchmarks.md", "learning.md"}
SKIP_MARKER = "<!-- skip-test -->"
QUICK_ITERATIONS = 4
PAGE_TIMEOUT_S = 600

PRELUDE = """\
def _install_quick_mode():
    import os

    from lerax.algorithm import AbstractOnPolicyAlgorithm

    full_num_iterations = AbstractOnPolicyAlgorithm.num_iterations
    cap = int(os.environ["LERAX_DOCS_QUICK"])

    def quick_num_iterations(self, total_timesteps):
        return min(full_num_iterations(self, total_timesteps), cap)  # validates

    AbstractOnPolicyAlgorithm.num_iterations = quick_num_iterations


_install_quick_mode()
del _install_quick_mode
"""

FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def code_blocks(text: str) -> list[tuple[int, str]]:
    """The runnable python blocks of a page, with their first line numbers.

    Args:
        text: The markdown text.

    Returns:
        `(line, code)` for each fenced python block not marked to skip.
    """
    blocks = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip().splitlines()
        if before and before[-1].strip() == SKIP_MARKER:
            continue
        line = text.count("\n", 0, match.start()) + 2
        blocks.append((line, match.group(1)))
    return blocks


def guide_pages() -> list[Path]:
    return sorted(
        p
        for p in DOCS.glob("*.md")
        if p.name not in GENERATED and code_blocks(p.read_text())
    )


def page_script(path: Path) -> str:
    """One script running the page's blocks in order, each reported by line."""
    parts = [PRELUDE]
    for line, code in code_blocks(path.read_text()):
        parts.append(f"# --- {path.name}, block at line {line}\n{code}")
    return "\n".join(parts)


def test_code_blocks_are_found_and_skips_honoured():
    text = (
        "intro\n```python\nx = 1\n```\n\n<!-- skip-test -->\n```python\nboom()\n"
        "```\n```bash\nls\n```\n```python\ny = x + 1\n```\n"
    )
    assert code_blocks(text) == [(3, "x = 1\n"), (14, "y = x + 1\n")]


def test_most_guides_have_code_and_few_blocks_are_skipped():
    pages = guide_pages()
    assert len(pages) >= 10
    skipped = sum(p.read_text().count(SKIP_MARKER) for p in DOCS.glob("*.md"))
    total = sum(p.read_text().count("```python") for p in DOCS.glob("*.md"))
    assert skipped <= max(3, total // 10), (skipped, total)


@pytest.mark.parametrize("path", guide_pages(), ids=lambda p: p.name)
def test_guide_code_runs(path, tmp_path):
    env = dict(os.environ)
    env["LERAX_DOCS_QUICK"] = str(QUICK_ITERATIONS)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    env.setdefault("JAX_PLATFORMS", "cpu")
    script = tmp_path / f"{path.stem}.py"
    script.write_text(page_script(path))
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=PAGE_TIMEOUT_S,
    )
    assert result.returncode == 0, (
        f"{path.name}: its code failed (blocks are marked '# --- {path.name}, "
        f"block at line N' in {script}):\n{result.stderr[-4000:]}"
    )
