"""PPO options on Pendulum-v1: observation normalization and scaled observations.

Rows (PPO defaults otherwise, 4 seeds trained at once with ``jax.vmap``):

- Pendulum-v1 with ``normalize_observations=True``: target >= -200 mean score
  within 2**19 steps;
- Pendulum-v1 without normalization (the reference curve);
- Pendulum-v1 with observations multiplied by 100 (``TransformObservation``),
  with normalization: should learn as well as the unscaled env;
- the same x100 env without normalization: visibly worse;
- memory tasks, where the right action depends on an observation shown only at
  the first step: a cue task of this script's own (8-step episodes, reward 1
  for naming the cue at the last step, chance 0.5) and gymnax's
  ``MemoryChain-bsuite`` (reward +-1, chance 0): ``GRUActorCriticPolicy`` and
  ``LSTMActorCriticPolicy`` should solve them, ``MLPActorCriticPolicy`` cannot
  beat chance. Score: the final policy's mean deterministic return over 256
  episodes per seed.
- the skrl / Isaac Lab options (only with ``--only skrl``, or one of its parts
  ``skrl-kl``, ``skrl-value``, ``skrl-cost``): Pendulum-v1 at a too-large
  learning rate (1e-2) with and without ``kl_adaptive_lr=KLAdaptiveLR(0.008)``
  (skrl's defaults), and at PPO's default rate with and without it; Pendulum
  with rewards multiplied by 1000 (``TransformReward``; scores divided back by
  1000) with a plain critic, ``normalize_values="running"`` and ``"popart"``;
  run with ``--seeds 8``; and the throughput cost of each option (KL-adaptive
  rate, value normalisation running and PopArt, separate optimisers, bfloat16
  mixed precision) against PPO without it, timed in interleaved pairs (A B A
  B, median ratio); ``--cost-preset gpu`` times accelerator-sized runs.
  ``--row TEXT`` runs only the rows whose name contains TEXT and
  ``--summarize FILE...`` prints the tables (with seed-bootstrap intervals of
  each row's difference from the group's first row) of saved result files.
- the privileged critic (``--only skrl-privileged``, also part of ``skrl``): a
  task of this script's own where every reward carries an offset the agent
  cannot see (``HiddenOffsetEnv``: move to 0 on a line, reward
  ``5 b - |x'|`` with ``b`` uniform in [-1, 1], drawn once per episode; 32-step
  episodes, truncated), ``--privileged-timesteps`` steps per seed (default
  2**13) at discount ``--privileged-gamma`` (default 0.5);
  ``MLPPrivilegedCriticPolicy`` (critic reads ``(x, b)``) against
  ``MLPActorCriticPolicy`` (critic reads ``x``), same sizes; score: the final
  deterministic policy's mean return over 64 episodes of the task without the
  offset (0 is perfect), with a 95% bootstrap CI over seeds and of the
  difference; and the throughput cost of the privileged critic, A B A B.

A seed's score is the mean return of the episodes completed in the last 10% of
training iterations (stochastic policy), as in ``benchmarks/learning.py``. The
curves (mean over seeds of each iteration's mean episode return, in 8 bins) are
printed as a Markdown table and written to ``<out>/<timestamp>-options.json``.

    python benchmarks/options.py            # full budgets (several minutes)
    python benchmarks/options.py --smoke    # tiny budgets: checks the script
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from _smoke import announce_smoke

from lerax import train_seeds
from lerax.algorithm import PPO, KLAdaptiveLR
from lerax.callback import EpisodeStatisticsCallback
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.env import (
    AbstractEnv,
    AbstractEnvState,
    TransformObservation,
    TransformReward,
)
from lerax.evaluation import evaluate_policy
from lerax.policy import (
    GRUActorCriticPolicy,
    LSTMActorCriticPolicy,
    MLPActorCriticPolicy,
    MLPPrivilegedCriticPolicy,
)
from lerax.space import Box, Discrete

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
BINS = 8


def times_100(observation):
    """The Pendulum observation multiplied by 100 (a named, fingerprintable fn)."""
    return observation * 100.0


def times_1000(reward):
    """The Pendulum reward multiplied by 1000 (a named, fingerprintable fn)."""
    return reward * 1000.0


CUE_LENGTH = 8


class CueState(AbstractEnvState):
    """The cue and the time since reset."""

    cue: jax.Array
    time: jax.Array


class CueEnv(AbstractEnv):
    """A cue (+-1) shown only at the first step; name it at the last step."""

    name: str = eqx.field(static=True, default="Cue")

    @property
    def action_space(self) -> Discrete:
        """Two actions: the two cues."""
        return Discrete(2)

    @property
    def observation_space(self) -> Box:
        """`[cue signal (first step only), query flag (last step)]`."""
        return Box(-1.0, 1.0, shape=(2,))

    def initial(self, *, key):
        """A random cue."""
        return CueState(
            cue=jax.random.bernoulli(key).astype(jnp.int32),
            time=jnp.zeros((), jnp.int32),
        )

    def transition(self, state, action, *, key):
        """Time passes."""
        return CueState(cue=state.cue, time=state.time + 1)

    def observation(self, state, *, key):
        """The cue at step 0, the query flag at the last step."""
        signal = jnp.where(state.time == 0, 2.0 * state.cue - 1.0, 0.0)
        query = (state.time == CUE_LENGTH - 1).astype(jnp.float32)
        return jnp.stack([signal, query])

    def reward(self, state, action, next_state, *, key):
        """1 for naming the cue at the last step."""
        last = state.time == CUE_LENGTH - 1
        return jnp.where(last & (action == state.cue), 1.0, 0.0)

    def terminal(self, state, *, key):
        """After `CUE_LENGTH` steps."""
        return state.time >= CUE_LENGTH

    def truncate(self, state):
        """Never."""
        return jnp.asarray(False)


OFFSET_HORIZON = 32
OFFSET_STEP = 0.1
OFFSET_SCALE = 5.0


class OffsetState(AbstractEnvState):
    """The position, the hidden offset's draw and the time since reset."""

    x: jax.Array
    offset: jax.Array
    time: jax.Array


