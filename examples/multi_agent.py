"""IPPO and MAPPO on JaxMARL's MPE simple_spread, several seeds in one program.

Three agents must cover three landmarks without colliding. IPPO shares one
policy between the agents (each observation ends with the agent's one-hot id),
or gives each agent its own parameters (`PerAgentPolicy`, stacked and
vmapped); MAPPO's critic reads the global state (every agent's observation)
instead of the agent's own. Each trains 4 seeds at once (`jax.vmap` over
`learn`), then the first seed's team plays a few episodes
(`evaluate_team`: every agent's return and the team's) next to a random team.

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
from lerax.evaluation import evaluate_team
from lerax.policy import MLPActorCriticPolicy, MLPCentralCriticPolicy, PerAgentPolicy


def team_return(env, policy, key, episodes=16, steps=26):
    """Mean over episodes of the summed mean-agent reward (random if no policy).

    A random team has no policy to give `evaluate_team`, so it plays here.
    """

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
    for name in ("IPPO", "IPPO per-agent", "MAPPO"):
        env = AgentBatchEnv(simple_spread, central_critic=name == "MAPPO")
        if name == "MAPPO":
            algo = MAPPO(**settings)
            policy = MLPCentralCriticPolicy(env, key=jax.random.key(0))
        elif name == "IPPO":
            algo = IPPO(**settings)
            policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
        else:
            algo = IPPO(**settings)
            agent_keys = jax.random.split(jax.random.key(0), env.num_agents)
            policy = PerAgentPolicy(
                [MLPActorCriticPolicy(env, key=k) for k in agent_keys]
            )
        trained = eqx.filter_jit(
            jax.vmap(lambda k, a=algo, e=env, p=policy: a.learn(e, p, timesteps, key=k))
        )(keys)
        first = jax.tree.map(lambda x: x[0] if eqx.is_array(x) else x, trained)
        result = evaluate_team(
            env, first, key=jax.random.key(1), num_episodes=16, deterministic=False
        )
        agents = ", ".join(f"{r:.1f}" for r in result.agent_returns.mean(0))
        print(
            f"{name}: {timesteps:,} env steps x 4 seeds; seed 0's team return "
            f"{float(result.team_returns.mean()):.1f} (agents {agents}; random "
            f"team {team_return(env, None, jax.random.key(1)):.1f})"
        )


if __name__ == "__main__":
    main()
