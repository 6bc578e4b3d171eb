"""Meta-learn PPO's policy objective: evolve a `LearnedDrift` with OpenAI-ES (LPO).

Lu et al. (2022) discovered DPO by evolving a drift function over whole
training runs (LPO). In lerax a training run is one pure, vmappable program, so
that is a short script: each generation, OpenAI-ES (evosax's `Open_ES`, with
antithetic sampling) proposes a population of drift-network weights, and one
compiled program trains PPO with every member on CartPole-v1 (`eqx.filter_vmap`
over the population: a `learn` per member, all in one XLA program). The fitness
is the mean episode return over the whole run (the area under its learning
curve). The program is compiled once and reused by every generation: the script
counts its traces and checks.

At the end, the evolved drift and PPO's clip are each trained on fresh seeds,
and the fitness curve and the drifts are plotted (with `--plot DIR`).

Needs evosax (`pip install 'lerax[meta]'`); `LERAX_QUICK=1` (or `--quick`)
runs a tiny budget, to check that it works (seconds after compiling).
"""

import argparse
import json
import os
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from lerax.algorithm import DPO, PPO, LearnedDrift, ObjectiveInputs
from lerax.callback import EpisodeStatisticsCallback
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.policy import MLPActorCriticPolicy

FULL = dict(population=8, generations=10, timesteps=8_192, eval_seeds=8)
QUICK = dict(population=4, generations=2, timesteps=1_024, eval_seeds=2)
PPO_CONFIG = dict(
    num_envs=4, num_steps=128, num_epochs=4, num_batches=4, learning_rate=2.5e-3
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--plot", type=Path, help="write the figures into DIR")
    parser.add_argument("--out", type=Path, help="write the curves as JSON")
    args = parser.parse_args()
    quick = args.quick or os.environ.get("LERAX_QUICK") == "1"
    budget = QUICK if quick else FULL
    try:
        from evosax.algorithms import Open_ES
    except ImportError as error:
        raise SystemExit(
            "This example needs evosax: pip install 'lerax[meta]'"
        ) from error

    env = GymnaxToLeraxEnv.from_name("CartPole-v1")
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    drift = LearnedDrift(width=16, depth=2, key=jax.random.key(1))
    weights, static = eqx.partition(drift, eqx.is_array)

    def mean_return(objective, key):
        algo = PPO(**PPO_CONFIG, objective=objective)
        state = algo.learn_state(
            env,
            policy,
            budget["timesteps"],
            key=key,
            callback=EpisodeStatisticsCallback(),
        )
        return jnp.nanmean(state.callback_state.mean_return)

    traces = []

    @eqx.filter_jit
    def generation_fitness(population, key):
        traces.append(1)  # runs only when the program is (re)traced
        # Common random numbers: every member trains with the same key.
        return eqx.filter_vmap(lambda w: mean_return(eqx.combine(w, static), key))(
            population
        )

    es = Open_ES(
        population_size=budget["population"],
        solution=weights,
        use_antithetic_sampling=True,
        optimizer=optax.adam(0.03),
        std_schedule=optax.constant_schedule(0.05),
    )
    params = es.default_params
    key = jax.random.key(2)
    es_state = es.init(key, weights, params)
    curve = []
    for generation in range(budget["generations"]):
        key, ask_key, run_key, tell_key = jax.random.split(key, 4)
        population, es_state = es.ask(ask_key, es_state, params)
        returns = generation_fitness(population, run_key)
        # evosax minimises.
        es_state, _ = es.tell(tell_key, population, -returns, es_state, params)
        row = dict(
            generation=generation,
            mean=float(jnp.mean(returns)),
            best=float(jnp.max(returns)),
        )
        curve.append(row)
        print(
            f"generation {generation:2d}: mean return {row['mean']:7.2f}, "
            f"best {row['best']:7.2f}"
        )
    assert len(traces) == 1, f"the generation program was traced {len(traces)} times"
    print(f"{budget['generations']} generations, 1 compile")

    evolved = eqx.combine(es.get_mean(es_state), static)
    eval_keys = jax.random.split(jax.random.key(3), budget["eval_seeds"])
    comparison = {}
    for name, objective in (("evolved drift", evolved), ("PPO clip", None)):
        scores = eqx.filter_jit(
            eqx.filter_vmap(lambda k, o=objective: mean_return(o, k))
        )(eval_keys)
        comparison[name] = np.asarray(scores).tolist()
        print(
            f"{name:14s}: mean return over the run {np.mean(scores):7.2f} "
            f"+- {np.std(scores):.2f} ({budget['eval_seeds']} fresh seeds)"
        )
    if args.out is not None:
        args.out.write_text(
            json.dumps(dict(budget=budget, curve=curve, comparison=comparison))
        )
    if args.plot is not None:
        plot(args.plot, curve, evolved, drift)


def clip_drift(ratio, advantage, epsilon=0.2):
    """PPO's clip as a drift: `r A - min(r A, clip(r) A)` (Lu et al., 2022)."""
    clipped = np.clip(ratio, 1 - epsilon, 1 + epsilon)
    return ratio * advantage - np.minimum(ratio * advantage, clipped * advantage)


def plot(directory: Path, curve, evolved: LearnedDrift, initial: LearnedDrift):
    """The fitness curve, and the evolved drift against PPO's clip."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    generations = [row["generation"] for row in curve]
    ax.plot(generations, [row["mean"] for row in curve], label="population mean")
    ax.plot(generations, [row["best"] for row in curve], label="best member")
    ax.set_xlabel("generation")
    ax.set_ylabel("mean episode return over the run")
    ax.set_title("LearnedDrift evolved on CartPole-v1")
    ax.legend()
    fig.tight_layout()
    fig.savefig(directory / "learned_objective_fitness.png", dpi=120)

    ratio = np.linspace(0.5, 1.5, 201)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), sharey=True)
    for ax, advantage in zip(axes, (1.0, -1.0), strict=True):
        a = jnp.full(ratio.shape, advantage)
        ax.plot(ratio, clip_drift(ratio, advantage), label="PPO clip (0.2)")
        drifts = (("evolved", evolved), ("initial", initial), ("DPO", DPO()))
        for name, objective in drifts:
            inputs = ObjectiveInputs(
                log_ratio=jnp.log(ratio),
                ratio=jnp.asarray(ratio),
                advantages=a,
                log_probs=jnp.zeros_like(a),
                old_log_probs=jnp.zeros_like(a),
            )
            style = {"evolved": "-", "initial": ":", "DPO": "--"}[name]
            ax.plot(ratio, objective.drift(inputs), style, label=f"{name} drift")
        ax.set_title(f"advantage {advantage:+.0f}")
        ax.set_xlabel("ratio r")
    axes[0].set_ylabel("drift")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(directory / "learned_objective_drift.png", dpi=120)
    print(f"figures written to {directory}")


if __name__ == "__main__":
    main()