class HiddenOffsetEnv(AbstractEnv):
    """Move to 0 on a line; every reward carries an offset the agent cannot see.

    Each episode draws `b` uniform in [-1, 1] at reset and keeps it; the reward
    of every step is `offset_scale * b - |x'|`. The offset changes the value of
    every state of the episode by about `offset_scale * b / (1 - gamma)` but
    never the best action: a critic that cannot see it leaves
    `offset_scale * b / (1 - gamma * lambda)` of noise in every advantage of
    the episode, and a critic that sees it can remove it. The critic
    observation is `(x, b)`; with `offset_scale=0` the task is the same without
    the offset (for scoring).
    """

    name: str = eqx.field(static=True, default="HiddenOffset")
    offset_scale: float = eqx.field(static=True, default=OFFSET_SCALE)

    @property
    def action_space(self) -> Discrete:
        """Left, stay, right."""
        return Discrete(3)

    @property
    def observation_space(self) -> Box:
        """`[x]`."""
        return Box(-1.0, 1.0, shape=(1,))

    @property
    def critic_observation_space(self) -> Box:
        """`[x, b]`: the position and the episode's offset."""
        return Box(-1.0, 1.0, shape=(2,))

    def initial(self, *, key):
        """A random position and offset."""
        x_key, offset_key = jax.random.split(key)
        return OffsetState(
            x=jax.random.uniform(x_key, minval=-1.0, maxval=1.0),
            offset=jax.random.uniform(offset_key, minval=-1.0, maxval=1.0),
            time=jnp.zeros((), jnp.int32),
        )

    def transition(self, state, action, *, key):
        """Move by `OFFSET_STEP` left or right, or stay; keep the offset."""
        x = jnp.clip(state.x + OFFSET_STEP * (action - 1), -1.0, 1.0)
        return OffsetState(x=x, offset=state.offset, time=state.time + 1)

    def observation(self, state, *, key):
        """The position only."""
        return state.x[None]

    def critic_observation(self, state, *, key):
        """The position and the hidden offset."""
        return jnp.stack([state.x, state.offset])

    def reward(self, state, action, next_state, *, key):
        """The episode's hidden offset, minus the distance to 0."""
        return self.offset_scale * state.offset - jnp.abs(next_state.x)

    def terminal(self, state, *, key):
        """Never."""
        return jnp.asarray(False)

    def truncate(self, state):
        """After `OFFSET_HORIZON` steps."""
        return state.time >= OFFSET_HORIZON


