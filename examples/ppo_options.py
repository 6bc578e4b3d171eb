"""PPO with the options practitioners switch on, then a recurrent policy.

Trains Pendulum-v1 with observation normalization (saved with the policy),
reward scaling, a KL stop, linear learning-rate annealing and Adam's epsilon at
1e-5; saves, reloads and evaluates it. Then trains a GRU policy on gymnax's
MemoryChain-bsuite, a task that needs memory.

    python examples/ppo_options.py            # full budgets (minutes)
    python examples/ppo_options.py --quick    # tiny budgets (also LERAX_QUICK=1)
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import jax
import numpy as np

from lerax.algorithm import PPO
from lerax.callback import EpisodeStatisticsCallback
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.evaluation import evaluate_policy
from lerax.policy import GRUActorCriticPolicy, MLPActorCriticPolicy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budgets")
    args = parser.parse_args()
    quick = args.quick or os.environ.get("LERAX_QUICK") == "1"

    env = GymnaxToLeraxEnv.from_name("Pendulum-v1")
    policy = MLPActorCriticPolicy(
        env=env, key=jax.random.key(0), normalize_observations=True
    )
    ppo = PPO(
        num_envs=2 if quick else 4,
        num_steps=64 if quick else 512,
        num_epochs=2 if quick else 16,
        num_batches=4 if quick else 32,
        normalize_rewards=True,
        target_kl=0.05,
        anneal_learning_rate=True,
        adam_eps=1e-5,
    )
    state = ppo.learn_state(
        env,
        policy,
        2**9 if quick else 2**19,
        key=jax.random.key(1),
        callback=EpisodeStatisticsCallback(),
    )
    returns = np.asarray(state.callback_state.mean_return)
    stats = state.policy.observation_normalizer
    print(
        f"Pendulum: mean return of the last iterations {np.nanmean(returns[-5:]):.1f}; "
        f"observation mean {np.round(np.asarray(stats.mean), 2)} over "
        f"{int(stats.count)} observations"
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pendulum"
        state.policy.serialize(path)
        loaded = MLPActorCriticPolicy.deserialize(
            path, env=env, key=jax.random.key(0), normalize_observations=True
        )
        result = evaluate_policy(env, loaded, key=jax.random.key(2), num_episodes=8)
        print(
            f"reloaded (statistics included): return {float(result.returns.mean()):.1f}"
        )

    memory = GymnaxToLeraxEnv.from_name("MemoryChain-bsuite")
    gru = GRUActorCriticPolicy(env=memory, key=jax.random.key(0), hidden_size=32)
    recurrent_ppo = PPO(
        num_envs=8,
        num_steps=16 if quick else 48,
        num_epochs=1 if quick else 4,
        num_batches=2,
        learning_rate=3e-3,
    )
    gru = recurrent_ppo.learn(
        memory, gru, 2**8 if quick else 2**16, key=jax.random.key(3)
    )
    result = evaluate_policy(memory, gru, key=jax.random.key(4), num_episodes=64)
    print(
        f"MemoryChain-bsuite, GRU: mean return {float(result.returns.mean()):.2f} "
        "(chance 0, solved 1)"
    )


if __name__ == "__main__":
    main()
