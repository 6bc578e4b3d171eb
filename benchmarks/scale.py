"""Throughput of many seeds (`lerax.train_seeds`) and of many devices (`mesh=`).

Two measurements on CartPole-v1 with PureJaxRL's PPO settings (4 envs x 128
steps, 4 epochs of 4 minibatches per seed; constant learning rate 2.5e-4):

- seeds: 1, 8 and 32 seeds vmapped in one program on the default device;
  environment steps per second summed over seeds.
- devices: one PPO run with `--envs` environments sharded over a one-axis mesh
  of 1, 2 and 4 devices. Each device count runs in its own subprocess with
  `XLA_FLAGS=--xla_force_host_platform_device_count=N`; on CPU the forced
  devices share the machine's cores, so this checks correctness and overhead
  of the sharded program, not a speed-up.

Compile is excluded (each program runs once before `--repeats` timed runs; the
median is reported); building the seeds' initial policies is timed apart.

python benchmarks/scale.py [--smoke] [--only seeds|devices]
    [--seeds 1,8,32] [--timesteps 65536] [--devices 1,2,4] [--envs 16]

PureJaxRL's headline (2,048 CartPole agents x 5e5 steps, ~98 s on one A100) with
lerax, on a GPU:

python benchmarks/scale.py --only seeds --seeds 2048 --timesteps 500000 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import jax
import numpy as np
from _smoke import announce_smoke

import lerax
from lerax.algorithm import PPO
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.policy import MLPActorCriticPolicy

PUREJAXRL = dict(num_envs=4, num_steps=128, num_epochs=4, num_batches=4)


def timed(fn, repeats: int) -> tuple[float, float]:
    """(first call incl. compile, median of `repeats` later calls), in seconds."""
    start = time.perf_counter()
    jax.block_until_ready(fn(0))
    first = time.perf_counter() - start
    times = []
    for r in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(r + 1))
        times.append(time.perf_counter() - start)
    return first, statistics.median(times)


def seeds_rows(counts: list[int], timesteps: int, repeats: int) -> list[dict]:
    env = GymnaxToLeraxEnv.from_name("CartPole-v1")
    algo = PPO(**PUREJAXRL, learning_rate=2.5e-4)
    rows = []
    for count in counts:
        keys = jax.random.split(jax.random.key(0), count)
        start = time.perf_counter()
        policies = [MLPActorCriticPolicy(env=env, key=k) for k in keys]
        init_s = time.perf_counter() - start

        def run(seed, keys=keys, policies=policies):
            shifted = jax.vmap(jax.random.fold_in, in_axes=(0, None))(keys, seed)
            return lerax.train_seeds(algo, env, policies, timesteps, shifted).policy

        first, median = timed(run, repeats)
        rows.append(
            dict(
                seeds=count,
                steps=count * timesteps,
                init_s=init_s,
                first_s=first,
                median_s=median,
                steps_per_s=count * timesteps / median,
            )
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def device_row(devices: int, envs: int, timesteps: int, repeats: int) -> dict:
    """One device count (this process must see exactly `devices` devices)."""
    assert jax.device_count() == devices, jax.devices()
    env = GymnaxToLeraxEnv.from_name("CartPole-v1")
    algo = PPO(num_envs=envs, num_steps=128, num_epochs=4, num_batches=4)
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    mesh = jax.make_mesh((devices,), ("envs",))

    def run(seed):
        return algo.learn(env, policy, timesteps, key=jax.random.key(seed), mesh=mesh)

    first, median = timed(run, repeats)
    final = run(0)
    checksum = float(
        sum(
            np.abs(np.asarray(x)).sum()
            for x in jax.tree.leaves(final)
            if hasattr(x, "shape")
        )
    )
    return dict(
        devices=devices,
        envs=envs,
        steps=timesteps,
        first_s=first,
        median_s=median,
        steps_per_s=timesteps / median,
        checksum=checksum,
    )


def devices_rows(counts: list[int], envs: int, timesteps: int, repeats: int):
    rows = []
    for count in counts:
        environment = dict(os.environ)
        environment["XLA_FLAGS"] = (
            environment.get("XLA_FLAGS", "")
            + f" --xla_force_host_platform_device_count={count}"
        )
        environment["JAX_PLATFORMS"] = "cpu"
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--device-child",
                str(count),
                "--envs",
                str(envs),
                "--timesteps",
                str(timesteps),
                "--repeats",
                str(repeats),
            ],
            env=environment,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny budgets (CI)")
    parser.add_argument("--only", choices=["seeds", "devices"])
    parser.add_argument("--seeds", default="1,8,32")
    parser.add_argument("--timesteps", type=int, default=0)
    parser.add_argument("--devices", default="1,2,4")
    parser.add_argument("--envs", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        announce_smoke()

    if args.device_child:
        row = device_row(args.device_child, args.envs, args.timesteps, args.repeats)
        print(json.dumps(row))
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    devices = [int(d) for d in args.devices.split(",")]
    repeats = args.repeats
    seed_steps = args.timesteps or 2**15
    device_steps = args.timesteps or 2**16
    if args.smoke:
        seeds, devices, repeats = [1, 2], [1, 2], 1
        seed_steps, device_steps = 1024, 2 * args.envs * 128
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}", flush=True)
    if args.only in (None, "seeds"):
        rows = seeds_rows(seeds, seed_steps, repeats)
        base = rows[0]["steps_per_s"]
        for row in rows:
            print(
                f"| {row['seeds']} | {row['steps']:,} | {row['first_s']:.1f} | "
                f"{row['median_s']:.2f} | {row['steps_per_s']:,.0f} | "
                f"{row['steps_per_s'] / base:.2f} |"
            )
    if args.only in (None, "devices"):
        rows = devices_rows(devices, args.envs, device_steps, repeats)
        base = rows[0]
        for row in rows:
            print(
                f"| {row['devices']} | {row['envs']} | {row['steps']:,} | "
                f"{row['first_s']:.1f} | {row['median_s']:.2f} | "
                f"{row['steps_per_s']:,.0f} | "
                f"{row['steps_per_s'] / base['steps_per_s']:.2f} | "
                f"{abs(row['checksum'] - base['checksum']):.1e} |"
            )
    if args.smoke:
        print("smoke ok")


if __name__ == "__main__":
    main()
