"""A plain, single-file, fully-jitted PPO: the baseline lerax is measured against.

Written from scratch on equinox + optax + distrax + gymnax, without lerax, in the
PureJaxRL style: ``make_train(config)`` returns a pure ``train(key, params)`` whose
whole run is one XLA program (iteration ``lax.scan`` -> rollout ``lax.scan`` over
steps of ``jax.vmap``-ed auto-resetting gymnax envs -> GAE reverse ``lax.scan`` ->
epoch and minibatch ``lax.scan``s), so ``jax.vmap(train)(keys, params)`` trains
many seeds at once.

Hyperparameters and network match lerax's ``PPO`` and ``MLPActorCriticPolicy``
defaults so that the two can be compared like for like:

* 4 envs x 512 steps per iteration, 16 epochs of 32 minibatches (64 samples each),
  gamma 0.99, GAE lambda 0.95, clip 0.2, no value clipping, value coefficient 0.5
  (on half the squared error), entropy coefficient 0, advantages normalised per
  minibatch, ``optax.chain(clip_by_global_norm(0.5), adam(3e-4))``.
* Separate actor and critic MLPs (2 x 64, tanh), orthogonal init (gain sqrt(2) on
  hidden layers, 0.01 on the policy head, 1.0 on the value head), zero biases.
  Discrete actions: categorical logits. Box actions: diagonal Gaussian with a
  state-independent learnable log-std initialised at 0; actions go to the env
  unclipped (gymnax's Pendulum clips the torque itself).

Episode ends: gymnax's ``env.step`` auto-resets and reports ``terminated``,
``truncated`` and ``info["final_observation"]`` (the observation before the reset).
A termination cuts the bootstrap; a truncation (time limit) that is not also a
termination bootstraps from ``gamma * V(final_observation)``, folded into the reward
of that step, after which the GAE recursion is cut as for any episode end.

Run ``python benchmarks/plain_ppo.py --env CartPole-v1 --seeds 4`` to train and
print the learning result.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import distrax
import equinox as eqx
import gymnax
import jax
import jax.numpy as jnp
import optax
from gymnax.environments import spaces as gymnax_spaces
from jaxtyping import Array, Float, Int, Key, PyTree

# Fraction of the training iterations, at the end, whose completed episodes make the
# reported "final" training return.
FINAL_FRACTION = 0.1


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """Everything that defines one plain-PPO training run.

    Attributes:
        env_name: A gymnax environment id, e.g. ``"CartPole-v1"``.
        total_timesteps: Env steps to train for (summed over the parallel envs);
            rounded down to whole iterations of ``num_envs * num_steps``.
        num_envs: Parallel environments.
        num_steps: Steps per environment per iteration.
        num_epochs: Passes over each rollout.
        num_batches: Minibatches per epoch; must divide ``num_envs * num_steps``.
        gamma: Discount factor.
        gae_lambda: GAE lambda.
        clip_coefficient: PPO ratio clip.
        value_coefficient: Weight of the value loss (half the mean squared error).
        entropy_coefficient: Weight of the entropy bonus.
        max_grad_norm: Global gradient-norm clip.
        learning_rate: Adam learning rate (constant).
        normalize_advantages: Normalise advantages per minibatch.
        hidden_size: Width of the hidden layers of both MLPs.
        hidden_layers: Number of hidden layers of both MLPs.
    """

    env_name: str = "CartPole-v1"
    total_timesteps: int = 2**17
    num_envs: int = 4
    num_steps: int = 512
    num_epochs: int = 16
    num_batches: int = 32
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_coefficient: float = 0.2
    value_coefficient: float = 0.5
    entropy_coefficient: float = 0.0
    max_grad_norm: float = 0.5
    learning_rate: float = 3e-4
    normalize_advantages: bool = True
    hidden_size: int = 64
    hidden_layers: int = 2

    def __post_init__(self):
        for name in (
            "num_envs",
            "num_steps",
            "num_epochs",
            "num_batches",
            "hidden_size",
            "hidden_layers",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.batch_size % self.num_batches != 0:
            raise ValueError(
                f"num_batches={self.num_batches} must divide num_envs * num_steps "
                f"= {self.batch_size}"
            )
        if self.total_timesteps < self.batch_size:
            raise ValueError(
                f"total_timesteps={self.total_timesteps} is smaller than one "
                f"iteration (num_envs * num_steps = {self.batch_size})"
            )
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma}")
        if not 0.0 <= self.gae_lambda <= 1.0:
            raise ValueError(f"gae_lambda must be in [0, 1], got {self.gae_lambda}")

    @property
    def batch_size(self) -> int:
        """Transitions collected per iteration."""
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        """Transitions per gradient step."""
        return self.batch_size // self.num_batches

    @property
    def num_iterations(self) -> int:
        """Collect-then-train iterations in the run."""
        return self.total_timesteps // self.batch_size

    @property
    def timesteps(self) -> int:
        """Env steps actually taken (whole iterations only)."""
        return self.num_iterations * self.batch_size


# --------------------------------------------------------------------------- network


def _orthogonal_linear(
    layer: eqx.nn.Linear, gain: float, *, key: Key[Array, ""]
) -> eqx.nn.Linear:
    weight = jax.nn.initializers.orthogonal(gain)(key, layer.weight.shape)
    layer = eqx.tree_at(lambda lin: lin.weight, layer, weight)
    return eqx.tree_at(lambda lin: lin.bias, layer, jnp.zeros_like(layer.bias))


def _mlp(
    in_size: int, out_size: int, config: PPOConfig, head_gain: float, *, key
) -> eqx.nn.MLP:
    init_key, *layer_keys = jax.random.split(key, config.hidden_layers + 2)
    mlp = eqx.nn.MLP(
        in_size,
        out_size,
        width_size=config.hidden_size,
        depth=config.hidden_layers,
        activation=jax.nn.tanh,
        key=init_key,
    )
    gains = [math.sqrt(2.0)] * config.hidden_layers + [head_gain]
    layers = tuple(
        _orthogonal_linear(layer, gain, key=k)
        for layer, gain, k in zip(mlp.layers, gains, layer_keys, strict=True)
    )
    return eqx.tree_at(lambda m: m.layers, mlp, layers)


class ActorCritic(eqx.Module):
    """Separate actor and critic MLPs; Gaussian log-std for continuous actions."""

    actor: eqx.nn.MLP
    critic: eqx.nn.MLP
    log_std: Float[Array, " action_dim"] | None
    discrete: bool = eqx.field(static=True)
    action_shape: tuple[int, ...] = eqx.field(static=True)

    def __init__(self, obs_size: int, action_space, config: PPOConfig, *, key):
        actor_key, critic_key = jax.random.split(key)
        if isinstance(action_space, gymnax_spaces.Discrete):
            self.discrete = True
            self.action_shape = ()
            out_size = action_space.n
            self.log_std = None
        elif isinstance(action_space, gymnax_spaces.Box):
            self.discrete = False
            self.action_shape = tuple(action_space.shape)
            out_size = math.prod(self.action_shape)
            self.log_std = jnp.zeros(out_size)
        else:
            raise ValueError(f"unsupported action space {action_space!r}")
        self.actor = _mlp(obs_size, out_size, config, 0.01, key=actor_key)
        self.critic = _mlp(obs_size, "scalar", config, 1.0, key=critic_key)

    def distribution(self, obs: Float[Array, "batch obs"]) -> distrax.Distribution:
        """The action distribution for a batch of flat observations."""
        out = jax.vmap(self.actor)(obs)
        if self.discrete:
            return distrax.Categorical(logits=out)
        scale = jnp.broadcast_to(jnp.exp(self.log_std), out.shape)
        return distrax.MultivariateNormalDiag(loc=out, scale_diag=scale)

    def value(self, obs: Float[Array, "batch obs"]) -> Float[Array, " batch"]:
        """State values for a batch of flat observations."""
        return jax.vmap(self.critic)(obs)

    def to_env_action(self, action: Array) -> Array:
        """Reshape a flat distribution sample into the env's action shape."""
        if self.discrete:
            return action
        return action.reshape(action.shape[:1] + self.action_shape)


