"""What PPO's minibatch update costs, and what two of its speed paths are worth.

Times `PPO().train` (one iteration's learning: 16 epochs of 32 minibatch updates
of 64 samples at the defaults) on a fixed CartPole buffer of 512 steps x 4 envs,
scanned over several iterations in one program, and reports microseconds per
minibatch update for four variants, interleaved A B C D so machine noise
cancels:

- `lerax`: as shipped;
- `sort-shuffle`: the epoch's permutation by `jax.random.permutation` (two
  comparison sorts) instead of lerax's sorting-free keyed bijection;
- `vmap-evaluation`: the loss evaluates the policy with `jax.vmap` of
  `evaluate_action` instead of the batch-wide `evaluate_actions`;
- `both`: the two together (lerax before the speed work of issue 11, except
  for the flat parameter vector, which has no switch).

It also times the two permutations alone. The variants are made by patching
two module attributes inside this script only.

python benchmarks/update_step.py [--iterations 8] [--repeats 3] [--smoke]
"""

from __future__ import annotations

import argparse
import contextlib
import time

import equinox as eqx
import jax
import jax.numpy as jnp
from _smoke import announce_smoke

import lerax.buffer._rollout as rollout_module
from lerax.algorithm import PPO, filter_scan
from lerax.buffer import RolloutBuffer
from lerax.buffer._shuffle import random_permutation
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.policy import AbstractActorCriticPolicy, MLPActorCriticPolicy

SIZE = 2048


def _sort_permutation(key, n):
    return jax.random.permutation(key, n)


@contextlib.contextmanager
def _variant(name: str):
    saved_permutation = rollout_module.random_permutation
    saved_evaluate = MLPActorCriticPolicy.evaluate_actions
    try:
        if name in ("sort-shuffle", "both"):
            rollout_module.random_permutation = _sort_permutation
        if name in ("vmap-evaluation", "both"):
            MLPActorCriticPolicy.evaluate_actions = (
                AbstractActorCriticPolicy.evaluate_actions
            )
        yield
    finally:
        rollout_module.random_permutation = saved_permutation
        MLPActorCriticPolicy.evaluate_actions = saved_evaluate


def _buffer(policy, num_steps: int, num_envs: int) -> RolloutBuffer:
    shape = (num_steps, num_envs)
    keys = jax.random.split(jax.random.key(1), 6)
    states = jax.vmap(jax.vmap(lambda k: policy.reset(key=k)))(
        jax.random.split(keys[0], shape)
    )
    observations = jax.random.normal(keys[1], (*shape, 4))
    return RolloutBuffer(
        observations=observations,
        actions=jax.random.randint(keys[2], shape, 0, 2),
        rewards=jnp.ones(shape),
        terminations=jnp.zeros(shape, bool),
        truncations=jnp.zeros(shape, bool),
        log_probs=jnp.full(shape, -0.69),
        values=jax.random.normal(keys[3], shape),
        policy_states=states,
        next_observations=observations,
        next_policy_states=states,
        action_masks=None,
        advantages=jax.random.normal(keys[4], shape),
        returns=jax.random.normal(keys[5], shape),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny run (CI)")
    args = parser.parse_args()
    if args.smoke:
        announce_smoke()
    iterations, repeats = (1, 1) if args.smoke else (args.iterations, args.repeats)

    env = GymnaxToLeraxEnv.from_name("CartPole-v1")
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    algorithm = PPO()
    opt_state = algorithm.optimizer.init(eqx.filter(policy, eqx.is_inexact_array))
    buffer = _buffer(policy, algorithm.num_steps, algorithm.num_envs)
    updates = iterations * algorithm.num_epochs * algorithm.num_batches

    def build(name: str):
        with _variant(name):

            def epochs_scan(policy, opt_state, key):
                def body(carry, iteration_key):
                    policy, opt_state = carry
                    policy, opt_state, log = algorithm.train(
                        policy, opt_state, buffer, key=iteration_key
                    )
                    return (policy, opt_state), log["total_loss"]

                return filter_scan(
                    body, (policy, opt_state), jax.random.split(key, iterations)
                )

            return (
                eqx.filter_jit(epochs_scan)
                .lower(policy, opt_state, jax.random.key(0))
                .compile()
            )

    names = ("lerax", "sort-shuffle", "vmap-evaluation", "both")
    compiled = {name: build(name) for name in names}
    for fn in compiled.values():
        jax.block_until_ready(fn(policy, opt_state, jax.random.key(0)))
    times: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(repeats):
        for name, fn in compiled.items():
            start = time.perf_counter()
            jax.block_until_ready(fn(policy, opt_state, jax.random.key(repeat + 1)))
            times[name].append(time.perf_counter() - start)
    print(
        f"PPO defaults, {iterations} iterations = {updates} minibatch updates of "
        f"64 samples, min of {repeats}:"
    )
    for name in names:
        print(f"  {name:16s} {min(times[name]) / updates * 1e6:6.1f} us per update")

    def per_call(fn, calls: int) -> float:
        many = jax.jit(
            lambda key: jax.lax.scan(
                lambda c, k: (c + (fn(k, SIZE) * jnp.arange(SIZE)).sum(), None),
                0,
                jax.random.split(key, calls),
            )[0]
        )
        jax.block_until_ready(many(jax.random.key(0)))
        start = time.perf_counter()
        jax.block_until_ready(many(jax.random.key(1)))
        return (time.perf_counter() - start) / calls * 1e6

    calls = 4 if args.smoke else 400
    print(f"A permutation of {SIZE} entries (one per epoch):")
    print(f"  jax.random.permutation   {per_call(_sort_permutation, calls):7.1f} us")
    print(f"  lerax random_permutation {per_call(random_permutation, calls):7.1f} us")


if __name__ == "__main__":
    main()
