"""Train PPO on every device of every host: one program over one global mesh.

Each host runs this same script (JAX is multi-controller: every process runs the
same program on its own devices, and XLA's collectives join them):

    # on a cluster JAX detects (SLURM, Cloud TPU, ...), on every host:
    python examples/multi_host.py
    # elsewhere, on host i of N (host 0 is the coordinator):
    python examples/multi_host.py --coordinator HOST0:1234 --num-processes N \\
        --process-id i

`jax.distributed.initialize()` connects the processes; afterwards
`jax.devices()` lists every device of every host, and a one-axis mesh over them
splits `num_envs` across all of them (each host steps the environments of its
own devices). The policy and optimizer state are replicated, so every host
ends with the same trained policy; process 0 saves it.

To try it on one machine: `python examples/multi_host.py --local 2` starts two
processes on localhost, each with 2 forced CPU devices (4 devices in all), and
checks that both end with the same policy. `LERAX_QUICK=1` shrinks the run
and, without `--coordinator`, makes that local test the default.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time

QUICK = os.environ.get("LERAX_QUICK") == "1"


def train(args: argparse.Namespace) -> None:
    import jax
    import numpy as np

    if args.coordinator is None:
        jax.distributed.initialize()  # cluster auto-detection
    else:
        jax.distributed.initialize(
            coordinator_address=args.coordinator,
            num_processes=args.num_processes,
            process_id=args.process_id,
        )

    import equinox as eqx

    from lerax.algorithm import PPO
    from lerax.callback import EpisodeStatisticsCallback
    from lerax.compatibility.gymnax import GymnaxToLeraxEnv
    from lerax.policy import MLPActorCriticPolicy

    me = jax.process_index()
    devices = jax.devices()  # global: every host's devices
    print(
        f"process {me}/{jax.process_count()}: {jax.local_device_count()} local of "
        f"{len(devices)} devices",
        flush=True,
    )
    mesh = jax.make_mesh((len(devices),), ("envs",))

    env = GymnaxToLeraxEnv.from_name("CartPole-v1")
    # Every process builds the same initial policy from the same key.
    policy_key, learn_key = jax.random.split(jax.random.key(args.seed))
    policy = MLPActorCriticPolicy(env=env, key=policy_key)
    num_envs = 4 * len(devices)  # must divide by the mesh size
    algo = PPO(num_envs=num_envs, num_steps=128, num_epochs=4, num_batches=4)
    timesteps = args.timesteps or (4 if QUICK else 64) * num_envs * 128

    start = time.perf_counter()
    state = algo.learn_state(
        env,
        policy,
        timesteps,
        key=learn_key,
        callback=EpisodeStatisticsCallback(),
        mesh=mesh,
    )
    # Replicated arrays (the policy, the records) are readable on every host;
    # the environments' state is split over hosts and stays where it is.
    params = [
        np.asarray(x) for x in jax.tree.leaves(eqx.filter(state.policy, eqx.is_array))
    ]
    returns = np.asarray(state.callback_state.mean_return)
    elapsed = time.perf_counter() - start
    checksum = float(sum(np.sum(np.abs(p)) for p in params))
    print(
        f"process {me}: {timesteps} steps in {elapsed:.1f} s (compile included); "
        f"last mean return {returns[-1]:.1f}; parameter checksum {checksum:.6f}",
        flush=True,
    )
    if me == 0 and args.save:
        state.policy.serialize(args.save)
        print(f"process 0 saved the policy to {args.save}", flush=True)
    jax.distributed.shutdown()


def local(count: int) -> None:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    )
    env["JAX_PLATFORMS"] = "cpu"
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--coordinator",
                f"localhost:{port}",
                "--num-processes",
                str(count),
                "--process-id",
                str(i),
            ],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(count)
    ]
    outputs = [p.communicate(timeout=900)[0] for p in processes]
    for output in outputs:
        print(output, end="")
    if any(p.returncode for p in processes):
        raise SystemExit("a process failed")
    checksums = {
        line.rsplit(" ", 1)[1]
        for o in outputs
        for line in o.splitlines()
        if "checksum" in line
    }
    if len(checksums) != 1:
        raise SystemExit(f"the processes ended with different policies: {checksums}")
    print(f"all {count} processes ended with the same policy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coordinator", help="HOST:PORT of process 0")
    parser.add_argument("--num-processes", type=int)
    parser.add_argument("--process-id", type=int)
    parser.add_argument("--timesteps", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", help="where process 0 saves the policy")
    parser.add_argument(
        "--local", type=int, metavar="N", help="start N local processes instead"
    )
    args = parser.parse_args()
    if args.local or (QUICK and args.coordinator is None):
        local(args.local or 2)  # CI's quick run: the two-process local test
    else:
        train(args)


if __name__ == "__main__":
    main()