def make_network(config: PPOConfig, *, key: Key[Array, ""]) -> ActorCritic:
    """Build the actor-critic for ``config.env_name`` (default env params)."""
    env, env_params = gymnax.make(config.env_name)
    obs_size = math.prod(env.observation_space(env_params).shape)
    return ActorCritic(obs_size, env.action_space(env_params), config, key=key)


# --------------------------------------------------------------------------- training


class Transition(NamedTuple):
    obs: Float[Array, "steps envs obs"]
    action: Array
    log_prob: Float[Array, "steps envs"]
    value: Float[Array, "steps envs"]
    reward: Float[Array, "steps envs"]
    terminated: Array
    truncated: Array
    final_obs: Float[Array, "steps envs obs"]
    episode_return: Float[Array, "steps envs"]
    episode_length: Int[Array, "steps envs"]


class Runner(NamedTuple):
    params: PyTree
    opt_state: optax.OptState
    env_state: PyTree
    obs: Float[Array, "envs obs"]
    episode_return: Float[Array, " envs"]
    episode_length: Int[Array, " envs"]
    key: Key[Array, ""]


class Minibatch(NamedTuple):
    obs: Array
    action: Array
    log_prob: Array
    advantage: Array
    target: Array


def _flat(obs: Array, num_leading: int) -> Array:
    return obs.reshape(obs.shape[:num_leading] + (-1,)).astype(jnp.float32)


