"""Benchmark lerax's PPO against a plain single-file PPO: speed, compile, learning.

For each configuration, every implementation (``plain``: ``plain_ppo.py``;
``lerax``: ``lerax_impl.py``) is compiled from cold caches and timed, then the runs
are interleaved A B A B ... together with the throughput ceiling (the rollout alone:
vmapped envs + policy forward in a ``lax.scan``), so that machine noise cancels in
the ratios. Measured: compile time (``jax.jit(train).lower(key).compile()``), env
steps per second of the whole run excluding compile (median of repeats), the
compiler's memory analysis of the program, the final mean episode return (the
trained policy evaluated deterministically, and the training return over the last
~10% of iterations), and the fraction of the ceiling reached.

Writes ``<out>/<timestamp>-<mode>.json`` and ``.md``; a full run also rewrites
``docs/benchmarks.md``.

    python benchmarks/run.py            # full budgets (tens of minutes on 2 cores)
    python benchmarks/run.py --quick    # small budgets, < 3 minutes on 2 cores
    python benchmarks/run.py --smoke    # tiny budgets, seconds: checks the script
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnax
import jax
import numpy as np
import plain_ppo
from _smoke import announce_smoke
from implementations import (
    REGISTRY,
    BenchConfig,
    Built,
    ImplementationUnavailable,
    load_implementation,
)

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_OUT = BENCH_DIR / "results"
DEFAULT_DOCS = REPO_ROOT / "docs" / "benchmarks.md"

# --------------------------------------------------------------------- configurations


def configurations(mode: str) -> dict[str, BenchConfig]:
    """The benchmark configurations at the budgets of ``mode``.

    Args:
        mode: ``"full"``, ``"quick"`` or ``"smoke"``.

    Returns:
        Configurations by name, in report order.
    """
    if mode == "smoke":
        tiny = {"num_envs": 2, "num_steps": 16, "num_epochs": 2, "num_batches": 2}
        budget = {"cartpole": 64, "pendulum": 64, "large-batch": 128, "seeds-8": 64}
        large = {"num_envs": 8, "num_steps": 8, "num_epochs": 1, "num_batches": 2}
        seeds = {"cartpole": 2, "pendulum": 1, "large-batch": 1, "seeds-8": 8}
    else:
        tiny = {}
        large = {"num_envs": 64, "num_steps": 128, "num_epochs": 4, "num_batches": 4}
        seeds = {"cartpole": 1, "pendulum": 1, "large-batch": 1, "seeds-8": 8}
        if mode == "quick":
            budget = {
                "cartpole": 2**14,
                "pendulum": 2**14,
                "large-batch": 2**16,
                "seeds-8": 2**13,
            }
        else:
            budget = {
                "cartpole": 2**17,
                "pendulum": 2**19,
                "large-batch": 2**19,
                "seeds-8": 2**17,
            }
    return {
        "cartpole": BenchConfig(
            "cartpole",
            "CartPole-v1",
            budget["cartpole"],
            num_seeds=seeds["cartpole"],
            description="CartPole-v1, PPO defaults",
            **tiny,
        ),
        "pendulum": BenchConfig(
            "pendulum",
            "Pendulum-v1",
            budget["pendulum"],
            num_seeds=seeds["pendulum"],
            description="Pendulum-v1, PPO defaults",
            **tiny,
        ),
        "large-batch": BenchConfig(
            "large-batch",
            "CartPole-v1",
            budget["large-batch"],
            num_seeds=seeds["large-batch"],
            description="CartPole-v1, 64 envs x 128 steps, 4 epochs x 4 minibatches",
            **large,
        ),
        "seeds-8": BenchConfig(
            "seeds-8",
            "CartPole-v1",
            budget["seeds-8"],
            num_seeds=seeds["seeds-8"],
            description="CartPole-v1, PPO defaults, 8 seeds at once (jax.vmap)",
            **tiny,
        ),
    }


MODE_SETTINGS = {
    # repeats: timed runs per implementation; eval_episodes: per seed.
    "full": {"repeats": 3, "eval_episodes": 32, "configs": None},
    "quick": {"repeats": 3, "eval_episodes": 8, "configs": None},
    "smoke": {"repeats": 1, "eval_episodes": 2, "configs": ["cartpole", "pendulum"]},
}

# ----------------------------------------------------------------------- measurement


def log(message: str) -> None:
    """Progress on stderr (stdout stays clean for the summary)."""
    print(message, file=sys.stderr, flush=True)


def seed_keys(config: BenchConfig, seed: int) -> jax.Array:
    """The PRNG key (one seed) or keys (several) every implementation receives."""
    key = jax.random.key(seed)
    return jax.random.split(key, config.num_seeds) if config.num_seeds > 1 else key


def initial_arrays(init: Callable, config: BenchConfig, keys: jax.Array) -> Any:
    """Each seed's initial network, built eagerly one seed at a time and stacked.

    One seed at a time on purpose: a vmapped initialisation would batch the
    orthogonal initialiser's QR decompositions into one LAPACK call, the pattern
    seen to deadlock XLA:CPU's thread pool on a 2-core machine.
    """
    if config.num_seeds == 1:
        return init(keys)
    return plain_ppo.stack_seeds([init(key) for key in keys])


def batched(fn: Callable, config: BenchConfig) -> Callable:
    """``fn`` vmapped over the leading seed axis when there are several seeds."""
    return jax.vmap(fn) if config.num_seeds > 1 else fn


@dataclasses.dataclass
class Compiled:
    """A compiled whole-run program and what it cost to build."""

    executable: Any
    lower_s: float
    compile_s: float
    memory: dict[str, int]

    @property
    def total_compile_s(self) -> float:
        """Tracing + lowering + XLA compilation."""
        return self.lower_s + self.compile_s


def compile_cold(fn: Callable, *arguments: Any) -> Compiled:
    """Trace, lower and compile ``fn`` from cold in-process caches, timed."""
    jax.clear_caches()
    start = time.perf_counter()
    lowered = jax.jit(fn).lower(*arguments)
    lowered_at = time.perf_counter()
    executable = lowered.compile()
    compiled_at = time.perf_counter()
    return Compiled(
        executable=executable,
        lower_s=lowered_at - start,
        compile_s=compiled_at - lowered_at,
        memory=memory_analysis(executable),
    )


def memory_analysis(executable: Any) -> dict[str, int]:
    """The compiler's buffer sizes for the program (bytes; empty if unsupported)."""
    try:
        stats = executable.memory_analysis()
    except Exception:  # backends without the analysis raise various errors
        return {}
    if stats is None:
        return {}
    fields = {
        "argument_bytes": "argument_size_in_bytes",
        "output_bytes": "output_size_in_bytes",
        "temp_bytes": "temp_size_in_bytes",
        "alias_bytes": "alias_size_in_bytes",
        "generated_code_bytes": "generated_code_size_in_bytes",
    }
    out = {name: int(getattr(stats, attr, 0) or 0) for name, attr in fields.items()}
    out["peak_bytes"] = (
        out["argument_bytes"]
        + out["output_bytes"]
        + out["temp_bytes"]
        - out["alias_bytes"]
    )
    return out


