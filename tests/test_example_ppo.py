"""The README's train command: `examples/ppo.py` speaks at once and stays narrow.

Run in its quick mode in a subprocess with an 80-column terminal width. How
soon the first line appears is timed in the report of the change, not here
(timings belong to benchmarks/): this checks what is printed, in what order.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ppo_example_prints_first_then_compiling_then_a_narrow_table():
    env = dict(
        os.environ,
        COLUMNS="80",
        LERAX_QUICK="1",
        PYTHONPATH=os.pathsep.join(sys.path),
    )
    result = subprocess.run(
        [sys.executable, "-u", str(ROOT / "examples" / "ppo.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    lines = result.stdout.splitlines()
    # Printed before JAX is imported, then from Python as tracing starts.
    assert lines[0] == "PPO on CartPole-v1, 8,192 steps: importing JAX..."
    assert lines[1] == "compiling..."
    assert lines[2].split()[:3] == ["iter", "steps", "return"]
    rows = [line.split() for line in lines[3:] if line.split()[0].endswith("/4")]
    assert [row[0] for row in rows] == ["1/4", "4/4"]  # every=4: first and last
    assert all(len(row) == len(lines[2].split()) for row in rows)
    assert "nonfinite" not in result.stdout  # zero diagnostics are not shown
    assert lines[-2].startswith("trained 8,192 steps in")
    assert lines[-1].startswith("saved ppo_cartpole.eqx and loaded it back")
    assert max(len(line) for line in lines) <= 100
