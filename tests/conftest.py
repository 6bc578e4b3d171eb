"""Suite-wide rules: under CI a test may skip only for a reason listed here.

`.ci/run` installs every optional extra, so a test that skips there because an
extra "is missing" hides a broken install: with `LERAX_STRICT_SKIPS=1` (set by
`.ci/run`) such a skip is reported as a failure. A local run without the extras
still skips as before.
"""

import os
import re

import pytest

# The suite checks what programs compute, not how fast they run: XLA's cheap
# optimisation level (`jax_disable_most_optimizations`, LLVM -O0 without its
# expensive passes; JAX's own CI runs tests this way too) about halves the
# compile time that dominates this suite (a tiny CartPole `learn`: 7.0 s -> 4.0
# s, median of 2 pairs). Results differ from the optimised build in the last
# float bits, so modules that compare against files written by a default build
# ask for `full_xla_optimization`. Set in the environment before JAX is imported
# so subprocesses (fresh-process tests, the docs runner) compile the same way.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")

# Skips that are right on the CI machine too, each with why.
EXPECTED_SKIPS = (
    # gymnax's MNISTBandit downloads MNIST when built; CI has no internet.
    re.compile(r"cannot be built offline"),
    # gymnax envs whose spaces lerax's adapter declines, by design (checked).
    re.compile(r"GymnaxToLeraxEnv does not support"),
    # A parametrized test of masks, for action spaces that take none.
    re.compile(r"Box actions take no mask"),
)


def _strict() -> bool:
    return os.environ.get("LERAX_STRICT_SKIPS", "") not in ("", "0")


def _reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _fail_unexpected_skip(report) -> None:
    if not (_strict() and report.skipped):
        return
    if hasattr(report, "wasxfail"):
        return
    reason = _reason(report)
    if any(pattern.search(reason) for pattern in EXPECTED_SKIPS):
        return
    report.outcome = "failed"
    report.longrepr = (
        f"skipped under LERAX_STRICT_SKIPS=1 (CI installs every extra): {reason}\n"
        "Install what is missing, or list the reason in tests/conftest.py's "
        "EXPECTED_SKIPS with why it is right on CI."
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_unexpected_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_unexpected_skip(outcome.get_result())


# Linux's default `vm.max_map_count` is 65,530; XLA:CPU keeps about 6,000 memory
# maps of JIT-linked code per heavy test module for as long as its programs live.
MAX_MAPS_BEFORE_RELEASE = 30_000


def _mapped_regions() -> int:
    try:
        with open("/proc/self/maps") as maps:
            return sum(1 for _ in maps)
    except OSError:  # not Linux
        return 0


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compiled programs when a module ends with too many memory maps.

    Every XLA:CPU executable keeps its JIT-linked code mapped; an xdist worker
    that runs half the suite passed the map limit and LLVM failed with "Cannot
    allocate memory" or the worker died (CI, stop 30). Past half the limit, the
    worker's compiled programs are dropped (`jax.clear_caches`): modules that
    follow recompile what they use, which costs far less than clearing after
    every module, since later modules often reuse an earlier one's programs.
    """
    yield
    if _mapped_regions() > MAX_MAPS_BEFORE_RELEASE:
        import gc

        import jax

        jax.clear_caches()
        gc.collect()


def pytest_configure(config):
    # In case a plugin imported JAX before this file set the environment.
    import jax

    jax.config.update(
        "jax_disable_most_optimizations",
        os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] not in ("", "0"),
    )


@pytest.fixture
def full_xla_optimization():
    """Compile the test's programs as users' programs are compiled.

    For tests that compare against files written by a default build
    (`tests/fixtures/`): bit-for-bit equality needs XLA's default optimisation
    level. The setting is not part of JAX's compilation cache key, so compiled
    programs are dropped on the way in and out.
    """
    import jax

    previous_env = os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"]
    previous = jax.config.read("jax_disable_most_optimizations")
    jax.clear_caches()
    jax.config.update("jax_disable_most_optimizations", False)
    os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] = "0"
    yield
    jax.clear_caches()
    jax.config.update("jax_disable_most_optimizations", previous)
    os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] = previous_env