PRIVILEGED_POLICIES = {
    "privileged critic": MLPPrivilegedCriticPolicy,
    "symmetric critic": MLPActorCriticPolicy,
}


PRIVILEGED_GAMMA = 0.5


def offset_algo(smoke: bool, gamma: float = PRIVILEGED_GAMMA) -> PPO:
    """PPO for the hidden-offset task (smaller batches than the defaults).

    The task's reward is dense (the distance to 0 at every step), so a short
    horizon suffices; the discount also sets the scale of the offset's part of
    the value (`offset_scale * b / (1 - gamma)`) that a critic has to learn.
    """
    if smoke:
        return PPO(num_envs=2, num_steps=16, num_epochs=1, num_batches=2, gamma=gamma)
    return PPO(num_envs=8, num_steps=64, num_epochs=4, num_batches=4, gamma=gamma)


def bootstrap_ci(values: np.ndarray, *, seed: int = 0) -> tuple[float, float]:
    """A 95% percentile bootstrap CI of the mean (10,000 resamples)."""
    values = np.asarray(values, float)
    rng = np.random.default_rng(seed)
    means = rng.choice(values, (10_000, values.size)).mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


PRIVILEGED_TIMESTEPS = 2**13


def run_privileged_row(
    name: str,
    *,
    smoke: bool,
    num_seeds: int,
    seed: int,
    timesteps: int = PRIVILEGED_TIMESTEPS,
    gamma: float = PRIVILEGED_GAMMA,
) -> dict:
    """Train every seed of one critic at once; score on the task without offset."""
    env = HiddenOffsetEnv()
    scoring = HiddenOffsetEnv(offset_scale=0.0)
    algo = offset_algo(smoke, gamma)
    total = 64 if smoke else timesteps
    cls = PRIVILEGED_POLICIES[name]
    keys = jax.random.split(jax.random.key(seed), num_seeds)
    train_keys, eval_keys = jnp.unstack(jax.vmap(jax.random.split)(keys), axis=1)
    start = time.perf_counter()
    states = train_seeds(algo, env, lambda k: cls(env, key=k), total, train_keys)

    def evaluate(policy, key):
        return evaluate_policy(scoring, policy, key=key, num_episodes=64).returns

    returns = np.asarray(
        jax.block_until_ready(eqx.filter_vmap(evaluate)(states.policy, eval_keys))
    )
    seconds = time.perf_counter() - start
    scores = returns.mean(axis=1)
    return dict(
        name=name,
        timesteps=total,
        gamma=gamma,
        score_per_seed=[round(float(s), 2) for s in scores],
        score=round(float(scores.mean()), 2),
        ci95=[round(v, 2) for v in bootstrap_ci(scores, seed=seed)],
        seconds_with_compile=round(seconds, 1),
    )


