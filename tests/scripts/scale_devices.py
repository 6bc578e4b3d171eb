"""The multi-device checks of tests/test_scale.py, run in a process of 4 CPU devices.

Usage: python scale_devices.py OUT_DIRECTORY (not collected by pytest)

The parent test sets `XLA_FLAGS=--xla_force_host_platform_device_count=4` so
this process sees four devices while the rest of the suite keeps one. Results go
to OUT_DIRECTORY/results.npz (arrays) and results.json (facts and messages);
a checkpoint written on 4 devices goes to OUT_DIRECTORY/checkpoints.
"""

import json
import sys
from pathlib import Path

import equinox as eqx
import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers import ChainEnv  # noqa: E402
from lerax._sharding import tracing_on  # noqa: E402
from lerax.algorithm import IPPO, PPO  # noqa: E402
from lerax.callback import (  # noqa: E402
    CSVBackend,
    EpisodeStatisticsCallback,
    LoggingCallback,
)
from lerax.checkpoint import Checkpointer  # noqa: E402
from lerax.env import AgentBatchEnv  # noqa: E402
from lerax.policy import MLPActorCriticPolicy, PerAgentPolicy  # noqa: E402
from lerax.scale import sweep  # noqa: E402

NUM_ENVS, NUM_STEPS, ITERATIONS = 8, 8, 3
RATES = [3e-3, 1e-3, 3e-4, 1e-4]


def arrays(tree) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(eqx.filter(tree, eqx.is_array))]


def main() -> None:
    out = Path(sys.argv[1])
    facts: dict = {"device_count": jax.device_count()}
    results: dict[str, np.ndarray] = {}
    env = ChainEnv()
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    algo = PPO(num_envs=NUM_ENVS, num_steps=NUM_STEPS, num_epochs=2, num_batches=2)
    total = ITERATIONS * NUM_ENVS * NUM_STEPS
    mesh = jax.make_mesh((4,), ("envs",))
    key = jax.random.key(1)
    stats = EpisodeStatisticsCallback()

    # One device versus four, same global batch and key; the 4-device run also
    # checkpoints (restored on one device by the parent test).
    one = algo.learn_state(env, policy, total, key=key, callback=stats)
    checkpointer = Checkpointer(out / "checkpoints", every_iterations=1)
    four = algo.learn_state(
        env,
        policy,
        total,
        key=key,
        callback=stats,
        checkpointer=checkpointer,
        mesh=mesh,
    )
    for i, (a, b) in enumerate(
        zip(arrays(one.policy), arrays(four.policy), strict=True)
    ):
        results[f"one_{i}"], results[f"four_{i}"] = a, b
    results["four_returns"] = np.asarray(four.callback_state.mean_return)
    results["one_returns"] = np.asarray(one.callback_state.mean_return)
    observation = four.step_state.observation
    facts["step_state_spec"] = str(observation.sharding.spec)
    facts["step_state_devices"] = len(observation.sharding.device_set)
    facts["step_state_shard_shapes"] = sorted(
        {tuple(s.data.shape) for s in observation.addressable_shards}
    )
    weight = jax.tree.leaves(eqx.filter(four.policy, eqx.is_array))[0]
    facts["policy_fully_replicated"] = bool(weight.sharding.is_fully_replicated)
    facts["checkpoint_steps"] = checkpointer.steps()

    # The rollout buffer inside the program: one iteration's collect and train,
    # compiled with the same constraints `learn(mesh=)` uses.
    state = algo.reset(env, policy, key=key, callback=EpisodeStatisticsCallback())

    def one_iteration(state):
        with tracing_on(mesh):
            step_state, buffer = algo.collect_rollout(
                state.env,
                state.policy,
                state.step_state,
                EpisodeStatisticsCallback(),
                jax.random.key(2),
            )
            buffer = algo.post_collect(
                state.env, state.policy, step_state, buffer, key=jax.random.key(3)
            )
            policy, _, _ = algo.train(
                state.policy, state.opt_state, buffer, key=jax.random.key(4)
            )
        return buffer, policy

    compiled = eqx.filter_jit(one_iteration).lower(state).compile()
    buffer, _ = compiled(state)
    facts["buffer_spec"] = str(buffer.observations.sharding.spec)
    facts["buffer_devices"] = len(buffer.observations.sharding.device_set)
    facts["buffer_shard_shapes"] = sorted(
        {tuple(s.data.shape) for s in buffer.observations.addressable_shards}
    )
    facts["all_reduce_in_program"] = "all-reduce" in compiled.compiled.as_text()

    # A sweep over four learning rates, on four devices, one seed.
    keys = jax.random.split(jax.random.key(5), 1)
    swept = sweep(algo, env, policy, total, {"learning_rate": RATES}, keys, mesh=mesh)
    learn_key = jax.random.split(keys[0])[1]
    for c, rate in enumerate(RATES):
        alone = PPO(
            num_envs=NUM_ENVS,
            num_steps=NUM_STEPS,
            num_epochs=2,
            num_batches=2,
            learning_rate=rate,
        ).learn_state(env, policy, total, key=learn_key, callback=stats)
        member = jax.tree.map(
            lambda x, c=c: x[c, 0], eqx.filter(swept.state, eqx.is_array)
        )
        for i, (a, b) in enumerate(
            zip(arrays(alone.policy), arrays(member.policy), strict=True)
        ):
            results[f"alone_{c}_{i}"], results[f"member_{c}_{i}"] = a, b
    facts["num_policy_leaves"] = len(arrays(policy))
    facts["rates"] = RATES

    # Watching a sharded run: host callbacks are unordered on several devices.
    logger = LoggingCallback([CSVBackend(out / "sharded.csv")])
    jax.block_until_ready(
        algo.learn(env, policy, total, key=key, callback=[logger], mesh=mesh)
    )
    jax.effects_barrier()  # unordered host callbacks may still be running
    logger.close()
    facts["sharded_csv_lines"] = len((out / "sharded.csv").read_text().splitlines())
    facts["num_iterations"] = total // (NUM_ENVS * NUM_STEPS)

    # A mesh that does not divide num_envs fails before compiling.
    try:
        PPO(num_envs=6, num_steps=4, num_epochs=1, num_batches=1).learn(
            env, policy, 24, key=key, mesh=mesh
        )
    except ValueError as error:
        facts["indivisible_error"] = str(error)

    # IPPO with one parameter set per agent: four devices like one.
    from test_multi_agent import Rendezvous

    team_env = AgentBatchEnv(Rendezvous())
    team = PerAgentPolicy(
        [
            MLPActorCriticPolicy(team_env, key=k, width_size=8)
            for k in jax.random.split(key, 3)
        ]
    )
    ippo = IPPO(num_envs=4, num_steps=4, num_epochs=2, num_batches=2)
    one_team = ippo.learn(team_env, team, 32, key=key)
    four_team = ippo.learn(team_env, team, 32, key=key, mesh=mesh)
    for i, (a, b) in enumerate(zip(arrays(one_team), arrays(four_team), strict=True)):
        results[f"ippo_one_{i}"], results[f"ippo_four_{i}"] = a, b
    facts["ippo_leaves"] = len(arrays(team))

    np.savez(out / "results.npz", **results)
    (out / "results.json").write_text(json.dumps(facts))


if __name__ == "__main__":
    main()
