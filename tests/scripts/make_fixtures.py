"""Write the saved-file fixtures of tests/test_saved_files.py (not collected by pytest).

Usage: python tests/scripts/make_fixtures.py [OUT_DIRECTORY]

Run once, with the release whose files must keep loading (written at commit
16efd8e, before the core reshape of issue 21). Writes, into `tests/fixtures/`:

- one `serialize`d policy of each built-in class (`<name>.eqx`), with
  `<name>.npz` holding what it did on fixed inputs at save time (action, value,
  log-probability and entropy for a few observations) so a test can check that
  the loaded policy acts the same;
- `checkpoint/`: the checkpoint directory of a short PPO run on the chain env,
  cut back to its iteration-2 checkpoint, with `checkpoint_final.npz`, the final
  state's arrays of the uninterrupted run, so resuming from it can be checked
  bit for bit.
"""

import shutil
import sys
from pathlib import Path

import equinox as eqx
import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers import ChainEnv, PixelEnv, PointEnv  # noqa: E402
from lerax.algorithm import PPO  # noqa: E402
from lerax.checkpoint import Checkpointer  # noqa: E402
from lerax.policy import (  # noqa: E402
    CNNActorCriticPolicy,
    GRUActorCriticPolicy,
    LSTMActorCriticPolicy,
    MLPActorCriticPolicy,
)

# name -> (class, env factory, constructor kwargs). tests/test_saved_files.py
# repeats these recipes: the skeleton must be built with the same arguments.
RECIPES = {
    "mlp_discrete": (MLPActorCriticPolicy, ChainEnv, {"width_size": 8, "depth": 1}),
    "mlp_continuous": (
        MLPActorCriticPolicy,
        PointEnv,
        {"width_size": 8, "depth": 2, "normalize_observations": True},
    ),
    "cnn": (CNNActorCriticPolicy, PixelEnv, {"channels": (4,), "hidden_sizes": (8,)}),
    "gru": (GRUActorCriticPolicy, ChainEnv, {"hidden_size": 8, "encoder_sizes": (8,)}),
    "lstm": (
        LSTMActorCriticPolicy,
        PointEnv,
        {"hidden_size": 8, "encoder_sizes": (8,)},
    ),
}

CHECKPOINT_ALGO = dict(num_envs=2, num_steps=8, num_epochs=2, num_batches=2)
CHECKPOINT_ITERATIONS = 4


def behaviour(policy, env) -> dict[str, np.ndarray]:
    """What the policy does on four fixed observations, carrying its state."""
    keys = jax.random.split(jax.random.key(5), 4)
    obs = [env.observation_space.sample(key=k) for k in keys]
    state = policy.reset(key=jax.random.key(6))
    out: dict[str, list] = {"action": [], "value": [], "log_prob": [], "greedy": []}
    for i, o in enumerate(obs):
        _, greedy = policy(state, o)
        _, action, value, log_prob = policy.action_and_value(
            state, o, key=jax.random.key(10 + i)
        )
        state, _ = policy(state, o)
        out["action"].append(np.asarray(action))
        out["value"].append(np.asarray(value))
        out["log_prob"].append(np.asarray(log_prob))
        out["greedy"].append(np.asarray(greedy))
    result = {k: np.stack(v) for k, v in out.items()}
    result["observations"] = np.stack([np.asarray(o) for o in obs])
    return result


def leaves(tree) -> list[np.ndarray]:
    def raw(x):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x = jax.random.key_data(x)
        return np.asarray(x)

    return [raw(x) for x in jax.tree.leaves(eqx.filter(tree, eqx.is_array))]


def main() -> None:
    default = Path(__file__).parents[1] / "fixtures"
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    out.mkdir(parents=True, exist_ok=True)
    for name, (cls, make_env, kwargs) in RECIPES.items():
        env = make_env()
        policy = cls(env, key=jax.random.key(0), **kwargs)
        # Non-initial values everywhere, so a leaf loaded into the wrong place shows.
        arrays, static = eqx.partition(policy, eqx.is_inexact_array)
        flat = jax.tree.leaves(arrays)
        keys = jax.random.split(jax.random.key(1), len(flat))
        arrays = jax.tree.unflatten(
            jax.tree.structure(arrays),
            [
                x + 0.05 * jax.random.normal(k, x.shape, x.dtype)
                for x, k in zip(flat, keys, strict=True)
            ],
        )
        policy = eqx.combine(arrays, static)
        policy.serialize(out / f"{name}.eqx")
        np.savez(out / f"{name}.npz", **behaviour(policy, env))

    env = ChainEnv()
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    algo = PPO(**CHECKPOINT_ALGO)
    steps = CHECKPOINT_ITERATIONS * algo.num_envs * algo.num_steps
    directory = out / "checkpoint"
    shutil.rmtree(directory, ignore_errors=True)
    state = algo.learn_state(
        env,
        policy,
        steps,
        key=jax.random.key(1),
        checkpointer=Checkpointer(directory, every_iterations=1, keep=10),
    )
    np.savez(out / "checkpoint_final.npz", *leaves(state))
    for step in range(3, CHECKPOINT_ITERATIONS + 1):
        shutil.rmtree(directory / str(step))


if __name__ == "__main__":
    main()
