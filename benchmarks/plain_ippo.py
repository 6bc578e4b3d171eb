"""A plain single-file IPPO on JaxMARL's MPE (no lerax), for speed comparison.

    python benchmarks/plain_ippo.py --timesteps 204800   # one run, prints seconds

Written for `benchmarks/multi_agent.py --part speed`: the same algorithm and
settings as `lerax.algorithm.IPPO` at that benchmark's configuration, in the
PureJaxRL style (one `jax.jit` of the whole run). Parameters are shared by the
agents, each agent's observation ends with its one-hot id, and the agents are
folded into the environment batch before GAE. The episode flag is JaxMARL's
`dones["__all__"]`, treated as a termination (no bootstrap), and JaxMARL's
`step` resets finished environments itself. Actor and critic are separate
tanh MLPs (64 x 64), orthogonal initialisation (gains sqrt 2, 0.01, 1), Adam
(eps 1e-8) after global-norm clipping, learning rate annealed linearly per
minibatch update, clipped surrogate, advantages normalised per minibatch.
"""

from __future__ import annotations

import argparse
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jaxmarl
import numpy as np
import optax
from _smoke import announce_smoke


class Config(NamedTuple):
    num_envs: int = 16
    num_steps: int = 128
    num_epochs: int = 4
    num_batches: int = 4
    learning_rate: float = 2.5e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2
    entropy: float = 0.01
    value_coefficient: float = 0.5
    max_grad_norm: float = 0.5
    width: int = 64


def _dense(key, n_in, n_out, gain):
    weight = jax.nn.initializers.orthogonal(gain)(key, (n_in, n_out), jnp.float32)
    return {"w": weight, "b": jnp.zeros((n_out,), jnp.float32)}


def init_params(key, n_obs, n_actions, width):
    keys = jax.random.split(key, 6)
    root2 = float(np.sqrt(2.0))
    return {
        "actor": [
            _dense(keys[0], n_obs, width, root2),
            _dense(keys[1], width, width, root2),
            _dense(keys[2], width, n_actions, 0.01),
        ],
        "critic": [
            _dense(keys[3], n_obs, width, root2),
            _dense(keys[4], width, width, root2),
            _dense(keys[5], width, 1, 1.0),
        ],
    }


