"""Train a policy, export it (jax.export and ONNX), and serve it without lerax.

python examples/export_and_serve.py [--timesteps 131072] [--seed 0]

The policy is trained with PPO on gymnax's CartPole, written to a
`.jaxexport` file, then a separate Python process that imports only JAX and
NumPy (never lerax) loads it with `jax.export.deserialize` and plays CartPole
episodes with it, computing the dynamics in NumPy. With the `onnx` extra
installed (`pip install 'lerax[onnx]'`), the policy is also written as an ONNX
file and played by a process that imports only onnxruntime and NumPy (not even
JAX); without it, that part is skipped with a note. `LERAX_QUICK=1` (or
`--quick`) trains for a tiny budget, to check that it works.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import jax
import numpy as np

from lerax.algorithm import PPO
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.export import export_onnx, export_policy, load_policy
from lerax.policy import MLPActorCriticPolicy

# The serving processes load the policy (JAX and NumPy only, or onnxruntime
# and NumPy only) and play CartPole: its dynamics (Barto et al., as in
# Gymnasium) in NumPy, driven by the exported policy.
JAX_LOADER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from jax import export

    with open(sys.argv[1], "rb") as f:
        exported = export.deserialize(bytearray(f.read()))

    def act(s):
        return int(exported.call(s[None])["action"][0])
    """
)
ONNX_LOADER = textwrap.dedent(
    """
    import sys
    import numpy as np
    import onnxruntime

    session = onnxruntime.InferenceSession(sys.argv[1])

    def act(s):
        return int(session.run(["action"], {"observation": s[None]})[0][0])
    """
)
PLAY = textwrap.dedent(
    """
    rng = np.random.default_rng(0)

    def step(s, a):
        x, x_dot, theta, theta_dot = s
        force = 10.0 if a == 1 else -10.0
        cos, sin = np.cos(theta), np.sin(theta)
        temp = (force + 0.05 * theta_dot**2 * sin) / 1.1
        theta_acc = (9.8 * sin - cos * temp) / (0.5 * (4 / 3 - 0.1 * cos**2 / 1.1))
        x_acc = temp - 0.05 * theta_acc * cos / 1.1
        x, x_dot = x + 0.02 * x_dot, x_dot + 0.02 * x_acc
        theta, theta_dot = theta + 0.02 * theta_dot, theta_dot + 0.02 * theta_acc
        return np.array([x, x_dot, theta, theta_dot], np.float32)

    returns = []
    for episode in range(int(sys.argv[2])):
        s = rng.uniform(-0.05, 0.05, 4).astype(np.float32)
        total = 0
        for t in range(500):
            action = act(s)
            s = step(s, action)
            total += 1
            if abs(s[0]) > 2.4 or abs(s[2]) > 12 * 2 * np.pi / 360:
                break
        returns.append(total)
    assert not any(m.startswith("lerax") for m in sys.modules)
    print(f"served by {sys.argv[3]} without lerax: returns {returns}")
    """
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=2**17)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    quick = args.quick or os.environ.get("LERAX_QUICK") == "1"

    env = GymnaxToLeraxEnv.from_name("CartPole-v1")
    policy_key, learn_key = jax.random.split(jax.random.key(args.seed))
    policy = MLPActorCriticPolicy(env=env, key=policy_key)
    if quick:
        algo, timesteps = PPO(num_steps=32, num_batches=4), 256
    else:
        algo, timesteps = PPO(), args.timesteps
    policy = algo.learn(env, policy, timesteps, key=learn_key)

    with tempfile.TemporaryDirectory() as folder:
        path = export_policy(policy, Path(folder) / "cartpole", include_value=True)
        print(f"exported to {path.name} ({path.stat().st_size} bytes)")

        # In this process: load_policy, batched and one observation at a time.
        served = load_policy(path)
        observations = np.zeros((3, 4), np.float32)
        print("load_policy, a batch of 3:", served(observations)["action"])
        print("load_policy, one:", served(observations[0]))

        # In a fresh process that never imports lerax.
        episodes = 2 if quick else 5
        subprocess.run(
            [sys.executable, "-c", JAX_LOADER + PLAY, str(path), str(episodes), "JAX"],
            check=True,
        )

        # ONNX, served by onnxruntime in a process without lerax or JAX.
        if importlib.util.find_spec("jax2onnx") is None:
            print("ONNX skipped: pip install 'lerax[onnx]' to export with jax2onnx")
            return
        onnx_path = export_onnx(policy, Path(folder) / "cartpole")
        print(f"exported to {onnx_path.name} ({onnx_path.stat().st_size} bytes)")
        if importlib.util.find_spec("onnxruntime") is None:
            print("ONNX serving skipped: onnxruntime is not installed")
            return
        script = ONNX_LOADER + PLAY + "assert 'jax' not in sys.modules\n"
        subprocess.run(
            [sys.executable, "-c", script, str(onnx_path), str(episodes), "ONNX"],
            check=True,
        )


if __name__ == "__main__":
    main()