def timed_run(executable: Any, *arguments: Any) -> tuple[float, Any]:
    """Run once to completion; wall seconds and the output."""
    start = time.perf_counter()
    output = jax.block_until_ready(executable(*arguments))
    return time.perf_counter() - start, output


def max_rss_bytes() -> int:
    """Peak resident set size of this process so far."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def _finite_list(values: Any) -> list[float | None]:
    return [None if not math.isfinite(v) else round(float(v), 3) for v in values]


def _nanmean(values: list[float | None]) -> float | None:
    finite = [v for v in values if v is not None]
    return round(statistics.fmean(finite), 3) if finite else None


_FRESH_CALL = """
import sys, time
import jax
from implementations import load_implementation
from run import batched, configurations, initial_arrays, seed_keys
jax.config.update("jax_enable_compilation_cache", False)
config = configurations(sys.argv[1])[sys.argv[2]]
built = load_implementation(sys.argv[3]).build(config)
keys = seed_keys(config, 0)
if built.user_call is not None:
    call = lambda: built.user_call(keys)
else:
    arrays = initial_arrays(built.init, config, keys)
    train = jax.jit(batched(built.train, config))
    call = lambda: train(keys, arrays)
start = time.perf_counter()
jax.block_until_ready(call())
first = time.perf_counter() - start
start = time.perf_counter()
jax.block_until_ready(call())
print(first, time.perf_counter() - start)
"""


def fresh_first_call(mode: str, config_name: str, impl_name: str) -> dict[str, float]:
    """The first public call of an implementation in a fresh Python process.

    lerax: ``user_call`` (``algorithm.learn``); the plain PPO: ``jax.jit(train)``.
    The compile estimate is the first call minus a second call in that process.
    """
    out = subprocess.run(
        [sys.executable, "-c", _FRESH_CALL, mode, config_name, impl_name],
        cwd=Path(__file__).resolve().parent,
        capture_output=True,
        text=True,
        check=True,
    )
    first, second = (float(x) for x in out.stdout.split()[-2:])
    return {"first_call_s": round(first, 3), "compile_s": round(first - second, 3)}


def benchmark_config(
    config: BenchConfig,
    implementations: list[Any],
    *,
    repeats: int,
    eval_episodes: int,
    seed: int,
    fresh_mode: str | None = None,
) -> dict[str, Any]:
    """Compile, time (interleaved) and score every implementation on ``config``.

    With ``fresh_mode`` (the mode's name), each implementation's first public
    call is also timed in a fresh process (compile time as users see it).
    """
    keys = seed_keys(config, seed)
    steps = config.total_env_steps
    log(
        f"[{config.name}] {config.description}: {config.num_seeds} seed(s) x "
        f"{config.timesteps_per_seed} steps"
    )

    # Ceiling: the rollout alone, same env, sizes, number of steps and seeds.
    ppo_config = config.ppo_config()
    rollout = batched(plain_ppo.make_rollout(ppo_config), config)
    rollout_params = initial_arrays(
        lambda key: plain_ppo.init_params(ppo_config, key=key), config, keys
    )
    ceiling = compile_cold(rollout, keys, rollout_params)
    log(f"  ceiling compiled in {ceiling.total_compile_s:.1f} s")

    builds: dict[str, Built] = {}
    inits: dict[str, Any] = {}
    compiled: dict[str, Compiled] = {}
    for impl in implementations:
        builds[impl.name] = impl.build(config)
        inits[impl.name] = initial_arrays(builds[impl.name].init, config, keys)
        compiled[impl.name] = compile_cold(
            batched(builds[impl.name].train, config), keys, inits[impl.name]
        )
        log(
            f"  {impl.name}: compiled in {compiled[impl.name].total_compile_s:.1f} s "
            f"(trace+lower {compiled[impl.name].lower_s:.1f} s)"
        )

    # The public calls (first call = trace + compile + one run, in this process).
    user_calls: dict[str, Callable] = {}
    first_call_s: dict[str, float] = {}
    for name, built in builds.items():
        if built.user_call is not None:
            start = time.perf_counter()
            jax.block_until_ready(built.user_call(keys))
            first_call_s[name] = time.perf_counter() - start
            user_calls[name] = built.user_call
            log(f"  {name} (user call): first call {first_call_s[name]:.1f} s")

    # Interleaved timing: ceiling, A, B, ceiling, A, B, ... so drift hits all alike.
    timed = ["ceiling", *compiled, *(f"{n} (user)" for n in user_calls)]
    times: dict[str, list[float]] = {name: [] for name in timed}
    outputs: dict[str, Any] = {}
    for repeat in range(repeats):
        elapsed, _ = timed_run(ceiling.executable, keys, rollout_params)
        times["ceiling"].append(elapsed)
        for name, program in compiled.items():
            elapsed, output = timed_run(program.executable, keys, inits[name])
            times[name].append(elapsed)
            outputs.setdefault(name, output)
            if name in user_calls:
                start = time.perf_counter()
                jax.block_until_ready(user_calls[name](keys))
                times[f"{name} (user)"].append(time.perf_counter() - start)
        log(
            f"  repeat {repeat + 1}/{repeats}: "
            + ", ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items())
        )

    ceiling_rate = steps / statistics.median(times["ceiling"])
    env, env_params = gymnax.make(config.env_name)
    eval_keys = seed_keys(config, seed + 10_000)
    results: dict[str, Any] = {}
    for name, built in builds.items():

        def eval_seed(output, key, built=built):
            return plain_ppo.evaluate(
                built.action_fn(output), env, env_params, key, eval_episodes
            )

        eval_returns = jax.jit(batched(eval_seed, config))(outputs[name], eval_keys)
        eval_per_seed = np.asarray(eval_returns, dtype=np.float64).reshape(
            config.num_seeds, eval_episodes
        )
        if built.training_return is not None:
            training = np.asarray(
                jax.jit(batched(built.training_return, config))(outputs[name]),
                dtype=np.float64,
            ).reshape(config.num_seeds)
            training_per_seed = _finite_list(training)
        else:
            training_per_seed = None
        run_median = statistics.median(times[name])
        program = compiled[name]
        results[name] = {
            "compile_s": round(program.total_compile_s, 3),
            "trace_lower_s": round(program.lower_s, 3),
            "xla_compile_s": round(program.compile_s, 3),
            "run_s": [round(t, 4) for t in times[name]],
            "run_median_s": round(run_median, 4),
            "steps_per_s": round(steps / run_median, 1),
            "fraction_of_ceiling": round(steps / run_median / ceiling_rate, 4),
            "memory": program.memory,
            "eval_return": _nanmean(_finite_list(eval_per_seed.mean(axis=1))),
            "eval_return_per_seed": _finite_list(eval_per_seed.mean(axis=1)),
            "training_return": (
                _nanmean(training_per_seed) if training_per_seed is not None else None
            ),
            "training_return_per_seed": training_per_seed,
        }
        log(
            f"  {name}: {results[name]['steps_per_s']:,.0f} steps/s "
            f"({results[name]['fraction_of_ceiling']:.0%} of ceiling), eval return "
            f"{results[name]['eval_return']}, training return "
            f"{results[name]['training_return']}"
        )

    for name in user_calls:
        user_median = statistics.median(times[f"{name} (user)"])
        results[name]["user_call"] = {
            "first_call_s": round(first_call_s[name], 3),
            "run_s": [round(t, 4) for t in times[f"{name} (user)"]],
            "run_median_s": round(user_median, 4),
            "steps_per_s": round(steps / user_median, 1),
            "fraction_of_ceiling": round(steps / user_median / ceiling_rate, 4),
        }
        log(f"  {name} (user call): {steps / user_median:,.0f} steps/s")

    if fresh_mode is not None:
        for name in results:
            results[name]["fresh_process"] = fresh_first_call(
                fresh_mode, config.name, name
            )
            log(f"  {name}: fresh process {results[name]['fresh_process']}")

    ratios: dict[str, Any] = {}
    if "plain" in results:
        for name in results:
            if name == "plain":
                continue
            paired = [p / o for p, o in zip(times["plain"], times[name], strict=True)]
            ratios[name] = {
                "throughput": round(statistics.median(paired), 4),
                "throughput_per_repeat": [round(r, 4) for r in paired],
                "compile": round(
                    results[name]["compile_s"] / results["plain"]["compile_s"], 4
                ),
            }
            if name in user_calls:
                paired = [
                    p / o
                    for p, o in zip(
                        times["plain"], times[f"{name} (user)"], strict=True
                    )
                ]
                ratios[name]["user_throughput"] = round(statistics.median(paired), 4)
                ratios[name]["user_throughput_per_repeat"] = [
                    round(r, 4) for r in paired
                ]
            if "fresh_process" in results[name] and "fresh_process" in results["plain"]:
                ratios[name]["fresh_compile"] = round(
                    results[name]["fresh_process"]["compile_s"]
                    / results["plain"]["fresh_process"]["compile_s"],
                    4,
                )
    return {
        "config": dataclasses.asdict(config),
        "timesteps_per_seed": config.timesteps_per_seed,
        "total_env_steps": steps,
        "ceiling": {
            "compile_s": round(ceiling.total_compile_s, 3),
            "run_s": [round(t, 4) for t in times["ceiling"]],
            "steps_per_s": round(ceiling_rate, 1),
        },
        "implementations": results,
        "ratios_vs_plain": ratios,
    }


# --------------------------------------------------------------------------- reports


def machine_description() -> dict[str, Any]:
    """Where the numbers come from: CPU, cores, devices, versions, XLA flags."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    import jaxlib

    return {
        "cpu": cpu,
        "cores": usable,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "devices": [str(d) for d in jax.devices()],
        "backend": jax.default_backend(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder.

    An interrupted run leaves the previous report intact, never half of one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec)


def _mib(nbytes: int | None) -> str:
    return "-" if nbytes is None else f"{nbytes / 2**20:.1f}"


def render_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown (the content of ``docs/benchmarks.md``)."""
    meta = report["meta"]
    machine = meta["machine"]
    lines = [
        "# Benchmarks",
        "",
        "lerax's `PPO` against a plain, single-file, fully-jitted PPO "
        "(`benchmarks/plain_ppo.py`: equinox + optax + distrax + gymnax, the same "
        "network, hyperparameters and environments), measured in one process and "
        "interleaved A B A B so machine noise cancels in the ratios. Generated by "
        "`python benchmarks/run.py"
        + {"full": "", "quick": " --quick", "smoke": " --smoke"}[meta["mode"]]
        + "`; see `benchmarks/README.md`.",
        "",
        f"- Date: {meta['date']}",
        f"- Mode: `{meta['mode']}` ({meta['repeats']} timed repeat(s) per "
        f"implementation, median reported; {meta['eval_episodes']} evaluation "
        "episode(s) per seed)",
        f"- Machine: {machine['cpu']}, {machine['cores']} usable core(s), "
        f"{machine['platform']}",
        f"- Devices: {', '.join(machine['devices'])}; jax {machine['jax']}, "
        f"jaxlib {machine['jaxlib']}, Python {machine['python']}",
        f"- XLA_FLAGS: `{machine['xla_flags'] or '(none)'}`",
        f"- Peak RSS of the benchmark process: {_mib(meta.get('max_rss_bytes'))} MiB",
        "",
        "Targets (issues 5 and 11): lerax/plain throughput >= 1.0 on the user "
        "call at the defaults (stretch 1.25), the other configurations no worse "
        "than 1.0; lerax's first-call compile <= 1.3x plain; learning no worse at "
        "the same budget and seeds.",
        "",
        "## Ratios lerax / plain",
        "",
    ]
    ratio_rows = [
        (entry, entry["ratios_vs_plain"].get("lerax"))
        for entry in report["results"]
        if entry["ratios_vs_plain"].get("lerax")
    ]
    if ratio_rows:
        lines += [
            "Throughput ratios are medians of the per-repeat ratios (plain time / "
            "lerax time, interleaved); higher is better. The user call is "
            "`PPO(...).learn(env, policy, total_timesteps, key=key)` exactly as the "
            "README writes it (`jax.vmap`-ed over keys for several seeds); the "
            "harness path is `learn_state` inside the harness's own `jax.jit`, with "
            "the algorithm and env closed over.",
            "",
            "| configuration | throughput, user call | throughput, harness path | "
            "compile time (lower is better) | compile, fresh process (user call) | "
            "eval return lerax / plain |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for entry, ratio in ratio_rows:
            impls = entry["implementations"]
            user = ratio.get("user_throughput")
            lines.append(
                f"| {entry['config']['name']} | {_fmt(user, '.2f')} | "
                f"{ratio['throughput']:.2f} | "
                f"{ratio['compile']:.2f} | {_fmt(ratio.get('fresh_compile'), '.2f')} | "
                f"{_fmt(impls['lerax']['eval_return'], '.1f')}"
                f" / {_fmt(impls['plain']['eval_return'], '.1f')} |"
            )
    else:
        lines.append("No lerax results in this run (`--impls plain`).")
    lines += [
        "",
        "## All measurements",
        "",
        "Throughput is env steps per second of the whole training run (all seeds, "
        "compile excluded). The ceiling is the rollout alone (vmapped envs + policy "
        "forward in a `lax.scan`, no learning). Compile is trace + lower + XLA "
        "compile from cold caches. Memory is the compiler's estimate for the "
        "program (arguments + outputs + temporaries). Eval return: the final "
        "policy, deterministic, mean over seeds and episodes; training return: "
        "episodes completed in the last 10% of iterations (stochastic policy).",
        "",
        "| configuration | seeds x steps | impl | steps/s | % of ceiling | "
        "compile (s) | memory (MiB) | eval return | training return |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for entry in report["results"]:
        config = entry["config"]
        size = f"{config['num_seeds']} x {entry['timesteps_per_seed']}"
        lines.append(
            f"| {config['name']} | {size} | ceiling | "
            f"{entry['ceiling']['steps_per_s']:,.0f} | 100% | "
            f"{entry['ceiling']['compile_s']:.1f} | - | - | - |"
        )
        for name, res in entry["implementations"].items():
            label = f"{name} (harness path)" if "user_call" in res else name
            lines.append(
                f"| {config['name']} | {size} | {label} | {res['steps_per_s']:,.0f} | "
                f"{res['fraction_of_ceiling']:.0%} | {res['compile_s']:.1f} | "
                f"{_mib(res['memory'].get('peak_bytes'))} | "
                f"{_fmt(res['eval_return'], '.1f')} | "
                f"{_fmt(res['training_return'], '.1f')} |"
            )
            if "user_call" in res:
                user = res["user_call"]
                lines.append(
                    f"| {config['name']} | {size} | {name} (user call) | "
                    f"{user['steps_per_s']:,.0f} | {user['fraction_of_ceiling']:.0%} | "
                    f"{user['first_call_s']:.1f} (first call, incl. one run) | - | "
                    "- | - |"
                )
    lines += ["", "## Configurations", ""]
    for entry in report["results"]:
        c = entry["config"]
        lines.append(
            f"- `{c['name']}`: {c['description']} ({c['num_envs']} envs x "
            f"{c['num_steps']} steps, {c['num_epochs']} epochs x {c['num_batches']} "
            f"minibatches, {entry['timesteps_per_seed']} steps per seed)"
        )
    lines += ["", "## What remains, per configuration", ""]
    lines += [f"- `{name}`: {text}" for name, text in REMAINS.items()]
    lines += ["", "## Where lerax's speed comes from", "", SPEEDUPS_INTRO, ""]
    lines += [f"- {text}" for text in SPEEDUPS]
    lines += [
        "",
        "## Feature overheads",
        "",
        "What the progress bar, the loggers and the NaN/Inf guard cost is measured "
        "by their own scripts: see [Feature overheads](overheads.md).",
        "",
        "## Time to solve (presets)",
        "",
        "The tuned `lerax.presets.ppo(env_id)` configurations, measured by "
        "`python benchmarks/presets.py` (copied from [Presets](presets.md)):",
        "",
        presets_table(),
    ]
    return "\n".join(lines) + "\n"


# Where each configuration's time goes and what is left to gain (from the
# compiled HLO of both programs, `python benchmarks/run.py` and the notes of
# issue 11); kept with the renderer so every regenerated report carries it.
REMAINS = {
    "cartpole": (
        "user call 1.26 of the plain PPO (pairs 1.33, 1.26, 1.26, 1.25, 1.39, 1.27), "
        "past the 1.25 stretch; the sources are listed below. An update now costs "
        "~37 us (`python benchmarks/update_step.py`): the forward and backward "
        "passes of two 64-unit MLPs on 64 samples are ~20 small dots and ~80 "
        "small fusions, each with a fixed XLA:CPU cost larger than its "
        "arithmetic. The rollout (~15% of the run) goes mostly to threefry, "
        "which XLA:CPU runs as a 5-trip loop per random draw. Untried: the "
        "actor's and critic's hidden layers as one batched dot, buffer donation "
        "across iterations. Compile: the first call in a fresh process 1.12x "
        "the plain PPO's (target <= 1.3)."
    ),
    "pendulum": (
        "1.15 (pairs 0.99-1.25): as cartpole, with a Gaussian head whose "
        "log-prob and entropy add ops to every update on both sides, so the "
        "same saved shuffle time is a smaller fraction (not profiled "
        "separately). The "
        "in-process compile ratio (1.36, harness path) is above 1.3 while the "
        "first call in a fresh process, what a user waits for, is 0.86x."
    ),
    "large-batch": (
        "1.82 (pairs 1.23-2.30, noisy: 0.8-1.2 s runs): 16 updates of 2,048 "
        "samples per iteration shuffle 8,192 entries per epoch, where "
        "`jax.random.permutation`'s sorts cost the plain PPO far more than the "
        "sorting-free shuffle costs lerax; the matrix products are the same on "
        "both sides. In-process compile 1.37 (harness path), fresh-process "
        "first call 1.07."
    ),
    "seeds-8": (
        "1.67 (pairs 1.64-1.72): eight seeds vmapped batch every op eight ways, "
        "so per-op overhead is amortized and what is left is work: eight "
        "sort-based permutations per epoch on the plain side. The user call is "
        "`jax.vmap` of `learn` over the keys (one initial policy). In-process "
        "compile 1.45 (harness path; lerax traces more Python), fresh-process "
        "first call 1.09."
    ),
}


SPEEDUPS_INTRO = (
    "At the defaults a run is 512 minibatch updates of 64 samples per 2,048 env "
    "steps, so the update step decides, and on XLA:CPU its cost is mostly fixed "
    "per-op costs rather than arithmetic. What each change of issue 11 was worth, "
    "measured side by side on this 2-core CPU (quiet machine):"
)
SPEEDUPS = (
    "**Minibatch shuffle without sorting.** `jax.random.permutation` of 2,048 "
    "entries runs two comparison sorts, ~510 us on XLA:CPU, i.e. ~16 us of each "
    "of the 32 updates it prepares (the plain PPO shuffles this way, as PureJaxRL "
    "does). lerax draws the epoch's order from a keyed Feistel bijection of "
    "`range(n)` computed elementwise (`lerax.buffer._shuffle`; "
    "`jax.random.permutation` below 128 entries): ~4 us. An update inside an "
    "iteration: 51.5 -> 37.1 us per update (`python benchmarks/update_step.py`, "
    "which also times the two permutations: 495 us against 3.8 us). "
    "This is most of why the user call now beats the plain PPO.",
    "**One flat parameter vector.** `PPO.train` ravels the policy's arrays and "
    "Adam's moments once per iteration; the gradient arrives as one vector and "
    "the optimizer (clip, Adam, the NaN guard's select) is a few elementwise "
    "passes: the update step compiles to 82 fusions and 4 copies instead of 140 "
    "and 26. Per update 59 -> 54 us (run time at 16 vs 8 epochs); user call "
    "0.96 -> ~1.0 of the plain PPO.",
    "**Batch-wide policy evaluation with explicit-transpose weight gradients.** "
    "Autodiff of a per-sample layer under `jax.vmap` gives the weight gradient "
    "as a dot contracting the batch axis of both operands, which XLA:CPU runs on "
    "a slower path than an ordinary matrix product (~11 us against ~3 us for "
    "the same 64 x 64 x 64 product, in a profile with "
    "`--xla_cpu_enable_xprof_traceme`). `MLPActorCriticPolicy.evaluate_actions` "
    "runs the layers on the whole minibatch with a hand-written gradient "
    "(`lerax.policy._network.dense`) that transposes first: 39.5 -> 37.1 us per "
    "update (`benchmarks/update_step.py`); the user call ~4% faster.",
    "**Rollout keys in one draw.** Every step's per-environment keys are split "
    "once per rollout instead of once per step (on CPU each threefry call is a "
    "5-trip loop whose carry copies cost more than the hash); below the noise of "
    "whole-run timings.",
    "**Tried, no gain:** XLA:CPU flags (`--xla_cpu_use_xnnpack=true`, "
    "`--xla_cpu_use_thunk_runtime=false`, "
    "`--xla_cpu_experimental_xnn_fusion_type=dot`, "
    "`--xla_cpu_multi_thread_eigen=false`) left the ratio within noise; one dot "
    "for the actor's and the critic's first layers (concatenated weights) was no "
    "faster. `--xla_cpu_enable_concurrency_optimized_scheduler=false` depends on "
    "the program: after the changes above it made lerax's default run 8% faster "
    "(1.67 -> 1.53 s, sequential instead of spread over both cores) and the "
    "plain PPO 12% slower (2.09 -> 2.34 s), 131072 steps x 4 pairs each; measure "
    "it on your own program before adopting it (see "
    "[Feature overheads](overheads.md#naninf-guard)).",
    "**Noise on this machine:** a run sometimes executes part of its ops on the "
    "second core and takes ~10% longer at ~1.5x the CPU time, for the plain PPO "
    "and lerax alike (per-thread CPU accounting); hence medians over interleaved "
    "pairs.",
)


def presets_table() -> str:
    """The generated table of ``docs/presets.md`` (written by ``presets.py``)."""
    path = REPO_ROOT / "docs" / "presets.md"
    begin, end = "<!-- presets-table:begin -->", "<!-- presets-table:end -->"
    try:
        text = path.read_text()
        return text.split(begin, 1)[1].split(end, 1)[0].strip()
    except (OSError, IndexError):
        return "Not measured yet: run `python benchmarks/presets.py`."


def check_report(report: dict[str, Any]) -> list[str]:
    """Problems that make a report unusable (used by ``--smoke``)."""
    problems = []
    for entry in report["results"]:
        name = entry["config"]["name"]
        if not entry["ceiling"]["steps_per_s"] > 0:
            problems.append(f"{name}: ceiling throughput not positive")
        for impl, res in entry["implementations"].items():
            if not (res["steps_per_s"] > 0 and math.isfinite(res["steps_per_s"])):
                problems.append(f"{name}/{impl}: throughput not positive")
            if res["eval_return"] is None:
                problems.append(f"{name}/{impl}: no finite evaluation return")
    return problems


# ------------------------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (see ``--help``)."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument(
        "--quick", action="store_true", help="small budgets: < 3 minutes on 2 cores"
    )
    modes.add_argument(
        "--smoke",
        action="store_true",
        help="tiny budgets (seconds): check that the script works, not the numbers",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="where the JSON/MD reports go"
    )
    parser.add_argument(
        "--configs",
        default=None,
        help="comma-separated configuration names (default: all; smoke: "
        "cartpole,pendulum). Known: cartpole, pendulum, large-batch, seeds-8",
    )
    parser.add_argument(
        "--impls",
        default=None,
        help=f"comma-separated implementations (default: all available; known: "
        f"{', '.join(REGISTRY)})",
    )
    parser.add_argument("--repeats", type=int, default=None, help="timed runs each")
    parser.add_argument(
        "--eval-episodes", type=int, default=None, help="evaluation episodes per seed"
    )
    parser.add_argument("--seed", type=int, default=0)
    docs = parser.add_mutually_exclusive_group()
    docs.add_argument(
        "--docs",
        type=Path,
        default=None,
        help="also write the Markdown report here (default for a full run: "
        "docs/benchmarks.md; quick and smoke runs write none unless given)",
    )
    docs.add_argument("--no-docs", action="store_true", help="do not write docs")
    parser.add_argument(
        "--fresh-compile",
        action="store_true",
        help="also time each implementation's first public call in a fresh process",
    )
    return parser.parse_args(argv)


def resolve_implementations(names: str | None) -> list[Any]:
    """Instantiate the requested implementations; by default all importable ones."""
    if names is None:
        implementations = []
        for name in REGISTRY:
            try:
                implementations.append(load_implementation(name))
            except ImplementationUnavailable as error:
                log(f"skipping {error}")
        return implementations
    return [load_implementation(n.strip()) for n in names.split(",") if n.strip()]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the process exit code."""
    args = parse_args(argv)
    if args.smoke:
        announce_smoke()
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    settings = MODE_SETTINGS[mode]
    repeats = args.repeats or settings["repeats"]
    eval_episodes = args.eval_episodes or settings["eval_episodes"]
    if repeats < 1 or eval_episodes < 1:
        raise SystemExit("--repeats and --eval-episodes must be at least 1")
    available = configurations(mode)
    if args.configs is not None:
        names = [n.strip() for n in args.configs.split(",") if n.strip()]
    else:
        names = settings["configs"] or list(available)
    unknown = [n for n in names if n not in available]
    if unknown or not names:
        raise SystemExit(
            f"unknown configuration(s) {unknown}; known: {', '.join(available)}"
        )
    implementations = resolve_implementations(args.impls)
    if not implementations:
        raise SystemExit("no implementation to benchmark")
    # Honest compile times: no persistent compilation cache.
    jax.config.update("jax_enable_compilation_cache", False)

    started = datetime.datetime.now(datetime.UTC)
    wall_start = time.perf_counter()
    results = [
        benchmark_config(
            available[name],
            implementations,
            repeats=repeats,
            eval_episodes=eval_episodes,
            seed=args.seed,
            fresh_mode=mode if args.fresh_compile else None,
        )
        for name in names
    ]
    report = {
        "meta": {
            "date": started.strftime("%Y-%m-%d %H:%M UTC"),
            "mode": mode,
            "command": " ".join(["benchmarks/run.py", *(argv or sys.argv[1:])]),
            "implementations": [impl.name for impl in implementations],
            "repeats": repeats,
            "eval_episodes": eval_episodes,
            "seed": args.seed,
            "machine": machine_description(),
            "max_rss_bytes": max_rss_bytes(),
            "wall_s": round(time.perf_counter() - wall_start, 1),
        },
        "results": results,
    }

    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{started.strftime('%Y%m%dT%H%M%SZ')}-{mode}"
    json_path = stem.with_suffix(".json")
    atomic_write_text(json_path, json.dumps(report, indent=2) + "\n")
    markdown = render_markdown(report)
    atomic_write_text(stem.with_suffix(".md"), markdown)
    docs_path = args.docs or (DEFAULT_DOCS if mode == "full" else None)
    if docs_path is not None and not args.no_docs:
        atomic_write_text(docs_path, markdown)
        log(f"wrote {docs_path}")
    log(f"wrote {json_path} ({report['meta']['wall_s']} s)")
    print(markdown)

    if mode == "smoke":
        problems = check_report(json.loads(json_path.read_text()))
        if problems:
            log("smoke check failed:\n  " + "\n  ".join(problems))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