def _mlp(layers, x):
    for layer in layers[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return x @ layers[-1]["w"] + layers[-1]["b"]


def forward(params, obs):
    """Logits and value for a batch of observations."""
    return _mlp(params["actor"], obs), _mlp(params["critic"], obs)[..., 0]


class Transition(NamedTuple):
    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array
    done: jax.Array


def make_train(config: Config, total_timesteps: int, env_name: str):
    env = jaxmarl.make(env_name)
    agents = list(env.agents)
    num_agents = len(agents)
    n_obs = env.observation_space(agents[0]).shape[0] + num_agents
    n_actions = env.action_space(agents[0]).n
    num_iterations = total_timesteps // (config.num_envs * config.num_steps)
    batch = config.num_steps * config.num_envs * num_agents
    minibatch = batch // config.num_batches
    num_updates = num_iterations * config.num_epochs * config.num_batches
    eye = jnp.eye(num_agents, dtype=jnp.float32)

    def stack_obs(obs):
        # (num_envs, num_agents, n_obs) with the agent id appended.
        stacked = jnp.stack([obs[a] for a in agents], axis=1)
        ids = jnp.broadcast_to(eye, stacked.shape[:-1] + (num_agents,))
        return jnp.concatenate([stacked, ids], axis=-1)

    schedule = optax.linear_schedule(config.learning_rate, 0.0, num_updates)
    optimizer = optax.chain(
        optax.clip_by_global_norm(config.max_grad_norm),
        optax.adam(schedule, eps=1e-8),
    )

    def loss_fn(params, mb, advantages, targets):
        logits, values = forward(params, mb.obs)
        log_probs_all = jax.nn.log_softmax(logits)
        log_prob = jnp.take_along_axis(log_probs_all, mb.action[:, None], -1)[:, 0]
        ratio = jnp.exp(log_prob - mb.log_prob)
        adv = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        surrogate = jnp.minimum(
            ratio * adv, jnp.clip(ratio, 1 - config.clip, 1 + config.clip) * adv
        )
        entropy = -jnp.sum(jnp.exp(log_probs_all) * log_probs_all, -1).mean()
        value_loss = 0.5 * jnp.mean((values - targets) ** 2)
        return (
            -surrogate.mean()
            + config.value_coefficient * value_loss
            - config.entropy * entropy
        )

    def train(key):
        key, init_key, reset_key = jax.random.split(key, 3)
        params = init_params(init_key, n_obs, n_actions, config.width)
        opt_state = optimizer.init(params)
        obs, env_state = jax.vmap(env.reset)(
            jax.random.split(reset_key, config.num_envs)
        )
        obs = stack_obs(obs)

        def env_step(carry, step_key):
            params, env_state, obs = carry
            act_key, env_key = jax.random.split(step_key)
            logits, value = forward(params, obs)
            action = jax.random.categorical(act_key, logits)
            log_prob = jnp.take_along_axis(
                jax.nn.log_softmax(logits), action[..., None], -1
            )[..., 0]
            actions = {a: action[:, i] for i, a in enumerate(agents)}
            next_obs, env_state, rewards, dones, _ = jax.vmap(env.step)(
                jax.random.split(env_key, config.num_envs), env_state, actions
            )
            reward = jnp.stack([rewards[a] for a in agents], axis=1)
            done = jnp.broadcast_to(dones["__all__"][:, None], reward.shape)
            transition = Transition(obs, action, log_prob, value, reward, done)
            return (params, env_state, stack_obs(next_obs)), transition

        def iteration(carry, _):
            params, opt_state, env_state, obs, key = carry
            key, rollout_key, train_key = jax.random.split(key, 3)
            (_, env_state, obs), traj = jax.lax.scan(
                env_step,
                (params, env_state, obs),
                jax.random.split(rollout_key, config.num_steps),
            )
            # Fold agents into the env batch: (steps, envs * agents, ...).
            traj = jax.tree.map(
                lambda x: x.reshape((config.num_steps, -1) + x.shape[3:]), traj
            )
            _, last_value = forward(params, obs.reshape(-1, n_obs))

            def gae_step(carry, t):
                running, next_value = carry
                not_done = 1.0 - t.done.astype(jnp.float32)
                delta = t.reward + config.gamma * next_value * not_done - t.value
                running = delta + config.gamma * config.gae_lambda * not_done * running
                return (running, t.value), running

            _, advantages = jax.lax.scan(
                gae_step,
                (jnp.zeros_like(last_value), last_value),
                traj,
                reverse=True,
            )
            targets = advantages + traj.value
            flat = jax.tree.map(lambda x: x.reshape((batch,) + x.shape[2:]), traj)
            flat_adv, flat_targets = advantages.reshape(-1), targets.reshape(-1)

            def epoch(carry, epoch_key):
                params, opt_state = carry
                order = jax.random.permutation(epoch_key, batch)
                shaped = jax.tree.map(
                    lambda x: x[order].reshape(
                        (config.num_batches, minibatch) + x.shape[1:]
                    ),
                    (flat, flat_adv, flat_targets),
                )

                def update(carry, mb):
                    params, opt_state = carry
                    grads = jax.grad(loss_fn)(params, *mb)
                    updates, opt_state = optimizer.update(grads, opt_state, params)
                    return (optax.apply_updates(params, updates), opt_state), None

                carry, _ = jax.lax.scan(update, (params, opt_state), shaped)
                return carry, None

            (params, opt_state), _ = jax.lax.scan(
                epoch,
                (params, opt_state),
                jax.random.split(train_key, config.num_epochs),
            )
            return (params, opt_state, env_state, obs, key), None

        carry, _ = jax.lax.scan(
            iteration,
            (params, opt_state, env_state, obs, key),
            None,
            length=num_iterations,
        )
        return carry[0]

    return train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=100 * 16 * 128)
    parser.add_argument("--env", default="MPE_simple_spread_v3")
    parser.add_argument("--smoke", action="store_true", help="tiny budget (CI)")
    args = parser.parse_args()
    config = Config()
    if args.smoke:
        announce_smoke()
        config = config._replace(num_envs=2, num_steps=16)
        args.timesteps = 64
    train = jax.jit(make_train(config, args.timesteps, args.env))
    start = time.perf_counter()
    params = jax.block_until_ready(train(jax.random.key(0)))
    seconds = time.perf_counter() - start
    finite = all(bool(jnp.isfinite(x).all()) for x in jax.tree.leaves(params))
    print(f"plain IPPO {args.env}: {args.timesteps:,} env steps in {seconds:.1f} s")
    if not finite:
        raise SystemExit("a parameter is not finite")


if __name__ == "__main__":
    main()
