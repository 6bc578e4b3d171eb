"""What the NaN/Inf guard costs: PPO with on_nonfinite="error" vs "ignore".

Times the public call users write, `PPO(...).learn(env, policy, T, key=k)`, at
PPO's defaults on CartPole-v1, interleaved A B A B so machine noise cancels in
the ratio (compile excluded: each variant is called once before timing).

python benchmarks/guard_overhead.py [--timesteps 131072] [--repeats 5] [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
from _smoke import announce_smoke

from lerax.algorithm import PPO
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.policy import MLPActorCriticPolicy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=2**17)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="tiny budget (CI)")
    args = parser.parse_args()
    if args.smoke:
        announce_smoke()
    timesteps, repeats = (2**12, 1) if args.smoke else (args.timesteps, args.repeats)

    env = GymnaxToLeraxEnv.from_name("CartPole-v1")
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    variants = {mode: PPO(on_nonfinite=mode) for mode in ("ignore", "error")}

    def run(mode: str, seed: int) -> float:
        start = time.perf_counter()
        out = variants[mode].learn(env, policy, timesteps, key=jax.random.key(seed))
        jax.block_until_ready(out)
        return time.perf_counter() - start

    for mode in variants:  # compile
        run(mode, 0)
    times: dict[str, list[float]] = {mode: [] for mode in variants}
    for repeat in range(repeats):
        for mode in variants:
            times[mode].append(run(mode, repeat + 1))
    ratios = [
        ignore / error
        for ignore, error in zip(times["ignore"], times["error"], strict=True)
    ]
    for mode, ts in times.items():
        rate = timesteps / statistics.median(ts)
        print(f"on_nonfinite={mode!r:9} median {rate:,.0f} env steps/s over {len(ts)}")
    print(
        "throughput with the guard / without: "
        f"median {statistics.median(ratios):.3f} "
        f"(pairs: {', '.join(f'{r:.3f}' for r in ratios)})"
    )


if __name__ == "__main__":
    main()
