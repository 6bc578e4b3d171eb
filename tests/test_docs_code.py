"""Every ```python block of the guides in docs/ runs, so the guides stay true.

Each page's blocks run in order in one namespace, as a reader would paste them,
in a fresh temporary directory (files a page saves do not land in the
repository). A block preceded by the line `<!-- skip-test -->` is not run; keep
that for the rare block that cannot run here (one needing a GPU, a network, a
cluster or another library).

These runs are marked `docs`: the default `pytest` leaves them out (they take
minutes of CPU) and `.ci/run` runs them as their own step, `pytest -n 2 --dist
load -m docs tests/test_docs_code.py` (`load`: the groups are one module).

The pages run in four Python subprocesses (one per test, so `pytest -n 2` runs
them two at a time and a long group does not finish alone after the rest of the
suite), each running its pages one after another: importing JAX
and lerax once per process instead of once per page saves about 3 s of CPU a
page, and programs that several pages compile (default PPO on CartPole, say)
are compiled once. Each page still gets its own namespace and directory, and a
failing page is reported with its traceback without stopping the others.

Quick mode: the guides show real training budgets (`2**17` timesteps and the
like), which would take minutes each. Instead of rewriting the code or making
the guides read environment variables, the runner sets `LERAX_DOCS_QUICK=4`
and caps `AbstractOnPolicyAlgorithm.num_iterations` - the one function through
which `learn`, `learn_state`, `train_seeds` and `sweep` turn a budget into a
number of iterations - at that many iterations. The budget is still validated
first (a budget smaller than one iteration still raises), and everything that
does not depend on the number of iterations (shapes, compilation, logs, saving,
evaluation) runs exactly as written. Printed numbers (returns, and values
computed from `num_iterations` itself) then come from the short run.

Compile level: the suite compiles at XLA's cheap optimisation level
(`JAX_DISABLE_MOST_OPTIMIZATIONS=1`, see conftest.py), which halves compile
times but makes heavy compute slower. A block preceded by the line
`<!-- test: full-xla -->` runs at XLA's default level instead: for the rare block
whose running time (not its compiles) dominates, such as a CNN trained on
MinAtar (measured 143 s at the cheap level, 44 s at the default one).

Generated pages (benchmark tables) hold no code and are left out.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GENERATED = {"benchmarks.md", "overheads.md", "scale-benchmarks.md", "learning.md"}
SKIP_MARKER = "<!-- skip-test -->"
FULL_XLA_MARKER = "<!-- test: full-xla -->"
# At least 4: watching-training.md evaluates every 4 iterations, and an
# EvalCallback whose run is shorter than `every_iterations` currently fails
# with an IndexError (a bug outside the docs).
QUICK_ITERATIONS = 4
PAGE_TIMEOUT_S = 1200  # per group of pages


def install_quick_mode(cap: int) -> None:
    """Cap every run at `cap` iterations (see the module docstring)."""
    from lerax.algorithm import AbstractOnPolicyAlgorithm

    full_num_iterations = AbstractOnPolicyAlgorithm.num_iterations

    def quick_num_iterations(self, total_timesteps):
        return min(full_num_iterations(self, total_timesteps), cap)  # validates

    AbstractOnPolicyAlgorithm.num_iterations = quick_num_iterations


FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def code_blocks(text: str) -> list[tuple[int, str, bool]]:
    """The runnable python blocks of a page, with their first line numbers.

    Args:
        text: The markdown text.

    Returns:
        `(line, code, full_xla)` for each fenced python block not marked to
        skip; `full_xla` says whether the block is marked to compile at XLA's
        default optimisation level.
    """
    blocks = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip().splitlines()
        marker = before[-1].strip() if before else ""
        if marker == SKIP_MARKER:
            continue
        line = text.count("\n", 0, match.start()) + 2
        blocks.append((line, match.group(1), marker == FULL_XLA_MARKER))
    return blocks


def guide_pages() -> list[Path]:
    return sorted(
        p
        for p in DOCS.glob("*.md")
        if p.name not in GENERATED and code_blocks(p.read_text())
    )


def run_page(path: Path) -> str | None:
    """Run a page's blocks in order in a fresh namespace and directory.

    Returns:
        `None` if every block ran, else the traceback, naming the block's line.
    """
    namespace: dict = {"__name__": "__main__"}
    cwd = os.getcwd()
    os.chdir(tempfile.mkdtemp(prefix=f"docs-{path.stem}-"))
    try:
        for line, code, full_xla in code_blocks(path.read_text()):
            where = f"{path.name}, block at line {line}"
            try:
                with xla_level(full=full_xla):
                    exec(compile(code, where, "exec"), namespace)
            except BaseException:
                return f"{where}:\n{traceback.format_exc()}"
        return None
    finally:
        os.chdir(cwd)


@contextlib.contextmanager
def xla_level(*, full: bool):
    """Compile at XLA's default optimisation level inside, if `full`."""
    if not full:
        yield
        return
    import jax

    before = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", False)
    try:
        yield
    finally:
        jax.config.update("jax_disable_most_optimizations", before)