def run_privileged_cost(*, smoke: bool, repeats: int) -> dict:
    """Median time ratio (privileged / symmetric critic), interleaved A B A B."""
    env = HiddenOffsetEnv()
    algo = offset_algo(smoke)
    total = 64 if smoke else 2**15
    runs = {
        "plain": MLPActorCriticPolicy(env=env, key=jax.random.key(0)),
        "option": MLPPrivilegedCriticPolicy(env, key=jax.random.key(0)),
    }
    learn = eqx.filter_jit(lambda policy, key: algo.learn(env, policy, total, key=key))
    for policy in runs.values():  # compile both first
        jax.block_until_ready(learn(policy, jax.random.key(0)))
    times = {"plain": [], "option": []}
    for i in range(repeats):
        for label, policy in runs.items():
            begin = time.perf_counter()
            jax.block_until_ready(learn(policy, jax.random.key(i + 1)))
            times[label].append(time.perf_counter() - begin)
    ratios = np.asarray(times["option"]) / np.asarray(times["plain"])
    return dict(
        name="privileged critic (HiddenOffset, vs symmetric)",
        timesteps=total,
        repeats=repeats,
        seconds_plain=[round(t, 3) for t in times["plain"]],
        seconds_option=[round(t, 3) for t in times["option"]],
        ratio_median=round(float(np.median(ratios)), 3),
    )


def render_privileged_markdown(results: list[dict]) -> str:
    """The privileged-critic rows, then the difference with its bootstrap CI."""
    lines = [
        "| critic | score (mean) | 95% CI | per seed | wall s |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['name']} | {r['score']:.2f} | "
            f"[{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}] | "
            f"{', '.join(f'{s:.2f}' for s in r['score_per_seed'])} | "
            f"{r['seconds_with_compile']:.0f} |"
        )
    by_name = {r["name"]: np.asarray(r["score_per_seed"]) for r in results}
    if len(by_name) == 2:
        diff = by_name["privileged critic"] - by_name["symmetric critic"]
        low, high = bootstrap_ci(diff)
        lines.append(
            f"\nprivileged - symmetric (same seeds): {diff.mean():.2f}, "
            f"95% CI [{low:.2f}, {high:.2f}]"
        )
    return "\n".join(lines) + "\n"


POLICIES = {
    "mlp": MLPActorCriticPolicy,
    "gru": GRUActorCriticPolicy,
    "lstm": LSTMActorCriticPolicy,
}


def memory_rows() -> list[dict]:
    """The memory-task rows."""
    rows = []
    for env_name, chance in (("cue", 0.5), ("MemoryChain-bsuite", 0.0)):
        for policy in ("gru", "lstm", "mlp"):
            rows.append(
                dict(
                    name=f"{env_name}, {policy}",
                    kind="memory",
                    env=env_name,
                    policy=policy,
                    chance=chance,
                )
            )
    return rows


def run_memory_row(row: dict, *, smoke: bool, num_seeds: int, seed: int) -> dict:
    """Train every seed of a memory row at once; score the final policies."""
    env = CueEnv() if row["env"] == "cue" else GymnaxToLeraxEnv.from_name(row["env"])
    algo = PPO(
        num_envs=8,
        num_steps=16 if smoke else 48,
        num_epochs=1 if smoke else 4,
        num_batches=2,
        learning_rate=3e-3,
    )
    total = 256 if smoke else 2**16
    cls = POLICIES[row["policy"]]
    sizes = (
        dict(width_size=32)
        if cls is MLPActorCriticPolicy
        else dict(hidden_size=32, encoder_sizes=(32,))
    )

    # Initial policies are built eagerly, one seed at a time (`train_seeds`):
    # orthogonal initialisation vmapped inside jit can deadlock XLA:CPU.
    keys = jax.random.split(jax.random.key(seed), num_seeds)
    train_keys, eval_keys = jnp.unstack(jax.vmap(jax.random.split)(keys), axis=1)
    start = time.perf_counter()
    states = train_seeds(
        algo, env, lambda k: cls(env=env, key=k, **sizes), total, train_keys
    )

    def evaluate(policy, key):
        return evaluate_policy(env, policy, key=key, num_episodes=256).returns

    returns = np.asarray(
        jax.block_until_ready(eqx.filter_vmap(evaluate)(states.policy, eval_keys))
    )
    seconds = time.perf_counter() - start
    scores = returns.mean(axis=1)
    return dict(
        row,
        timesteps=total,
        score_per_seed=[round(float(s), 2) for s in scores],
        score=round(float(scores.mean()), 2),
        seconds_with_compile=round(seconds, 1),
    )


