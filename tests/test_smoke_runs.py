"""Smoke runs say what they are (issue 28): every benchmark script that `.ci/run`
runs with `--smoke` announces "smoke run: numbers are not measurements" first,
and the means its tables print are NaN-free without NumPy warnings.

The scripts themselves run in CI (`.ci/run`), not here: this checks, cheaply,
that none of them is missing the notice and that the helpers behind the NaN-free
tables behave on the inputs a tiny budget produces (no episode ended).
"""

import ast
import importlib.util
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
SMOKED = sorted(
    set(
        re.findall(
            r"python (benchmarks/\w+\.py) --smoke", (ROOT / ".ci/run").read_text()
        )
    )
)


def test_ci_runs_smoke_modes():
    assert len(SMOKED) >= 10, SMOKED


@pytest.mark.parametrize("script", SMOKED)
def test_every_smoked_script_announces_itself_when_smoking(script):
    tree = ast.parse((ROOT / script).read_text())
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "announce_smoke"
    ]
    assert calls, f"{script} --smoke does not call announce_smoke()"


def _options():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(
            "options", BENCHMARKS / "options.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules["options"] = module  # its dataclasses look themselves up
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_table_means_of_runs_without_episodes_are_a_dash_not_nan():
    options = _options()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Mean of empty slice" would raise
        missing = options.finite_mean(np.array([np.nan, np.nan]))
        assert np.isnan(missing)
        assert options.format_cell(missing, ".1f") == "-"
        assert options.finite_mean(np.array([1.0, np.nan, 3.0])) == 2.0
        assert options.format_cell(2.0, ".1f") == "2.0"