# Seconds each page took on its own (docs runner, quick mode, cheap XLA
# optimisation level, two pages at a time on the 2-core machine), to balance the
# groups; a page not listed counts as `DEFAULT_COST`.
PAGE_COST = {
    "ppo-options.md": 67,
    "scale.md": 64,
    "long-runs.md": 58,
    "pbt.md": 56,
    "index.md": 39,
    "curricula.md": 32,
    "multi-agent.md": 46,
    "interop-brax.md": 28,
    "concepts.md": 25,
    "getting-started.md": 23,
    "watching-training.md": 23,
    "objectives.md": 18,
    "troubleshooting.md": 18,
    "coming-from-sb3.md": 15,
    "export.md": 15,
    "interop-gymnasium.md": 15,
    "interop-jumanji.md": 14,
    "presets.md": 14,
    "custom-env.md": 13,
    "pqn.md": 13,
    "coming-from-skrl.md": 12,
    "correctness.md": 7,
    "interop-gymnax.md": 7,
    "make.md": 6,
    "ppo-hyperparameters.md": 3,
}
DEFAULT_COST = 20


def page_groups(count: int = 4) -> list[list[Path]]:
    """Split the pages into `count` groups of about equal running time."""

    def cost(page: Path) -> int:
        return PAGE_COST.get(page.name, DEFAULT_COST)

    groups: list[list[Path]] = [[] for _ in range(count)]
    totals = [0] * count
    for page in sorted(guide_pages(), key=lambda p: (-cost(p), p.name)):
        smallest = totals.index(min(totals))
        groups[smallest].append(page)
        totals[smallest] += cost(page)
    return [sorted(g) for g in groups]


def main(pages: list[str]) -> int:
    """Run pages (paths) in this process; print and count the failures."""
    install_quick_mode(int(os.environ["LERAX_DOCS_QUICK"]))
    failures = 0
    for page in pages:
        error = run_page(Path(page))
        if error is not None:
            failures += 1
            print(f"FAILED {error}", file=sys.stderr, flush=True)
    return failures


def test_code_blocks_are_found_and_skips_honoured():
    text = (
        "intro\n```python\nx = 1\n```\n\n<!-- skip-test -->\n```python\nboom()\n"
        "```\n```bash\nls\n```\n```python\ny = x + 1\n```\n"
        "<!-- test: full-xla -->\n```python\nz = 2\n```\n"
    )
    assert code_blocks(text) == [
        (3, "x = 1\n", False),
        (14, "y = x + 1\n", False),
        (18, "z = 2\n", True),
    ]


def test_most_guides_have_code_and_few_blocks_are_skipped():
    pages = guide_pages()
    assert len(pages) >= 10
    skipped = sum(p.read_text().count(SKIP_MARKER) for p in DOCS.glob("*.md"))
    total = sum(p.read_text().count("```python") for p in DOCS.glob("*.md"))
    assert skipped <= max(3, total // 10), (skipped, total)


@pytest.mark.docs
@pytest.mark.parametrize(
    "pages",
    page_groups(),
    ids=lambda pages: "+".join(p.stem for p in pages),
)
def test_guide_code_runs(pages):
    env = dict(os.environ)
    env["LERAX_DOCS_QUICK"] = str(QUICK_ITERATIONS)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    env.setdefault("JAX_PLATFORMS", "cpu")
    result = subprocess.run(
        [sys.executable, __file__, *map(str, pages)],
        env=env,
        capture_output=True,
        text=True,
        timeout=PAGE_TIMEOUT_S,
    )
    failed = [line for line in result.stderr.splitlines() if line.startswith("FAILED")]
    assert result.returncode == 0, (
        f"{len(failed)} page(s) failed: {failed}\n{result.stderr[-6000:]}"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