def init_params(config: PPOConfig, *, key: Key[Array, ""]) -> PyTree:
    """The initial network's array leaves (run eagerly, outside the compiled run).

    Network initialisation happens before training, as in any PPO script: the
    orthogonal initialiser's QR decomposition then never runs inside the timed,
    possibly vmapped program (batched LAPACK calls inside a vmapped program were
    seen to deadlock XLA:CPU's thread pool on a 2-core machine).

    Args:
        config: The run's environment and network sizes.
        key: PRNG key for the initial weights.

    Returns:
        The array leaves of :func:`make_network`'s result.
    """
    return eqx.filter(make_network(config, key=key), eqx.is_array)


def make_train(
    config: PPOConfig,
) -> Callable[[Key[Array, ""], PyTree], dict[str, Any]]:
    """Build the pure, whole-run training function for ``config``.

    Args:
        config: The run's environment, budget and hyperparameters.

    Returns:
        ``train(key, params) -> output`` (``params`` from :func:`init_params`)
        where ``output`` is a dict with ``"params"`` (the trained network's array
        leaves; rebuild with :func:`policy_from_output`) and
        ``"metrics"``: per-iteration arrays ``episode_return_sum``,
        ``episode_count``, ``episode_length_sum`` (completed episodes, stochastic
        policy) and the mean PPO statistics ``policy_loss``, ``value_loss``,
        ``entropy``, ``approx_kl``, ``clip_fraction``.
    """
    env, env_params = gymnax.make(config.env_name)
    num_envs, num_steps = config.num_envs, config.num_steps
    gamma, lam = config.gamma, config.gae_lambda
    optimizer = optax.chain(
        optax.clip_by_global_norm(config.max_grad_norm),
        optax.adam(config.learning_rate),
    )
    _, static = eqx.partition(make_network(config, key=jax.random.key(0)), eqx.is_array)
    vmapped_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    vmapped_reset = jax.vmap(env.reset, in_axes=(0, None))

    def env_step(runner: Runner, _) -> tuple[Runner, Transition]:
        model = eqx.combine(runner.params, static)
        key, action_key, env_key = jax.random.split(runner.key, 3)
        obs = _flat(runner.obs, 1)
        dist = model.distribution(obs)
        action, log_prob = dist.sample_and_log_prob(seed=action_key)
        value = model.value(obs)
        next_obs, env_state, reward, terminated, truncated, info = vmapped_step(
            jax.random.split(env_key, num_envs),
            runner.env_state,
            model.to_env_action(action),
            env_params,
        )
        done = terminated | truncated
        episode_return = runner.episode_return + reward
        episode_length = runner.episode_length + 1
        transition = Transition(
            obs=obs,
            action=action,
            log_prob=log_prob,
            value=value,
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            final_obs=_flat(info["final_observation"], 1),
            episode_return=jnp.where(done, episode_return, 0.0),
            episode_length=jnp.where(done, episode_length, 0),
        )
        runner = runner._replace(
            env_state=env_state,
            obs=next_obs,
            episode_return=jnp.where(done, 0.0, episode_return),
            episode_length=jnp.where(done, 0, episode_length),
            key=key,
        )
        return runner, transition

    def advantages_and_targets(model, traj: Transition, last_obs: Array):
        # Truncated (not terminated) steps bootstrap from the pre-reset observation.
        final_value = model.value(traj.final_obs.reshape(-1, traj.final_obs.shape[-1]))
        final_value = final_value.reshape(traj.reward.shape)
        bootstrap = traj.truncated & ~traj.terminated
        reward = traj.reward + gamma * jnp.where(bootstrap, final_value, 0.0)
        not_done = 1.0 - (traj.terminated | traj.truncated).astype(jnp.float32)
        last_value = model.value(_flat(last_obs, 1))

        def gae_step(carry, step):
            next_advantage, next_value = carry
            reward_t, value_t, not_done_t = step
            delta = reward_t + gamma * not_done_t * next_value - value_t
            advantage = delta + gamma * lam * not_done_t * next_advantage
            return (advantage, value_t), advantage

        _, advantage = jax.lax.scan(
            gae_step,
            (jnp.zeros_like(last_value), last_value),
            (reward, traj.value, not_done),
            reverse=True,
        )
        return advantage, advantage + traj.value

    def loss_fn(params, batch: Minibatch):
        model = eqx.combine(params, static)
        dist = model.distribution(batch.obs)
        log_prob = dist.log_prob(batch.action)
        entropy = jnp.mean(dist.entropy())
        value = model.value(batch.obs)
        log_ratio = log_prob - batch.log_prob
        ratio = jnp.exp(log_ratio)
        advantage = batch.advantage
        if config.normalize_advantages:
            advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
        clipped = jnp.clip(
            ratio, 1.0 - config.clip_coefficient, 1.0 + config.clip_coefficient
        )
        policy_loss = -jnp.mean(jnp.minimum(ratio * advantage, clipped * advantage))
        value_loss = 0.5 * jnp.mean(jnp.square(value - batch.target))
        loss = (
            policy_loss
            + config.value_coefficient * value_loss
            - config.entropy_coefficient * entropy
        )
        stats = {
            "policy_loss": policy_loss,
            "value_loss": value_loss,
            "entropy": entropy,
            "approx_kl": jnp.mean((ratio - 1.0) - log_ratio),
            "clip_fraction": jnp.mean(
                (jnp.abs(ratio - 1.0) > config.clip_coefficient).astype(jnp.float32)
            ),
        }
        return loss, stats

    grad_fn = jax.grad(loss_fn, has_aux=True)

    def minibatch_step(carry, batch: Minibatch):
        params, opt_state = carry
        grads, stats = grad_fn(params, batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), stats

    def epoch_step(carry, key, data: Minibatch):
        permutation = jax.random.permutation(key, config.batch_size)
        batches = jax.tree.map(
            lambda x: x[permutation].reshape(
                (config.num_batches, config.minibatch_size) + x.shape[1:]
            ),
            data,
        )
        return jax.lax.scan(minibatch_step, carry, batches)

    def iteration(runner: Runner, _) -> tuple[Runner, dict[str, Array]]:
        runner, traj = jax.lax.scan(env_step, runner, length=num_steps)
        model = eqx.combine(runner.params, static)
        advantage, target = advantages_and_targets(model, traj, runner.obs)
        data = Minibatch(traj.obs, traj.action, traj.log_prob, advantage, target)
        data = jax.tree.map(
            lambda x: x.reshape((config.batch_size,) + x.shape[2:]), data
        )
        key, epoch_key = jax.random.split(runner.key)
        (params, opt_state), stats = jax.lax.scan(
            lambda carry, k: epoch_step(carry, k, data),
            (runner.params, runner.opt_state),
            jax.random.split(epoch_key, config.num_epochs),
        )
        done = traj.terminated | traj.truncated
        metrics = {
            "episode_return_sum": traj.episode_return.sum(),
            "episode_count": done.sum(),
            "episode_length_sum": traj.episode_length.sum(),
            **jax.tree.map(jnp.mean, stats),
        }
        runner = runner._replace(params=params, opt_state=opt_state, key=key)
        return runner, metrics

    def train(key: Key[Array, ""], params: PyTree) -> dict[str, Any]:
        reset_key, loop_key = jax.random.split(key)
        obs, env_state = vmapped_reset(
            jax.random.split(reset_key, num_envs), env_params
        )
        runner = Runner(
            params=params,
            opt_state=optimizer.init(params),
            env_state=env_state,
            obs=obs,
            episode_return=jnp.zeros(num_envs),
            episode_length=jnp.zeros(num_envs, jnp.int32),
            key=loop_key,
        )
        runner, metrics = jax.lax.scan(iteration, runner, length=config.num_iterations)
        return {"params": runner.params, "metrics": metrics}

    return train


