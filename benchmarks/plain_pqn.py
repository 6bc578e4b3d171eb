"""A plain, single-file, fully-jitted PQN: the reference for lerax's `PQN`.

Written from scratch on equinox + optax + gymnax, without lerax, in the
PureJaxRL style: ``make_train(config)`` returns a pure ``train(key)`` whose whole
run is one XLA program (iteration ``lax.scan`` -> rollout ``lax.scan`` over steps
of ``jax.vmap``-ed auto-resetting gymnax envs -> Q(lambda) reverse ``lax.scan``
-> epoch and minibatch ``lax.scan``s), so ``jax.vmap(train)(keys)`` trains many
seeds at once.

The algorithm is PQN (Gallici et al., ICLR 2025, "Simplifying Deep Temporal
Difference Learning"): epsilon-greedy rollouts from parallel environments, Peng's
Q(lambda) targets, epochs of shuffled minibatches on ``0.5 (Q(s, a) - G)^2``,
no replay buffer and no target network, LayerNorm in the Q-network
(``Linear -> LayerNorm -> ReLU`` per hidden layer), RAdam after global-norm
clipping, the learning rate decaying linearly to 0 over the run's updates and
epsilon linearly from ``eps_start`` to ``eps_finish`` over the first
``eps_decay`` of the iterations. Settings are those of ``lerax.presets.pqn``
so the two run like for like.

Episode ends: gymnax's ``env.step`` auto-resets and reports ``terminated``,
``truncated`` and ``info["final_observation"]``. A termination cuts the
bootstrap; a truncation bootstraps from ``max_a Q(final_observation, a)`` and
cuts the lambda-recursion; the rollout's last step bootstraps from the max Q of
its next observation.

Run ``python benchmarks/plain_pqn.py --seeds 4`` to train and print the greedy
evaluation of every seed.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from typing import Any, NamedTuple

import equinox as eqx
import gymnax
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Key


@dataclasses.dataclass(frozen=True)
class PQNConfig:
    """Everything that defines one plain-PQN run (defaults: CartPole's preset).

    Attributes:
        env_name: The gymnax environment id.
        num_envs: Parallel environments.
        num_steps: Steps per environment per iteration.
        num_epochs: Passes over each rollout.
        num_minibatches: Minibatches per epoch.
        gamma: Discount.
        q_lambda: Lambda of the Q(lambda) targets.
        learning_rate: RAdam's initial learning rate.
        max_grad_norm: Global gradient-norm clip.
        eps_start: Initial epsilon.
        eps_finish: Final epsilon.
        eps_decay: Fraction of the iterations over which epsilon decays.
        width: Hidden units per layer.
        depth: Hidden layers.
        total_timesteps: The budget in environment steps.
    """

    env_name: str = "CartPole-v1"
    num_envs: int = 32
    num_steps: int = 64
    num_epochs: int = 4
    num_minibatches: int = 16
    gamma: float = 0.99
    q_lambda: float = 0.95
    learning_rate: float = 5e-4
    max_grad_norm: float = 10.0
    eps_start: float = 1.0
    eps_finish: float = 0.05
    eps_decay: float = 0.2
    width: int = 128
    depth: int = 2
    total_timesteps: int = 204_800

    @property
    def num_iterations(self) -> int:
        """Iterations of `num_envs * num_steps` steps in the budget."""
        return self.total_timesteps // (self.num_envs * self.num_steps)


class QNetwork(eqx.Module):
    """Linear -> LayerNorm -> ReLU per hidden layer, then one Q-value per action."""

    hidden: tuple[eqx.nn.Linear, ...]
    norms: tuple[eqx.nn.LayerNorm, ...]
    head: eqx.nn.Linear

    def __init__(self, in_size: int, num_actions: int, width: int, depth: int, *, key):
        keys = jax.random.split(key, depth + 1)
        sizes = [in_size] + [width] * depth
        self.hidden = tuple(
            eqx.nn.Linear(a, b, key=k)
            for a, b, k in zip(sizes[:-1], sizes[1:], keys[:depth], strict=True)
        )
        self.norms = tuple(eqx.nn.LayerNorm(width) for _ in range(depth))
        self.head = eqx.nn.Linear(sizes[-1], num_actions, key=keys[-1])

    def __call__(self, x: Float[Array, " obs"]) -> Float[Array, " actions"]:
        for layer, norm in zip(self.hidden, self.norms, strict=True):
            x = jax.nn.relu(norm(layer(x)))
        return self.head(x)


class Runner(NamedTuple):
    params: Any
    opt_state: Any
    env_state: Any
    obs: Array
    key: Key[Array, ""]


class Transition(NamedTuple):
    obs: Array
    action: Array
    reward: Array
    terminated: Array
    truncated: Array
    final_obs: Array


def _flat(x: Array, lead: int) -> Array:
    return jnp.reshape(x, x.shape[:lead] + (-1,)).astype(jnp.float32)


def make_network(config: PQNConfig, *, key: Key[Array, ""]) -> QNetwork:
    """The Q-network for `config.env_name`.

    Args:
        config: The run's configuration.
        key: A JAX PRNG key.

    Returns:
        The network.
    """
    env, env_params = gymnax.make(config.env_name)
    obs_size = math.prod(env.observation_space(env_params).shape)
    num_actions = env.action_space(env_params).n
    return QNetwork(obs_size, num_actions, config.width, config.depth, key=key)


def make_train(config: PQNConfig):
    """A pure ``train(key) -> params`` for `config` (one XLA program under jit).

    Args:
        config: The run's configuration.

    Returns:
        ``train(key)``: the trained network's parameters.
    """
    env, env_params = gymnax.make(config.env_name)
    num_envs, num_steps = config.num_envs, config.num_steps
    num_iterations = config.num_iterations
    batch = num_envs * num_steps
    minibatch = batch // config.num_minibatches
    updates = num_iterations * config.num_epochs * config.num_minibatches
    schedule = optax.linear_schedule(config.learning_rate, 0.0, updates)
    optimizer = optax.chain(
        optax.clip_by_global_norm(config.max_grad_norm), optax.radam(schedule)
    )
    _, static = eqx.partition(make_network(config, key=jax.random.key(0)), eqx.is_array)
    step_envs = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    reset_envs = jax.vmap(env.reset, in_axes=(0, None))
    eps_horizon = max(config.eps_decay * num_iterations, 1e-8)

    def q_of(params, obs):
        return jax.vmap(eqx.combine(params, static))(obs)

    def env_step(carry, _):
        runner, eps = carry
        key, explore_key, random_key, env_key = jax.random.split(runner.key, 4)
        obs = _flat(runner.obs, 1)
        q = q_of(runner.params, obs)
        greedy = jnp.argmax(q, axis=-1)
        random = jax.random.randint(random_key, (num_envs,), 0, q.shape[-1])
        explore = jax.random.uniform(explore_key, (num_envs,)) < eps
        action = jnp.where(explore, random, greedy)
        next_obs, env_state, reward, terminated, truncated, info = step_envs(
            jax.random.split(env_key, num_envs), runner.env_state, action, env_params
        )
        transition = Transition(
            obs=obs,
            action=action,
            reward=reward.astype(jnp.float32),
            terminated=terminated,
            truncated=truncated,
            final_obs=_flat(info["final_observation"], 1),
        )
        runner = runner._replace(env_state=env_state, obs=next_obs, key=key)
        return (runner, eps), transition

    def targets(params, traj: Transition) -> Array:
        next_max_q = jnp.max(
            q_of(params, traj.final_obs.reshape(batch, -1)), axis=-1
        ).reshape(num_steps, num_envs)
        ended = traj.terminated | traj.truncated

        def backward(g_next, xs):
            reward, max_q, terminated, ended = xs
            mixed = jnp.where(ended, max_q, max_q + config.q_lambda * (g_next - max_q))
            g = reward + config.gamma * jnp.where(terminated, 0.0, mixed)
            return g, g

        _, g = jax.lax.scan(
            backward,
            next_max_q[-1],
            (traj.reward, next_max_q, traj.terminated, ended),
            reverse=True,
        )
        return g

    def loss_fn(params, obs, action, target):
        q = q_of(params, obs)
        q_taken = jnp.take_along_axis(q, action[:, None], axis=-1)[:, 0]
        return 0.5 * jnp.mean((q_taken - target) ** 2)

    def minibatch_step(carry, data):
        params, opt_state = carry
        grads = jax.grad(loss_fn)(params, *data)
        update, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, update), opt_state), None

    def epoch(carry, key):
        perm = jax.random.permutation(key, batch).reshape(-1, minibatch)
        data = carry[2]
        shuffled = jax.tree.map(lambda x: x[perm], data)
        (params, opt_state), _ = jax.lax.scan(minibatch_step, carry[:2], shuffled)
        return (params, opt_state, data), None

    def iteration(runner: Runner, index):
        eps = config.eps_start + (config.eps_finish - config.eps_start) * jnp.clip(
            index / eps_horizon, 0.0, 1.0
        )
        (runner, _), traj = jax.lax.scan(env_step, (runner, eps), None, num_steps)
        g = targets(runner.params, traj)
        data = (
            traj.obs.reshape(batch, -1),
            traj.action.reshape(batch),
            g.reshape(batch),
        )
        key, epoch_key = jax.random.split(runner.key)
        (params, opt_state, _), _ = jax.lax.scan(
            epoch,
            (runner.params, runner.opt_state, data),
            jax.random.split(epoch_key, config.num_epochs),
        )
        return runner._replace(params=params, opt_state=opt_state, key=key), None

    def train(key: Key[Array, ""]):
        net_key, env_key, run_key = jax.random.split(key, 3)
        params = eqx.filter(make_network(config, key=net_key), eqx.is_array)
        obs, env_state = reset_envs(jax.random.split(env_key, num_envs), env_params)
        runner = Runner(params, optimizer.init(params), env_state, obs, run_key)
        runner, _ = jax.lax.scan(
            iteration, runner, jnp.arange(num_iterations, dtype=jnp.float32)
        )
        return runner.params

    return train


def greedy_returns(
    config: PQNConfig, params: Any, *, key: Key[Array, ""], num_episodes: int = 16
) -> Array:
    """Undiscounted returns of greedy episodes (one XLA while loop).

    Args:
        config: The run's configuration.
        params: One seed's parameters.
        key: A JAX PRNG key.
        num_episodes: Episodes played side by side.

    Returns:
        The returns, shape `(num_episodes,)`.
    """
    env, env_params = gymnax.make(config.env_name)
    _, static = eqx.partition(make_network(config, key=jax.random.key(0)), eqx.is_array)
    network = eqx.combine(params, static)
    reset_key, key = jax.random.split(key)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(reset_key, num_episodes), env_params
    )

    def body(carry):
        obs, state, total, finished, key = carry
        key, step_key = jax.random.split(key)
        action = jnp.argmax(jax.vmap(network)(_flat(obs, 1)), axis=-1)
        obs, state, reward, terminated, truncated, _ = jax.vmap(
            env.step, in_axes=(0, 0, 0, None)
        )(jax.random.split(step_key, num_episodes), state, action, env_params)
        total = total + jnp.where(finished, 0.0, reward)
        return obs, state, total, finished | terminated | truncated, key

    init = (obs, state, jnp.zeros(num_episodes), jnp.zeros(num_episodes, bool), key)
    out = jax.lax.while_loop(lambda c: ~jnp.all(c[3]), body, init)
    return out[2]


def main(argv: list[str] | None = None) -> None:
    """Train `--seeds` seeds (vmapped) and print each one's greedy return."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--timesteps", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    config = PQNConfig(env_name=args.env)
    if args.timesteps is not None:
        config = dataclasses.replace(config, total_timesteps=args.timesteps)
    keys = jax.random.split(jax.random.key(args.seed), args.seeds)
    train = jax.jit(jax.vmap(make_train(config)))
    start = time.perf_counter()
    params = jax.block_until_ready(train(keys))
    print(f"trained {args.seeds} seeds in {time.perf_counter() - start:.1f} s")
    for i in range(args.seeds):
        one = jax.tree.map(lambda x, i=i: x[i], params)
        returns = greedy_returns(config, one, key=jax.random.key(100 + i))
        print(f"seed {i}: greedy return {float(jnp.mean(returns)):.1f}")


if __name__ == "__main__":
    main()
