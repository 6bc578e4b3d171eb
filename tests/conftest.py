"""Suite-wide rules: under CI a test may skip only for a reason listed here.

`.ci/run` installs every optional extra, so a test that skips there because an
extra "is missing" hides a broken install: with `LERAX_STRICT_SKIPS=1` (set by
`.ci/run`) such a skip is reported as a failure. A local run without the extras
still skips as before.
"""

import os
import re

import pytest

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