def policy_from_output(
    config: PPOConfig, params: PyTree, *, deterministic: bool = True
) -> Callable[[Array, Key[Array, ""]], Array]:
    """An action function ``(obs, key) -> action`` for one env, from trained params.

    Args:
        config: The config the params were trained with.
        params: ``train(key, params)["params"]`` (one seed).
        deterministic: Take the mode (argmax logits / Gaussian mean) instead of
            sampling.

    Returns:
        A function mapping one observation and a key to one env action.
    """
    _, static = eqx.partition(make_network(config, key=jax.random.key(0)), eqx.is_array)
    model = eqx.combine(params, static)

    def policy_fn(obs: Array, key: Key[Array, ""]) -> Array:
        dist = model.distribution(_flat(obs[None], 1))
        action = dist.mode() if deterministic else dist.sample(seed=key)
        return model.to_env_action(action)[0]

    return policy_fn


def final_training_return(
    metrics: dict[str, Array], fraction: float = FINAL_FRACTION
) -> Array:
    """Mean return of the episodes completed in the last ``fraction`` of training.

    Args:
        metrics: ``train(key, params)["metrics"]``, optionally with leading seed axes.
        fraction: Trailing fraction of the iterations to average over (at least one
            iteration is always used).

    Returns:
        The mean completed-episode return, one per seed (NaN where no episode
        ended in that window).
    """
    num_iterations = metrics["episode_count"].shape[-1]
    window = max(1, math.ceil(fraction * num_iterations))
    total = metrics["episode_return_sum"][..., -window:].sum(-1)
    count = metrics["episode_count"][..., -window:].sum(-1)
    return jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)


