"""IPPO and MAPPO on JaxMARL's MPE simple_spread, several seeds in one program.

Three agents must cover three landmarks without colliding. IPPO shares one
policy between the agents (each observation ends with the agent's one-hot id);
MAPPO's critic reads the global state (every agent's observation) instead of
the agent's own. Both train 4 seeds at once (`jax.vmap` over `learn`), then
the first seed's policy plays a few episodes next to a random team.

python examples/multi_agent.py [--timesteps 102400]
(LERAX_QUICK=1, or --quick, uses a tiny budget: what CI runs.)
"""

from __future__ import annotations

import argparse
import os

import equinox as eqx
import jax
import jax.numpy as jnp

from lerax.algorithm import IPPO, MAPPO
from lerax.compatibility.jaxmarl import JaxMARLToLeraxEnv
from lerax.env import AgentBatchEnv
from lerax.policy import MLPActorCriticPolicy, MLPCentralCriticPolicy


def team_return(env, policy, key, episodes=16, steps=26):
    """Mean over episodes of the summed mean-agent reward (random if no policy)."""

    def episode(key):
        state, observation, _ = env.reset(key=key)

        def body(carry, key):
            state, observation, total = carry
            keys = jax.random.split(key, env.num_agents + 1)
            if policy is None:
                action = jax.vmap(lambda k: env.action_space.sample(key=k))(keys[1:])
            else:
                _, action = jax.vmap(lambda o, k: policy(None, o, key=k))(
                    observation, keys[1:]
                )
            state, observation, rewards, _, _ = env.agent_step(
                state, action, key=keys[0]
            )
            return (state, observation, total + rewards.mean()), None

        (_, _, total), _ = jax.lax.scan(
            body, (state, observation, jnp.float32(0)), jax.random.split(key, steps)
        )
        return total

    return float(jnp.mean(jax.vmap(episode)(jax.random.split(key, episodes))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=50 * 16 * 128)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    quick = args.quick or os.environ.get("LERAX_QUICK") == "1"
    num_envs, num_steps = (2, 16) if quick else (16, 128)
    timesteps = 2 * num_envs * num_steps if quick else args.timesteps

    simple_spread = JaxMARLToLeraxEnv.from_name("MPE_simple_spread_v3")
    settings = dict(
        num_envs=num_envs,
        num_steps=num_steps,
        num_epochs=4,
        num_batches=4,
        learning_rate=2.5e-4,
        anneal_learning_rate=True,
        entropy_loss_coefficient=0.01,
    )
    keys = jax.random.split(jax.random.key(0), 4)
    for name, central_critic in (("IPPO", False), ("MAPPO", True)):
        env = AgentBatchEnv(simple_spread, central_critic=central_critic)
        if central_critic:
            algo = MAPPO(**settings)
            policy = MLPCentralCriticPolicy(env, key=jax.random.key(0))
        else:
            algo = IPPO(**settings)
            policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
        trained = eqx.filter_jit(
            jax.vmap(lambda k, a=algo, e=env, p=policy: a.learn(e, p, timesteps, key=k))
        )(keys)
        first = jax.tree.map(lambda x: x[0] if eqx.is_array(x) else x, trained)
        print(
            f"{name}: {timesteps:,} env steps x 4 seeds; seed 0's team return "
            f"{team_return(env, first, jax.random.key(1)):.1f} "
            f"(random team {team_return(env, None, jax.random.key(1)):.1f})"
        )


if __name__ == "__main__":
    main()
