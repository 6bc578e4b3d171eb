"""A curriculum that matters: MountainCar-v0 with a rising goal against scratch.

gymnax MountainCar-v0 (reward -1 per step, 200-step episodes: -200 means the
car never reached the goal) at a budget where PPO trained from scratch at the
usual goal (position 0.5) fails, against the same PPO trained with
`learn_with_curriculum` and a goal that starts low on the hill and rises to 0.5.
PPO is the lerax MountainCar-v0 preset's (16 envs x 128 steps, 8 epochs of 8
minibatches, learning rate 1e-3 annealed, entropy 0.01, normalised
observations); only the budget differs.

- `--part scratch`: `--seeds` seeds at goal 0.5 (`train_seeds`: `jax.vmap` of
  `learn`, one program).
- `--part performance`: the same seeds with `PerformanceCurriculum`: `--levels`
  evenly spaced goals from `--start` to 0.5, the next once the level has been
  trained for `--window` iterations and the mean training return of the last
  `--window` iterations reaches `--threshold` (`learn_with_curriculum` under
  `jax.vmap` over keys, one program).
- `--part scheduled`: the same with `ScheduledCurriculum`: the goal rises
  linearly from `--start` to 0.5 over the first `--ramp` of training, then
  stays at 0.5.
- Each training part then scores every seed's final policy AT THE FULL
  DIFFICULTY: `evaluate_policy` on `--eval-episodes` fresh episodes of the
  unmodified env (goal 0.5, deterministic actions, new keys): mean return and
  success rate (the fraction of episodes that reached the goal within 200
  steps), and writes `curriculum-PART[-TAG].json` under `--results`.
- `--part report`: the table (per-seed values; mean and bootstrap 95% CI over
  seeds) of the files present (`--also TAG`: rows that pool the seeds of the
  files of another `--tag`, say a second set of keys), and `--plot FILE`:
  training return and goal per iteration of every seed.

python benchmarks/curriculum.py [--smoke] [--part scratch|performance|scheduled|
    report] [--seeds 8] [--timesteps 65536] [--start -0.3] [--levels 9]
    [--threshold -150] [--window 2] [--ramp 0.75] [--seed 0] [--tag NAME]
    [--results DIR] [--also TAG] [--plot FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from _smoke import announce_smoke

from lerax.algorithm import PPO
from lerax.callback import EpisodeStatisticsCallback
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.evaluation import evaluate_policy
from lerax.policy import MLPActorCriticPolicy
from lerax.scale import (
    PerformanceCurriculum,
    ScheduledCurriculum,
    learn_with_curriculum,
    select,
    train_seeds,
)

PARTS = ("scratch", "performance", "scheduled")
GOAL = 0.5  # MountainCar-v0's usual goal position: the full difficulty
STEPS = 200  # its episode limit


def bootstrap_ci(values, seed: int = 0) -> tuple[float, float]:
    values = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = rng.choice(values, size=(10000, values.size)).mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def score(env, policies, num_seeds: int, key, episodes: int) -> dict:
    # Every seed's policy on fresh episodes of the goal-0.5 env.
    returns, successes = [], []
    for s, k in zip(range(num_seeds), jax.random.split(key, num_seeds), strict=True):
        result = evaluate_policy(env, select(policies, s), key=k, num_episodes=episodes)
        lengths = np.asarray(result.lengths)
        returns.append(float(np.mean(np.asarray(result.returns))))
        successes.append(float(np.mean(lengths < STEPS)))
    return {"evaluated_return": returns, "success_rate": successes}


def make_curriculum(part: str, args):
    if part == "performance":
        return PerformanceCurriculum(
            where=lambda e: e.params.goal_position,
            levels=np.linspace(args.start, GOAL, args.levels),
            threshold=args.threshold,
            window=args.window,
        )
    start_goal, ramp = args.start, args.ramp

    def goal(progress):
        fraction = jnp.minimum(progress / ramp, 1.0)
        return start_goal + (GOAL - start_goal) * fraction

    return ScheduledCurriculum(where=lambda e: e.params.goal_position, schedule=goal)


def train(part: str, args, algo, env, policy, keys):
    # Every seed trained in one program; returns the states and the goals used.
    if part == "scratch":
        state = train_seeds(
            algo,
            env,
            policy,
            args.timesteps,
            keys,
            callback=EpisodeStatisticsCallback(),
        )
        goals = np.full((args.seeds, algo.num_iterations(args.timesteps)), GOAL)
        return state, goals
    curriculum = make_curriculum(part, args)

    def one(key):
        return learn_with_curriculum(
            algo, env, policy, args.timesteps, curriculum, key=key, window=args.window
        )

    run = jax.vmap(one)(keys)
    return run.state, np.asarray(run.parameters)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--part", choices=PARTS + ("report",))
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--timesteps", type=int, default=2**16)
    parser.add_argument("--start", type=float, default=-0.3)
    parser.add_argument("--levels", type=int, default=9)
    parser.add_argument("--threshold", type=float, default=-150.0)
    parser.add_argument("--window", type=int, default=2)
    parser.add_argument("--ramp", type=float, default=0.75)
    parser.add_argument("--eval-episodes", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default="")
    parser.add_argument("--results", default="results")
    parser.add_argument("--also", action="append", default=[])
    parser.add_argument("--plot")
    args = parser.parse_args()
    algo = PPO(
        num_envs=16,
        num_steps=128,
        num_epochs=8,
        num_batches=8,
        learning_rate=1e-3,
        anneal_learning_rate=True,
        entropy_loss_coefficient=0.01,
    )
    if args.smoke:
        announce_smoke()
        args.seeds, args.timesteps, args.eval_episodes = 2, 4 * 16 * 128, 2
        algo = PPO(num_envs=4, num_steps=64, num_epochs=1, num_batches=1)
    folder = Path(args.results)
    if args.part == "report":
        report(args, folder)
        return
    env = GymnaxToLeraxEnv.from_name("MountainCar-v0")
    policy = MLPActorCriticPolicy(
        env=env, key=jax.random.key(args.seed + 1), normalize_observations=True
    )
    keys = jax.random.split(jax.random.key(args.seed), args.seeds)
    parts = PARTS if args.smoke else (args.part,)
    for part in parts:
        if part is None:
            parser.error(
                "--part is required (scratch, performance, scheduled or report)"
            )
        start = time.perf_counter()
        state, goals = train(part, args, algo, env, policy, keys)
        jax.block_until_ready(state.policy)
        seconds = time.perf_counter() - start
        scored = score(
            env,
            state.policy,
            args.seeds,
            jax.random.key(args.seed + 100),
            args.eval_episodes,
        )
        training = np.asarray(state.callback_state.mean_return)  # (seeds, iterations)
        out = {
            "part": part,
            "start_goal": args.start,
            "ramp": args.ramp,
            "threshold": args.threshold,
            "levels": args.levels,
            "window": args.window,
            "timesteps": args.timesteps,
            "seeds": args.seeds,
            **scored,
            "training_return": np.where(np.isnan(training), None, training).tolist(),
            "goal": goals.tolist(),
            "seconds_incl_compile": seconds,
            "command": "python benchmarks/curriculum.py " + " ".join(sys.argv[1:]),
        }
        print(
            f"{part}: {args.seeds} seeds x {args.timesteps} steps, {seconds:.0f} s; "
            f"at goal 0.5: return {np.mean(scored['evaluated_return']):.1f}, "
            f"success {np.mean(scored['success_rate']):.2f} "
            f"(per seed {[round(r, 1) for r in scored['evaluated_return']]})"
        )
        if not args.smoke:
            folder.mkdir(parents=True, exist_ok=True)
            name = f"curriculum-{part}{suffix(args.tag)}.json"
            (folder / name).write_text(json.dumps(out, indent=1))


def suffix(tag: str) -> str:
    return f"-{tag}" if tag else ""


def load(folder: Path, tag: str) -> dict:
    outs = {}
    for part in PARTS:
        file = folder / f"curriculum-{part}{suffix(tag)}.json"
        if file.exists():
            outs[part] = json.loads(file.read_text())
    return outs


def rows(name: str, returns, successes) -> None:
    # One table row per measure: per-seed values, mean, bootstrap 95% CI.
    for field, values, digits in (
        ("return", returns, 1),
        ("success rate", successes, 2),
    ):
        low, high = bootstrap_ci(values)
        print(
            f"| {name} | {field} | {', '.join(f'{v:.{digits}f}' for v in values)} "
            f"| {np.mean(values):.{digits}f} | [{low:.{digits}f}, {high:.{digits}f}] |"
        )
    solved = sum(s == 1.0 for s in successes)
    never = sum(s == 0.0 for s in successes)
    print(
        f"{name}: {len(successes)} seeds, {solved} reach the goal in every "
        f"episode, {never} in none"
    )


def report(args, folder: Path) -> None:
    outs = load(folder, args.tag)
    if not outs:
        raise SystemExit(f"no curriculum-*{suffix(args.tag)}.json in {folder}")
    for part, out in outs.items():
        rows(part, out["evaluated_return"], out["success_rate"])
    for tag in args.also:
        extra = load(folder, tag)
        for part in outs.keys() & extra.keys():
            pooled = [outs[part], extra[part]]
            rows(
                f"{part} (with {tag}, pooled)",
                [v for o in pooled for v in o["evaluated_return"]],
                [v for o in pooled for v in o["success_rate"]],
            )
    if args.plot:
        figure_module = __import__("matplotlib.figure", fromlist=["Figure"])
        figure = figure_module.Figure(figsize=(9, 3.5), layout="constrained")
        ret_ax, goal_ax = figure.subplots(1, 2)
        colours = {"scratch": "tab:gray", "performance": "tab:blue"}
        colours["scheduled"] = "tab:orange"
        for part, colour in colours.items():
            if part not in outs:
                continue
            curves = np.asarray(outs[part]["training_return"], dtype=np.float64)
            x = np.arange(curves.shape[1]) + 1
            for i, curve in enumerate(curves):
                ret_ax.plot(
                    x,
                    curve,
                    color=colour,
                    lw=0.8,
                    alpha=0.7,
                    label=part if i == 0 else None,
                    zorder=3 if part == "scratch" else 2,
                )
            goals = np.asarray(outs[part]["goal"], dtype=np.float64)
            for i, g in enumerate(goals):
                goal_ax.plot(
                    x,
                    g,
                    color=colour,
                    lw=0.8,
                    alpha=0.7,
                    label=part if i == 0 else None,
                )
        ret_ax.set_xlabel("iteration")
        ret_ax.set_ylabel("training return (at the goal in use)")
        ret_ax.legend(fontsize=8)
        goal_ax.set_xlabel("iteration")
        goal_ax.set_ylabel("goal position")
        figure.suptitle("MountainCar-v0: PPO with a rising goal against scratch")
        figure.savefig(args.plot, dpi=110)


if __name__ == "__main__":
    main()