def finite_mean(values: np.ndarray) -> float:
    """The mean of the finite values; NaN, without a warning, when there is none."""
    values = np.asarray(values, float)
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def format_cell(value: float, spec: str) -> str:
    """`value` formatted by `spec`; a missing value (no episode ended) is "-"."""
    return "-" if not np.isfinite(value) else format(value, spec)


def skrl_rows(group: str = "skrl") -> list[dict]:
    """The skrl-option rows of a group ("skrl-kl", "skrl-value" or all)."""
    value = [
        dict(
            name=f"pendulum rewards x1000, value norm {mode or 'off'}",
            scale=False,
            normalize=False,
            reward_scale=1000.0,
            normalize_values=mode,
        )
        for mode in (None, "running", "popart")
    ]
    if group == "skrl-value":
        return value
    kl = [
        dict(name=f"pendulum, lr {lr:g}{', KL-adaptive' if kl else ''}", **opts)
        for lr in (1e-2, 3e-4)
        for kl in (False, True)
        for opts in [
            dict(scale=False, normalize=False, learning_rate=lr, kl_adaptive=kl)
        ]
    ]
    return kl if group == "skrl-kl" else kl + value


def ppo_options(row: dict) -> dict:
    """The PPO keyword arguments a row asks for (beyond sizes)."""
    options = {}
    if "learning_rate" in row:
        options["learning_rate"] = row["learning_rate"]
    if row.get("kl_adaptive"):
        options["kl_adaptive_lr"] = KLAdaptiveLR(0.008)
    return options


# Throughput rows: each option against PPO without it, on Pendulum at the
# defaults, one seed, a fixed budget; timed after compiling, A B A B.
# Each: (PPO keyword arguments, policy keyword arguments).
COST_OPTIONS = {
    "kl_adaptive_lr": (dict(kl_adaptive_lr=KLAdaptiveLR(0.008)), {}),
    "normalize_values='running'": ({}, dict(normalize_values="running")),
    "normalize_values='popart'": ({}, dict(normalize_values="popart")),
    "critic_learning_rate (separate optimisers)": (
        dict(critic_learning_rate=1e-3),
        {},
    ),
    "compute_dtype=bfloat16": (dict(compute_dtype=jnp.bfloat16), {}),
}


def bootstrap_interval(
    a: list[float], b: list[float], *, resamples: int = 10_000, seed: int = 0
) -> tuple[float, float, float]:
    """The difference of means `mean(b) - mean(a)` and its 95% bootstrap interval.

    Seeds are resampled with replacement within each row, independently.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    rng = np.random.default_rng(seed)
    diffs = b[rng.integers(0, b.size, (resamples, b.size))].mean(axis=1) - a[
        rng.integers(0, a.size, (resamples, a.size))
    ].mean(axis=1)
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(b.mean() - a.mean()), float(low), float(high)


def render_differences(results: list[dict]) -> str:
    """Each row against the group's first row: difference of means, 95% CI."""
    if len(results) < 2:
        return ""
    base = results[0]
    lines = [
        f"| row | difference of means vs {base['name']} | 95% interval |",
        "| --- | --- | --- |",
    ]
    for r in results[1:]:
        diff, low, high = bootstrap_interval(
            base["score_per_seed"], r["score_per_seed"]
        )
        lines.append(f"| {r['name']} | {diff:+.1f} | [{low:+.1f}, {high:+.1f}] |")
    return "\n".join(lines) + "\n"


