"""PPO with a convolutional policy on MinAtar Breakout (image observations).

Trains `CNNActorCriticPolicy` on gymnax's `Breakout-MinAtar` (10x10x4 images),
prints the learning curve, saves and reloads the policy, and compares its
return with a uniformly random policy's.

    python examples/minatar_cnn.py            # 2**17 steps (minutes on a CPU)
    python examples/minatar_cnn.py --quick    # tiny budget (also LERAX_QUICK=1)
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from lerax.algorithm import PPO
from lerax.callback import EpisodeStatisticsCallback
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.evaluation import evaluate_policy
from lerax.policy import CNNActorCriticPolicy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budget")
    args = parser.parse_args()
    quick = args.quick or os.environ.get("LERAX_QUICK") == "1"

    env = GymnaxToLeraxEnv.from_name("Breakout-MinAtar")
    policy = CNNActorCriticPolicy(env=env, key=jax.random.key(0))
    ppo = PPO(
        num_envs=2 if quick else 64,
        num_steps=16 if quick else 128,
        num_epochs=1 if quick else 4,
        num_batches=2 if quick else 8,
        learning_rate=1e-3,
        anneal_learning_rate=True,
        entropy_loss_coefficient=0.01,
        adam_eps=1e-5,
    )
    state = ppo.learn_state(
        env,
        policy,
        2**7 if quick else 2**17,
        key=jax.random.key(1),
        callback=EpisodeStatisticsCallback(),
    )
    curve = np.asarray(state.callback_state.mean_return)
    with np.errstate(all="ignore"):
        eighths = [np.nanmean(c) for c in np.array_split(curve, 8) if c.size]
    print("mean episode return by eighth of training:", np.round(eighths, 2))

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "breakout"
        state.policy.serialize(path)
        loaded = CNNActorCriticPolicy.deserialize(path, env=env, key=jax.random.key(0))

    # A uniformly random policy: the same network with a zero actor output.
    uniform = eqx.tree_at(
        lambda p: (p.actor.layers[-1].weight, p.actor.layers[-1].bias),
        loaded,
        (
            jnp.zeros_like(loaded.actor.layers[-1].weight),
            jnp.zeros_like(loaded.actor.layers[-1].bias),
        ),
    )
    episodes = 4 if quick else 64
    for name, p in (("trained (reloaded)", loaded), ("random", uniform)):
        result = evaluate_policy(
            env, p, key=jax.random.key(2), num_episodes=episodes, deterministic=False
        )
        print(f"{name}: mean return {float(result.returns.mean()):.2f}")


if __name__ == "__main__":
    main()
