"""Craftax env steps/s: Craftax stepped directly vs `CraftaxToLeraxEnv`'s resets.

Every variant steps `--num-envs` Craftax-Classic-Symbolic envs (`jax.vmap`) for
`--num-steps` steps (`lax.scan`) with uniformly random actions, in one compiled
program, and resets finished episodes its own way:

- `craftax-autoreset`: Craftax's auto-resetting env (`auto_reset=True`), which
  generates a new world for every env on every step and keeps it where done;
- `craftax-no-reset`: Craftax's non-resetting env, never reset (the ceiling:
  no world generation at all, finished episodes keep stepping);
- `lerax-every-step`: the adapter reset as lerax's rollout does today
  (`env.reset` for every env on every step, selected where done);
- `lerax-where-done`: the adapter with `reset_where_done` (a batch of worlds
  only on steps where some env finished);
- `lerax-pool`: the adapter with `reset_where_done(pool_size=--pool)` (`--pool`
  worlds on such steps; all `num_envs` if more finished at once).

`--max-timesteps` shortens Craftax's episodes (default 10000) so resets happen
at a known rate. Timed runs are interleaved (A B C D E, A B C D E, ...) after one
compile each; medians are reported.

python benchmarks/craftax_steps.py [--num-envs 64] [--num-steps 256]
    [--max-timesteps 100] [--pool 8] [--repeats 5] [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
from _smoke import announce_smoke
from craftax.craftax_env import make_craftax_env_from_name

from lerax.compatibility.craftax import CraftaxToLeraxEnv

NAME = "Craftax-Classic-Symbolic-v1"


def build(num_envs: int, num_steps: int, max_timesteps: int, pool: int) -> dict:
    auto = make_craftax_env_from_name(NAME, auto_reset=True)
    plain = make_craftax_env_from_name(NAME, auto_reset=False)
    params = auto.default_params.replace(max_timesteps=max_timesteps)
    env = CraftaxToLeraxEnv(NAME, max_timesteps=max_timesteps)
    num_actions = env.action_space.n

    def actions(key: jax.Array) -> jax.Array:
        return jax.random.randint(key, (num_envs,), 0, num_actions)

    def craftax(raw):
        @jax.jit
        def run(key):
            keys = jax.random.split(key, num_envs)
            _, states = jax.vmap(lambda k: raw.reset(k, params))(keys)

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
        @jax.jit
        def run(key):
            keys = jax.random.split(key, num_envs)
            states, obs, _ = jax.vmap(lambda k: env.reset(key=k))(keys)

            def body(carry, key):
                states, obs, ended = carry
                act_key, step_key, reset_key = jax.random.split(key, 3)
                step_keys = jax.random.split(step_key, num_envs)
                states, obs, _, terminated, truncated, _ = jax.vmap(
                    lambda s, a, k: env.step(s, a, key=k)
                )(states, actions(act_key), step_keys)
                done = terminated | truncated
                if mode == "every-step":
                    fresh, fresh_obs, _ = jax.vmap(lambda k: env.reset(key=k))(
                        jax.random.split(reset_key, num_envs)
                    )

                    def pick(new, old):
                        where = done.reshape(done.shape + (1,) * (old.ndim - 1))
                        return jnp.where(where, new, old)

                    states = jax.tree.map(pick, fresh, states)
                    obs = pick(fresh_obs, obs)
                else:
                    states, obs = env.reset_where_done(
                        states,
                        obs,
                        done,
                        key=reset_key,
                        pool_size=pool if mode == "pool" else None,
                    )
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
    parser.add_argument("--smoke", action="store_true", help="tiny budget (CI)")
    args = parser.parse_args()
    if args.smoke:
        announce_smoke()
        args.num_envs, args.num_steps, args.max_timesteps = 4, 8, 3
        args.pool, args.repeats = 2, 1
    variants = build(args.num_envs, args.num_steps, args.max_timesteps, args.pool)
    steps = args.num_envs * args.num_steps
    ended: dict[str, int] = {}
    for name, run in variants.items():  # compile
        ended[name] = int(run(jax.random.key(0)))
    times: dict[str, list[float]] = {name: [] for name in variants}
    for repeat in range(args.repeats):
        for name, run in variants.items():
            start = time.perf_counter()
            jax.block_until_ready(run(jax.random.key(repeat + 1)))
            times[name].append(time.perf_counter() - start)
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