# Sizes of the timed runs: "cpu" is PPO's defaults (4 envs, 64x64 MLP);
# "gpu" is an accelerator-sized batch and network, where bfloat16 can pay off.
COST_PRESETS = {
    "cpu": ({}, {}),
    "gpu": (
        dict(num_envs=4096, num_steps=32, num_epochs=4, num_batches=8),
        dict(width_size=512, depth=3),
    ),
}


def run_cost_row(
    name: str,
    *,
    smoke: bool,
    repeats: int,
    timesteps: int = 2**15,
    preset: str = "cpu",
) -> dict:
    """Median time ratio (option / plain) of interleaved compiled runs."""
    env = GymnaxToLeraxEnv.from_name("Pendulum-v1")
    sizes, network = COST_PRESETS[preset]
    if smoke:
        sizes = dict(num_envs=2, num_steps=16, num_epochs=1, num_batches=2)
    total = 4 * 32 if smoke else timesteps
    ppo_kwargs, policy_kwargs = COST_OPTIONS[name]
    runs = {
        "plain": (
            PPO(**sizes),
            MLPActorCriticPolicy(env=env, key=jax.random.key(0), **network),
        ),
        "option": (
            PPO(**sizes, **ppo_kwargs),
            MLPActorCriticPolicy(
                env=env, key=jax.random.key(0), **network, **policy_kwargs
            ),
        ),
    }
    learn = eqx.filter_jit(
        lambda algo, policy, key: algo.learn(env, policy, total, key=key),
    )
    for algo, policy in runs.values():  # compile both first
        jax.block_until_ready(learn(algo, policy, jax.random.key(0)))
    times = {"plain": [], "option": []}
    for i in range(repeats):
        for label, (algo, policy) in runs.items():
            start = time.perf_counter()
            jax.block_until_ready(learn(algo, policy, jax.random.key(i + 1)))
            times[label].append(time.perf_counter() - start)
    ratios = np.asarray(times["option"]) / np.asarray(times["plain"])
    return dict(
        name=name,
        preset=preset,
        timesteps=total,
        repeats=repeats,
        seconds_plain=[round(t, 3) for t in times["plain"]],
        seconds_option=[round(t, 3) for t in times["option"]],
        ratio_median=round(float(np.median(ratios)), 3),
    )


def render_cost_markdown(results: list[dict]) -> str:
    """The throughput rows as a Markdown table."""
    lines = [
        "| option | time ratio (median, option / plain) | plain s | option s |",
        "| --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['name']} | {r['ratio_median']:.3f} | "
            f"{np.median(r['seconds_plain']):.2f} | "
            f"{np.median(r['seconds_option']):.2f} |"
        )
    return "\n".join(lines) + "\n"


def rows(smoke: bool) -> list[dict]:
    """The Pendulum rows: name, env scale, normalization, target."""
    del smoke
    return [
        dict(name="pendulum, normalized obs", scale=False, normalize=True, floor=-200),
        dict(name="pendulum, raw obs", scale=False, normalize=False, floor=None),
        dict(name="pendulum x100, normalized obs", scale=True, normalize=True),
        dict(name="pendulum x100, raw obs", scale=True, normalize=False),
    ]


