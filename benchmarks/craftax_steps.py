"""Craftax env steps/s: Craftax stepped directly vs lerax's reset schemes.

Every variant steps `--num-envs` Craftax-Classic-Symbolic envs (`jax.vmap`) for
`--num-steps` steps (`lax.scan`) with uniformly random actions, in one compiled
program, and resets finished episodes its own way:

- `craftax-autoreset`: Craftax's auto-resetting env (`auto_reset=True`), which
  generates a new world for every env on every step and keeps it where done;
- `craftax-no-reset`: Craftax's non-resetting env, never reset (the ceiling:
  no world generation at all, finished episodes keep stepping);
- `lerax-every-step`: the adapter reset the default way (`env.reset` for every
  env on every step, selected where done: what lerax's rollout does for an env
  whose `reset_scheme` is None);
- `lerax-where-done`: the adapter's declared scheme, `ResetWhereDone()`, through
  `lerax.env.auto_reset` as lerax's rollout calls it (worlds only on steps where
  some env finished);
- `lerax-pool`: the same with `reset_pool_size=--pool` (`--pool` worlds on such
  steps; all `num_envs` if more finished at once).

`--max-timesteps` shortens Craftax's episodes (default 10000) so resets happen
at a known rate; every env starts at a random point of its clock
(`timestep` uniform in `[0, max_timesteps)`), so episodes end at staggered
times as in a long training run, about `num_envs / max_timesteps` per step
(random play rarely dies in so few steps). Timed runs are interleaved (A B C D
E, A B C D E, ...) after one compile each; medians are reported.

python benchmarks/craftax_steps.py [--num-envs 64] [--num-steps 256]
    [--max-timesteps 100] [--pool 8] [--repeats 5] [--variants a,b] [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import time

import equinox as eqx
import jax
import jax.numpy as jnp
from _smoke import announce_smoke
from craftax.craftax_env import make_craftax_env_from_name

from lerax.compatibility.craftax import CraftaxToLeraxEnv
from lerax.env import auto_reset

NAME = "Craftax-Classic-Symbolic-v1"


def build(num_envs: int, num_steps: int, max_timesteps: int, pool: int) -> dict:
    auto = make_craftax_env_from_name(NAME, auto_reset=True)
    plain = make_craftax_env_from_name(NAME, auto_reset=False)
    params = auto.default_params.replace(max_timesteps=max_timesteps)
    env = CraftaxToLeraxEnv(NAME, max_timesteps=max_timesteps)
    pool_env = CraftaxToLeraxEnv(
        NAME, max_timesteps=max_timesteps, reset_pool_size=pool
    )
    num_actions = env.action_space.n

    def stagger(key: jax.Array, craftax_states):
        # Each env somewhere along its clock: episodes end at different steps.
        start = jax.random.randint(key, (num_envs,), 0, max_timesteps)
        return craftax_states.replace(
            timestep=start.astype(craftax_states.timestep.dtype)
        )

    def actions(key: jax.Array) -> jax.Array:
        return jax.random.randint(key, (num_envs,), 0, num_actions)

    def craftax(raw):
        @jax.jit
        def run(key):
            keys = jax.random.split(key, num_envs)
            _, states = jax.vmap(lambda k: raw.reset(k, params))(keys)
            states = stagger(key, states)

            def body(carry, key):
                states, ended = carry
                act_key, step_key = jax.random.split(key)
                step_keys = jax.random.split(step_key, num_envs)
                _, states, _, done, _ = jax.vmap(
                    lambda k, s, a: raw.step(k, s, a, params)
                )(step_keys, states, actions(act_key))
                return (states, ended + jnp.sum(done)), None

            keys = jax.random.split(key, num_steps)
            (_, ended), _ = jax.lax.scan(body, (states, jnp.int32(0)), keys)
            return ended

        return run

    def lerax(mode: str):
        adapter = pool_env if mode == "pool" else env

        @jax.jit
        def run(key):
            keys = jax.random.split(key, num_envs)
            states, obs, _ = jax.vmap(lambda k: adapter.reset(key=k))(keys)
            states = eqx.tree_at(
                lambda s: s.craftax_state, states, stagger(key, states.craftax_state)
            )

            def body(carry, key):
                states, obs, ended = carry
                act_key, step_key, reset_key = jax.random.split(key, 3)
                step_keys = jax.random.split(step_key, num_envs)
                reset_keys = jax.random.split(reset_key, num_envs)
                states, obs, _, terminated, truncated, _ = jax.vmap(
                    lambda s, a, k: adapter.step(s, a, key=k)
                )(states, actions(act_key), step_keys)
                done = terminated | truncated
                if mode == "every-step":
                    fresh, fresh_obs, _ = jax.vmap(lambda k: adapter.reset(key=k))(
                        reset_keys
                    )

                    def pick(new, old):
                        where = done.reshape(done.shape + (1,) * (old.ndim - 1))
                        return jnp.where(where, new, old)

                    states = jax.tree.map(pick, fresh, states)
                    obs = pick(fresh_obs, obs)
                else:
                    # What lerax's rollout does: `auto_reset` per env, vmapped.
                    states, obs = jax.vmap(
                        lambda s, o, d, k: auto_reset(adapter, s, o, d, key=k)
                    )(states, obs, done, reset_keys)
                return (states, obs, ended + jnp.sum(done)), None

            keys = jax.random.split(key, num_steps)
            (_, _, ended), _ = jax.lax.scan(body, (states, obs, jnp.int32(0)), keys)
            return ended

        return run

    return {
        "craftax-autoreset": craftax(auto),
        "craftax-no-reset": craftax(plain),
        "lerax-every-step": lerax("every-step"),
        "lerax-where-done": lerax("where-done"),
        "lerax-pool": lerax("pool"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--num-steps", type=int, default=256)
    parser.add_argument("--max-timesteps", type=int, default=100)
    parser.add_argument("--pool", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--variants",
        default=None,
        help="comma-separated subset of the variants (default: all)",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny budget (CI)")
    args = parser.parse_args()
    if args.smoke:
        announce_smoke()
        args.num_envs, args.num_steps, args.max_timesteps = 4, 8, 3
        args.pool, args.repeats = 2, 1
    variants = build(args.num_envs, args.num_steps, args.max_timesteps, args.pool)
    if args.variants is not None:
        chosen = args.variants.split(",")
        unknown = sorted(set(chosen) - set(variants))
        if unknown:
            raise SystemExit(f"unknown variant(s) {unknown}; known: {list(variants)}")
        variants = {name: variants[name] for name in chosen}
    steps = args.num_envs * args.num_steps
    ended: dict[str, int] = {}
    for name, run in variants.items():  # compile
        start = time.perf_counter()
        ended[name] = int(run(jax.random.key(0)))
        print(f"{name}: compiled in {time.perf_counter() - start:.0f} s", flush=True)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for repeat in range(args.repeats):
        for name, run in variants.items():
            start = time.perf_counter()
            jax.block_until_ready(run(jax.random.key(repeat + 1)))
            times[name].append(time.perf_counter() - start)
        print(f"repeat {repeat + 1}: {times}", flush=True)
    print(
        f"{NAME}: {args.num_envs} envs x {args.num_steps} steps, "
        f"max_timesteps={args.max_timesteps}, pool={args.pool}, "
        f"{args.repeats} interleaved repeats, median"
    )
    print("| variant | env steps/s | episodes ended (first run) |")
    print("| --- | --- | --- |")
    for name, ts in times.items():
        rate = steps / statistics.median(ts)
        print(f"| {name} | {rate:,.0f} | {ended[name]} |")
        if not rate > 0:
            raise SystemExit(f"{name}: no throughput measured")


if __name__ == "__main__":
    main()
