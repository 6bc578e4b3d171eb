"""A curriculum on MountainCar: the goal moves up the hill as training goes on.

python examples/curriculum.py [--timesteps 131072] [--seeds 4]

The same PPO with and without a scheduled goal position (gymnax's
`EnvParams.goal_position`, an array leaf of the env), several seeds each as one
program (`jax.vmap` of `learn_with_curriculum`); both are evaluated at the full
goal at the end (the fraction of the final iterations' episodes that end before
the time limit).

`LERAX_QUICK=1` shrinks it to a few iterations.
"""

from __future__ import annotations

import argparse
import os

import jax
import jax.numpy as jnp
import numpy as np

from lerax.algorithm import PPO
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.policy import MLPActorCriticPolicy
from lerax.scale import ScheduledCurriculum, learn_with_curriculum

QUICK = os.environ.get("LERAX_QUICK") == "1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=4 * 1024 if QUICK else 2**17)
    parser.add_argument("--seeds", type=int, default=2 if QUICK else 4)
    args = parser.parse_args()

    env = GymnaxToLeraxEnv.from_name("MountainCar-v0")
    algo = PPO(num_envs=8, num_steps=128, num_epochs=4, num_batches=4)
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    keys = jax.random.split(jax.random.key(1), args.seeds)

    def goal(progress):
        # From halfway up to the usual goal (0.5) over the first 60% of training.
        return jnp.minimum(-0.3 + (0.8 / 0.6) * progress, 0.5)

    curricula = {
        "scheduled goal": ScheduledCurriculum(
            where=lambda e: e.params.goal_position, schedule=goal
        ),
        "fixed goal 0.5": ScheduledCurriculum(
            where=lambda e: e.params.goal_position, schedule=lambda p: 0.5 + 0.0 * p
        ),
    }
    for name, curriculum in curricula.items():
        runs = jax.vmap(
            lambda k, c=curriculum: learn_with_curriculum(
                algo, env, policy, args.timesteps, c, key=k
            )
        )(keys)
        returns = np.asarray(runs.state.callback_state.mean_return)
        tail = max(1, returns.shape[1] // 10)
        final = np.nanmean(returns[:, -tail:], axis=1)
        print(
            f"{name}: goal at the end {float(runs.parameters[0, -1]):.2f}; final "
            f"mean return per seed {np.round(final, 1).tolist()} (-200 = never "
            "reached)"
        )


if __name__ == "__main__":
    main()