def run_row(row: dict, *, smoke: bool, num_seeds: int, seed: int) -> dict:
    """Train every seed of one row at once and score it."""
    env = GymnaxToLeraxEnv.from_name("Pendulum-v1")
    if row["scale"]:
        env = TransformObservation(env, times_100)
    reward_scale = row.get("reward_scale", 1.0)
    if reward_scale != 1.0:
        env = TransformReward(env, times_1000)
    sizes = dict(num_envs=2, num_steps=16, num_epochs=1, num_batches=2) if smoke else {}
    algo = PPO(**sizes, **ppo_options(row))
    # Smoke: 13 iterations of 2 envs x 16 steps: the last holds the end of
    # Pendulum's 200-step episodes (a score, not NaN; still not a measurement).
    total = 13 * 32 if smoke else row.get("timesteps", 2**19)
    callback = EpisodeStatisticsCallback()

    def make(key):
        return MLPActorCriticPolicy(
            env=env,
            key=key,
            normalize_observations=row["normalize"],
            normalize_values=row.get("normalize_values"),
        )

    keys = jax.random.split(jax.random.key(seed), num_seeds)
    start = time.perf_counter()
    # Initial policies built eagerly per seed (see run_memory_row).
    states = train_seeds(algo, env, make, total, keys, callback=callback)
    curves = np.asarray(jax.block_until_ready(states.callback_state.mean_return))
    curves = curves / reward_scale  # in Pendulum's own units
    seconds = time.perf_counter() - start
    num_iterations = curves.shape[1]
    tail = max(1, num_iterations // 10)
    scores = [finite_mean(seed_curve[-tail:]) for seed_curve in curves]
    mean_curve = np.array([finite_mean(column) for column in curves.T])
    bins = [finite_mean(chunk) for chunk in np.array_split(mean_curve, BINS)]
    return dict(
        row,
        timesteps=total,
        score_per_seed=[round(float(s), 1) for s in scores],
        score=round(finite_mean(np.asarray(scores)), 1),
        curve_bins=[round(b, 1) for b in bins],
        curve=[None if np.isnan(v) else round(float(v), 1) for v in mean_curve],
        seconds_with_compile=round(seconds, 1),
    )


def render_memory_markdown(results: list[dict]) -> str:
    """The memory rows as a Markdown table."""
    lines = [
        "| task, policy | score (mean) | per seed | chance | wall s |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['name']} | {r['score']:.2f} | "
            f"{', '.join(f'{s:.2f}' for s in r['score_per_seed'])} | "
            f"{r['chance']:g} | {r['seconds_with_compile']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def render_markdown(results: list[dict]) -> str:
    """The results as a Markdown table (score and binned learning curve)."""
    header = " | ".join(f"{100 * (i + 1) // BINS}%" for i in range(BINS))
    lines = [
        f"| row | score (mean) | per seed | target | curve: {header} | wall s |",
        "| --- | --- | --- | --- | "
        + " | ".join("---" for _ in range(BINS))
        + " | --- |",
    ]
    for r in results:
        floor = "" if r.get("floor") is None else f">= {r['floor']}"
        lines.append(
            f"| {r['name']} | {format_cell(r['score'], '.1f')} | "
            + ", ".join(format_cell(s, ".0f") for s in r["score_per_seed"])
            + f" | {floor} | "
            + " | ".join(format_cell(b, ".0f") for b in r["curve_bins"])
            + f" | {r['seconds_with_compile']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def summarize(paths: list[Path]) -> int:
    """Print the tables of saved result files, rows in the files' order."""
    results, costs = [], []
    for path in paths:
        report = json.loads(path.read_text())
        results += report["results"]
        costs += report["costs"]
    if results:
        print(render_markdown(results))
        print(render_differences(results))
    if costs:
        print(render_cost_markdown(costs))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the rows; exit 1 if a full run misses the -200 target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="tiny budgets")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--only",
        choices=(
            "pendulum",
            "memory",
            "skrl",
            "skrl-kl",
            "skrl-value",
            "skrl-cost",
            "skrl-privileged",
        ),
        help="run one group of rows",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed pairs per cost row"
    )
    parser.add_argument(
        "--row", help="run only the rows (and cost rows) whose name contains this"
    )
    parser.add_argument(
        "--cost-timesteps", type=int, default=2**15, help="steps per timed run"
    )
    parser.add_argument(
        "--cost-preset",
        choices=tuple(COST_PRESETS),
        default="cpu",
        help="sizes of the timed runs (gpu: 4096 envs, 512-unit MLP)",
    )
    parser.add_argument(
        "--privileged-timesteps",
        type=int,
        default=PRIVILEGED_TIMESTEPS,
        help="steps per seed of the privileged-critic rows",
    )
    parser.add_argument(
        "--privileged-gamma",
        type=float,
        default=PRIVILEGED_GAMMA,
        help="PPO's discount in the privileged-critic rows",
    )
    parser.add_argument(
        "--summarize",
        type=Path,
        nargs="+",
        help="print the tables (with bootstrap intervals) of saved result files",
    )
    args = parser.parse_args(argv)
    if args.summarize:
        return summarize(args.summarize)
    if args.smoke:
        announce_smoke()
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    results, memory, costs = [], [], []
    if args.only in ("skrl", "skrl-kl", "skrl-value"):
        todo = [dict(row, timesteps=2**18) for row in skrl_rows(args.only)]
    else:
        todo = rows(args.smoke) if args.only in (None, "pendulum") else []
    if args.row is not None:
        todo = [row for row in todo if args.row in row["name"]]
    for row in todo:
        print(f"[options] {row['name']} ...", file=sys.stderr, flush=True)
        results.append(
            run_row(row, smoke=args.smoke, num_seeds=args.seeds, seed=args.seed)
        )
        score = format_cell(results[-1]["score"], "g")
        print(f"[options]   score {score}", file=sys.stderr)
    for row in memory_rows() if args.only in (None, "memory") else []:
        print(f"[options] {row['name']} ...", file=sys.stderr, flush=True)
        memory.append(
            run_memory_row(row, smoke=args.smoke, num_seeds=args.seeds, seed=args.seed)
        )
        print(f"[options]   score {memory[-1]['score']}", file=sys.stderr)
    if results:
        print(render_markdown(results))
    if results and args.only in ("skrl", "skrl-kl", "skrl-value"):
        print(render_differences(results))
    privileged = []
    for name in PRIVILEGED_POLICIES if args.only in ("skrl", "skrl-privileged") else []:
        print(f"[options] hidden offset, {name} ...", file=sys.stderr, flush=True)
        privileged.append(
            run_privileged_row(
                name,
                smoke=args.smoke,
                num_seeds=args.seeds,
                seed=args.seed,
                timesteps=args.privileged_timesteps,
                gamma=args.privileged_gamma,
            )
        )
        print(f"[options]   score {privileged[-1]['score']}", file=sys.stderr)
    if privileged:
        print(render_privileged_markdown(privileged))
    for name in COST_OPTIONS if args.only in ("skrl", "skrl-cost") else []:
        if args.row is not None and args.row not in name:
            continue
        print(f"[options] cost of {name} ...", file=sys.stderr, flush=True)
        costs.append(
            run_cost_row(
                name,
                smoke=args.smoke,
                repeats=args.repeats,
                timesteps=args.cost_timesteps,
                preset=args.cost_preset,
            )
        )
    if args.only in ("skrl", "skrl-cost", "skrl-privileged"):
        print("[options] cost of the privileged critic ...", file=sys.stderr)
        costs.append(run_privileged_cost(smoke=args.smoke, repeats=args.repeats))
    if memory:
        print(render_memory_markdown(memory))
    if costs:
        print(render_cost_markdown(costs))
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
    args.out.mkdir(parents=True, exist_ok=True)
    report = dict(
        date=stamp,
        jax=jax.__version__,
        smoke=args.smoke,
        seeds=args.seeds,
        results=results,
        memory=memory,
        privileged=privileged,
        costs=costs,
    )
    suffix = ("-" + args.only if args.only else "") + ("-smoke" if args.smoke else "")
    (args.out / f"{stamp}-options{suffix}.json").write_text(
        json.dumps(report, indent=1)
    )
    missed = [
        r["name"]
        for r in results
        if r.get("floor") is not None and not r["score"] >= r["floor"]
    ]
    if missed and not args.smoke:
        print(f"missed the target: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    jnp.zeros(())  # initialise the backend before timing
    sys.exit(main())
