"""Write tests/fixtures/ppo_objective_reference.npz: PPO parameters after seeded runs.

Run against commit 1539206, before policy objectives became modules (issue 22),
so tests/test_objectives.py can check that PPO's default objective (the
`ClippedSurrogate`) still trains to the same parameters: a continuous policy,
with the value clip and an entropy bonus on. Usage (a checkout of that commit
in OLD): `PYTHONPATH=OLD/src python tests/scripts/make_objective_reference.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import equinox as eqx
import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).parent.parent))

from helpers import PointEnv  # noqa: E402
from lerax.algorithm import PPO  # noqa: E402
from lerax.policy import MLPActorCriticPolicy  # noqa: E402

# name: (env factory, PPO keyword arguments)
RECIPES = {
    "point_clip03": (
        PointEnv,
        dict(
            num_envs=2,
            num_steps=16,
            num_epochs=2,
            num_batches=4,
            clip_coefficient=0.3,
            clip_value_loss=True,
            entropy_loss_coefficient=0.01,
        ),
    ),
}
TOTAL_TIMESTEPS = 96


def trained_leaves(name: str) -> list[np.ndarray]:
    """The trained policy's array leaves of one recipe."""
    make_env, kwargs = RECIPES[name]
    env = make_env()
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    trained = PPO(**kwargs).learn(env, policy, TOTAL_TIMESTEPS, key=jax.random.key(7))
    return [np.asarray(x) for x in jax.tree.leaves(eqx.filter(trained, eqx.is_array))]


if __name__ == "__main__":
    arrays = {
        f"{name}_{i}": leaf
        for name in RECIPES
        for i, leaf in enumerate(trained_leaves(name))
    }
    out = Path(__file__).parent.parent / "fixtures" / "ppo_objective_reference.npz"
    np.savez(out, **arrays)
    print(f"wrote {out} ({len(arrays)} arrays)")
