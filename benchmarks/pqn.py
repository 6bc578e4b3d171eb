"""PQN: lerax's `PQN` against the plain single-file PQN, speed and learning.

Speed: the user call `PQN.learn` (warm: compiled once before timing) against
the plain program `jax.jit(make_train(config))` at identical settings (the
CartPole preset, `lerax.presets.pqn("CartPole-v1")`), timed in interleaved
pairs (lerax, plain, lerax, plain, ...); the reported ratio is the median over
pairs of `plain seconds / lerax seconds` (lerax's throughput relative to the
plain file; > 1 means lerax is faster).

Memory (`--part memory`): PQN with a `GRUQPolicy` and with an `MLPQPolicy` on
`CueEnv`, a cue-recall task a memoryless policy cannot solve (greedy return
0 at best; 1 with memory).

Learning: both trained for the preset's budget on `--seeds` seeds at once
(`jax.vmap` over seeds), then every seed's greedy policy plays 16 episodes;
"solved" means a mean greedy return >= 475 on every seed.

    python benchmarks/pqn.py --part speed --pairs 5
    python benchmarks/pqn.py --part learning --seeds 4
    python benchmarks/pqn.py --part memory --seeds 4
    python benchmarks/pqn.py --smoke
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, Key

sys.path.insert(0, str(Path(__file__).parent))

import plain_pqn  # noqa: E402
from _smoke import announce_smoke  # noqa: E402

from lerax import presets  # noqa: E402
from lerax.algorithm import PQN  # noqa: E402
from lerax.env import AbstractEnv, AbstractEnvState  # noqa: E402
from lerax.evaluation import evaluate_policy  # noqa: E402
from lerax.policy import GRUQPolicy, MLPQPolicy  # noqa: E402
from lerax.space import Box, Discrete  # noqa: E402

SOLVED = 475.0


def plain_config(preset, total_timesteps: int) -> plain_pqn.PQNConfig:
    """The plain run's configuration, read off the lerax preset.

    Args:
        preset: `lerax.presets.pqn(...)`.
        total_timesteps: The budget.

    Returns:
        The matching `plain_pqn.PQNConfig`.
    """
    algo = preset.algorithm
    return plain_pqn.PQNConfig(
        env_name=preset.env_id,
        num_envs=algo.num_envs,
        num_steps=algo.num_steps,
        num_epochs=algo.num_epochs,
        num_minibatches=algo.num_batches,
        gamma=float(algo.gamma),
        q_lambda=float(algo.q_lambda),
        learning_rate=float(algo.learning_rate),
        max_grad_norm=float(algo.max_grad_norm),
        eps_start=float(algo.epsilon_start),
        eps_finish=float(algo.epsilon_finish),
        eps_decay=float(algo.epsilon_decay_fraction),
        width=preset.policy_kwargs["width_size"],
        depth=preset.policy_kwargs["depth"],
        total_timesteps=total_timesteps,
    )


def speed(pairs: int, total_timesteps: int) -> dict:
    """Median over interleaved pairs of plain seconds / lerax seconds.

    Args:
        pairs: The number of (lerax, plain) pairs.
        total_timesteps: The budget of each timed run.

    Returns:
        The per-pair seconds and the median ratio.
    """
    preset = presets.pqn("CartPole-v1")
    env = preset.make_env()
    policy = preset.make_policy(env, key=jax.random.key(0))
    config = plain_config(preset, total_timesteps)
    plain_train = jax.jit(plain_pqn.make_train(config))

    def run_lerax(seed):
        key = jax.random.key(seed)
        return jax.block_until_ready(
            preset.algorithm.learn(env, policy, total_timesteps, key=key)
        )

    def run_plain(seed):
        return jax.block_until_ready(plain_train(jax.random.key(seed)))

    run_lerax(0), run_plain(0)  # compile both
    lerax_s, plain_s = [], []
    for i in range(pairs):
        start = time.perf_counter()
        run_lerax(i + 1)
        lerax_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        run_plain(i + 1)
        plain_s.append(time.perf_counter() - start)
    ratios = [p / q for p, q in zip(plain_s, lerax_s, strict=True)]
    return {
        "total_timesteps": total_timesteps,
        "lerax_seconds": lerax_s,
        "plain_seconds": plain_s,
        "median_ratio_plain_over_lerax": statistics.median(ratios),
    }


def learning(seeds: int, total_timesteps: int) -> dict:
    """Greedy returns of `seeds` vmapped seeds of lerax's PQN and the plain one.

    Args:
        seeds: The number of seeds.
        total_timesteps: The budget.

    Returns:
        Each implementation's per-seed mean greedy return (16 episodes).
    """
    preset = presets.pqn("CartPole-v1")
    env = preset.make_env()
    keys = jax.random.split(jax.random.key(2025), seeds)
    policies = [preset.make_policy(env, key=jax.random.fold_in(k, 0)) for k in keys]
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *policies)

    def train(policy, key):
        return preset.algorithm.learn(
            env, policy, total_timesteps, key=jax.random.fold_in(key, 1)
        )

    start = time.perf_counter()
    trained = jax.block_until_ready(jax.vmap(train)(stacked, keys))
    lerax_seconds = time.perf_counter() - start
    lerax_returns = []
    for i in range(seeds):
        one = jax.tree.map(lambda x, i=i: x[i], trained)
        result = evaluate_policy(env, one, num_episodes=16, key=jax.random.key(i))
        lerax_returns.append(float(np.mean(result.returns)))

    config = plain_config(preset, total_timesteps)
    start = time.perf_counter()
    params = jax.block_until_ready(
        jax.jit(jax.vmap(plain_pqn.make_train(config)))(keys)
    )
    plain_seconds = time.perf_counter() - start
    plain_returns = []
    for i in range(seeds):
        one = jax.tree.map(lambda x, i=i: x[i], params)
        returns = plain_pqn.greedy_returns(config, one, key=jax.random.key(i))
        plain_returns.append(float(jnp.mean(returns)))
    return {
        "total_timesteps": total_timesteps,
        "seeds": seeds,
        "lerax_greedy_returns": lerax_returns,
        "plain_greedy_returns": plain_returns,
        "lerax_solved_all": all(r >= SOLVED for r in lerax_returns),
        "plain_solved_all": all(r >= SOLVED for r in plain_returns),
        "lerax_seconds_with_compile": lerax_seconds,
        "plain_seconds_with_compile": plain_seconds,
    }


class CueState(AbstractEnvState):
    """The cue shown at reset and the time since.

    Attributes:
        cue: 0 or 1.
        time: Steps taken.
    """

    cue: Int[Array, ""]
    time: Int[Array, ""]


class CueEnv(AbstractEnv[CueState, Int[Array, ""], Float[Array, "3"], None]):
    """A memory task: recall at step `delay` the cue shown at step 0.

    Observation `[cue == 0, cue == 1, query]`: the cue's one-hot at step 0
    only, zeros in between, `query = 1` at step `delay`. The action there
    (Discrete(2)) ends the episode with reward +1 if it names the cue, -1
    otherwise; earlier actions do nothing. A memoryless policy sees the same
    query observation for both cues, so its best expected return is 0; one
    that remembers the cue earns 1.

    Attributes:
        delay: Steps between the cue and the query.
    """

    delay: int = eqx.field(static=True, default=4)
    name: str = eqx.field(static=True, default="Cue")

    @property
    def action_space(self) -> Discrete:
        return Discrete(2)

    @property
    def observation_space(self) -> Box:
        return Box(0.0, 1.0, shape=(3,))

    def initial(self, *, key: Key[Array, ""]) -> CueState:
        cue = jax.random.bernoulli(key).astype(jnp.int32)
        return CueState(cue=cue, time=jnp.zeros((), jnp.int32))

    def transition(self, state, action, *, key) -> CueState:
        del action, key
        return CueState(cue=state.cue, time=state.time + 1)

    def observation(self, state, *, key) -> Float[Array, "3"]:
        del key
        first = state.time == 0
        return jnp.stack(
            [
                first & (state.cue == 0),
                first & (state.cue == 1),
                state.time == self.delay,
            ]
        ).astype(jnp.float32)

    def reward(self, state, action, next_state, *, key) -> Float[Array, ""]:
        del next_state, key
        right = jnp.where(action == state.cue, 1.0, -1.0)
        return jnp.where(state.time == self.delay, right, 0.0)

    def terminal(self, state, *, key) -> Bool[Array, ""]:
        del key
        return state.time > self.delay

    def truncate(self, state) -> Bool[Array, ""]:
        del state
        return jnp.asarray(False)


def memory(seeds: int, total_timesteps: int) -> dict:
    """Greedy returns on `CueEnv` of PQN with a GRU and with an MLP Q-network.

    Args:
        seeds: Seeds per policy (vmapped).
        total_timesteps: The budget.

    Returns:
        Each policy's per-seed mean greedy return (64 episodes).
    """
    env = CueEnv()
    algorithm = PQN(
        num_envs=16,
        num_steps=20,
        num_epochs=4,
        num_batches=4,
        q_lambda=0.9,
        learning_rate=1e-3,
        epsilon_finish=0.05,
        epsilon_decay_fraction=0.3,
    )
    keys = jax.random.split(jax.random.key(7), seeds)
    out = {"total_timesteps": total_timesteps, "seeds": seeds}
    for name, make in (
        ("gru", lambda k: GRUQPolicy(env, key=k, encoder_sizes=(32,), hidden_size=32)),
        ("mlp", lambda k: MLPQPolicy(env, key=k, width_size=32)),
    ):
        stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *[make(k) for k in keys])
        trained = jax.vmap(
            lambda p, k: algorithm.learn(env, p, total_timesteps, key=k)
        )(stacked, keys)
        returns = []
        for i in range(seeds):
            one = jax.tree.map(lambda x, i=i: x[i], trained)
            result = evaluate_policy(env, one, num_episodes=64, key=jax.random.key(i))
            returns.append(float(np.mean(result.returns)))
        out[f"{name}_greedy_returns"] = returns
    return out


def main(argv: list[str] | None = None) -> None:
    """Run the parts asked for and print (and optionally save) the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--part", choices=("speed", "learning", "memory", "all"), default="all"
    )
    parser.add_argument("--memory-timesteps", type=int, default=64_000)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--speed-timesteps", type=int, default=40_960)
    parser.add_argument("--timesteps", type=int, default=None)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    budget = args.timesteps or presets.pqn("CartPole-v1").total_timesteps
    speed_budget = args.speed_timesteps
    memory_budget = args.memory_timesteps
    if args.smoke:
        announce_smoke()
        args.pairs, args.seeds = 1, 2
        budget = speed_budget = 2 * 32 * 64
        memory_budget = 2 * 16 * 20
    results = {}
    if args.part in ("speed", "all"):
        results["speed"] = speed(args.pairs, speed_budget)
        print(json.dumps(results["speed"], indent=1))
    if args.part in ("learning", "all"):
        results["learning"] = learning(args.seeds, budget)
        print(json.dumps(results["learning"], indent=1))
    if args.part in ("memory", "all"):
        results["memory"] = memory(args.seeds, memory_budget)
        print(json.dumps(results["memory"], indent=1))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        name = f"pqn_{args.part}{'_smoke' if args.smoke else ''}.json"
        (args.out / name).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