# ------------------------------------------------------------------ evaluation/ceiling


def evaluate(
    policy_fn: Callable[[Array, Key[Array, ""]], Array],
    env: Any,
    params: Any,
    key: Key[Array, ""],
    num_episodes: int,
) -> Float[Array, " num_episodes"]:
    """Undiscounted returns of ``num_episodes`` full episodes, run in parallel.

    Works with any policy (plain or lerax) given as a one-env action function.

    Args:
        policy_fn: ``(obs, key) -> action`` for a single environment.
        env: A gymnax environment.
        params: Its gymnax env params.
        key: PRNG key.
        num_episodes: Episodes to run (one per parallel env).

    Returns:
        The return of each episode.
    """
    reset_key, loop_key = jax.random.split(key)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(reset_key, num_episodes), params
    )

    def cond(carry):
        return ~jnp.all(carry[3])

    def body(carry):
        obs, state, total, finished, key = carry
        key, action_key, step_key = jax.random.split(key, 3)
        action = jax.vmap(policy_fn)(obs, jax.random.split(action_key, num_episodes))
        obs, state, reward, terminated, truncated, _ = jax.vmap(
            env.step, in_axes=(0, 0, 0, None)
        )(jax.random.split(step_key, num_episodes), state, action, params)
        total = total + jnp.where(finished, 0.0, reward)
        finished = finished | terminated | truncated
        return obs, state, total, finished, key

    init = (
        obs,
        state,
        jnp.zeros(num_episodes),
        jnp.zeros(num_episodes, bool),
        loop_key,
    )
    return jax.lax.while_loop(cond, body, init)[2]


def make_rollout(config: PPOConfig) -> Callable[[Key[Array, ""], PyTree], Array]:
    """The throughput ceiling: the run's env steps with policy forwards, no learning.

    A ``lax.scan`` over ``config.num_iterations * config.num_steps`` steps of the
    ``jax.vmap``-ed auto-resetting envs, each step sampling an action (with its
    log-prob) and evaluating the value, exactly as training's rollout does, but
    with fixed initial parameters and nothing stored.

    Args:
        config: The run's environment and sizes.

    Returns:
        ``rollout(key, params) -> checksum`` (``params`` from :func:`init_params`;
        the checksum is a scalar that keeps every step live).
    """
    env, env_params = gymnax.make(config.env_name)
    vmapped_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    _, static = eqx.partition(make_network(config, key=jax.random.key(0)), eqx.is_array)

    def rollout(key: Key[Array, ""], params: PyTree) -> Array:
        reset_key, loop_key = jax.random.split(key)
        model = eqx.combine(params, static)
        obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(reset_key, config.num_envs), env_params
        )

        def step(carry, _):
            obs, env_state, checksum, key = carry
            key, action_key, env_key = jax.random.split(key, 3)
            flat = _flat(obs, 1)
            action, log_prob = model.distribution(flat).sample_and_log_prob(
                seed=action_key
            )
            value = model.value(flat)
            obs, env_state, reward, *_ = vmapped_step(
                jax.random.split(env_key, config.num_envs),
                env_state,
                model.to_env_action(action),
                env_params,
            )
            checksum = checksum + jnp.sum(reward + log_prob + value)
            return (obs, env_state, checksum, key), None

        init = (obs, env_state, jnp.zeros(()), loop_key)
        (_, _, checksum, _), _ = jax.lax.scan(
            step, init, length=config.num_iterations * config.num_steps
        )
        return checksum

    return rollout


def stack_seeds(trees: list[PyTree]) -> PyTree:
    """Stack per-seed pytrees of arrays along a new leading seed axis."""
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


# ------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> None:
    """Train several seeds at once and print the learning result and timings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--timesteps", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-episodes", type=int, default=16)
    args = parser.parse_args(argv)
    default_budget = {"CartPole-v1": 2**17, "Pendulum-v1": 2**19}
    timesteps = args.timesteps or default_budget.get(args.env, 2**17)
    config = PPOConfig(env_name=args.env, total_timesteps=timesteps)
    keys = jax.random.split(jax.random.key(args.seed), args.seeds)
    params = stack_seeds([init_params(config, key=k) for k in keys])

    start = time.perf_counter()
    compiled = jax.jit(jax.vmap(make_train(config))).lower(keys, params).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    output = jax.block_until_ready(compiled(keys, params))
    run_s = time.perf_counter() - start

    env, env_params = gymnax.make(config.env_name)

    def eval_one(params, key):
        policy_fn = policy_from_output(config, params, deterministic=True)
        return evaluate(policy_fn, env, env_params, key, args.eval_episodes)

    eval_keys = jax.random.split(jax.random.key(args.seed + 1), args.seeds)
    eval_returns = jax.jit(jax.vmap(eval_one))(output["params"], eval_keys)
    final = final_training_return(output["metrics"])
    steps = args.seeds * config.timesteps
    print(f"{config.env_name}: {args.seeds} seeds x {config.timesteps} steps")
    print(
        f"  compile {compile_s:.1f} s, run {run_s:.1f} s ({steps / run_s:,.0f} steps/s)"
    )
    print(f"  final training return per seed: {[round(float(r), 1) for r in final]}")
    print(f"  mean {float(jnp.mean(final)):.1f}")
    print(
        "  deterministic eval return per seed: "
        f"{[round(float(r), 1) for r in eval_returns.mean(-1)]}"
    )


if __name__ == "__main__":
    main()
