"""PPO with a KL penalty instead of clipping, written on lerax's public base class.

`AbstractActorCriticAlgorithm` already collects rollouts with an actor-critic
policy and fills GAE advantages, so a PPO variant is its fields and one
method, `train`: epochs of shuffled minibatches (two `filter_scan` loops), each
minimising `-ratio * advantage + kl_coefficient * KL(old || new)` plus the
value loss: the KL-penalty objective of Schulman et al. (2017, section 4)
with a fixed coefficient. The hyperparameters are array leaves (`hyperparameter`), so
`eqx.filter_vmap` over a stack of instances trains a sweep as one program: here
two penalties at once on CartPole-v1. `LERAX_QUICK=1` shrinks the budget.
"""

import os

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float

from lerax.algorithm import (
    AbstractActorCriticAlgorithm,
    evaluate_buffer,
    explained_variance,
    filter_scan,
    hyperparameter,
)
from lerax.callback import EpisodeStatisticsCallback
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.policy import MLPActorCriticPolicy


class KLPPO(AbstractActorCriticAlgorithm):
    """PPO whose surrogate is penalised by the KL divergence, not clipped."""

    num_envs: int = eqx.field(static=True, default=4)
    num_steps: int = eqx.field(static=True, default=128)
    num_epochs: int = eqx.field(static=True, default=4)
    num_batches: int = eqx.field(static=True, default=4)
    clip_actions: bool = eqx.field(static=True, default=True)
    on_nonfinite: str = eqx.field(static=True, default="error")
    learning_rate: Float[Array, ""] = hyperparameter(1e-3, low=0.0, low_open=True)
    gamma: Float[Array, ""] = hyperparameter(0.99, low=0.0, high=1.0, low_open=True)
    gae_lambda: Float[Array, ""] = hyperparameter(0.95, low=0.0, high=1.0)
    kl_coefficient: Float[Array, ""] = hyperparameter(1.0, low=0.0)
    value_coefficient: Float[Array, ""] = hyperparameter(0.5, low=0.0)

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps // self.num_batches

    @property
    def optimizer(self) -> optax.GradientTransformation:
        return optax.chain(
            optax.clip_by_global_norm(0.5), optax.adam(self.learning_rate)
        )

    def loss(self, policy, batch):
        values, log_probs, _ = evaluate_buffer(policy, batch)
        log_ratio = log_probs - batch.log_probs
        advantages = (batch.advantages - batch.advantages.mean()) / (
            batch.advantages.std() + 1e-8
        )
        kl = jnp.mean(jnp.exp(log_ratio) - 1.0 - log_ratio)  # >= 0, unbiased
        policy_loss = -jnp.mean(jnp.exp(log_ratio) * advantages)
        value_loss = 0.5 * jnp.mean((values - batch.returns) ** 2)
        total = policy_loss + self.kl_coefficient * kl
        return total + self.value_coefficient * value_loss, {"kl": kl, "loss": total}

    def train(self, policy, opt_state, buffer, *, key):
        data = buffer.without_next().flatten()
        grad = eqx.filter_value_and_grad(self.loss, has_aux=True)

        def minibatch(carry, batch):
            policy, opt_state = carry
            (_, log), grads = grad(policy, batch)
            params = eqx.filter(policy, eqx.is_inexact_array)
            updates, opt_state = self.optimizer.update(grads, opt_state, params)
            return (eqx.apply_updates(policy, updates), opt_state), log

        def epoch(carry, epoch_key):
            batches = data.shuffled_minibatches(self.num_batches, key=epoch_key)
            return filter_scan(minibatch, carry, batches)

        keys = jax.random.split(key, self.num_epochs)
        (policy, opt_state), logs = filter_scan(epoch, (policy, opt_state), keys)
        log = jax.tree.map(jnp.mean, logs)
        log["explained_variance"] = explained_variance(data.values, data.returns)
        return policy, opt_state, log


def main() -> None:
    iterations = 8 if os.environ.get("LERAX_QUICK") == "1" else 60
    env = GymnaxToLeraxEnv.from_name("CartPole-v1")
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))  # built eagerly

    @eqx.filter_vmap  # over a stack of instances: a sweep, one compiled program
    def learn(algorithm):
        return algorithm.learn_state(
            env,
            policy,
            iterations * 4 * 128,
            key=jax.random.key(1),
            callback=EpisodeStatisticsCallback(),
        )

    algorithms = [KLPPO(), KLPPO(kl_coefficient=0.3)]
    state = learn(jax.tree.map(lambda *xs: jnp.stack(xs), *algorithms))
    returns = np.nanmean(state.callback_state.mean_return[:, -10:], axis=1)
    for algorithm, mean_return in zip(algorithms, returns, strict=True):
        value = float(algorithm.kl_coefficient)
        print(f"kl_coefficient={value:g}: final mean return {mean_return:.1f}")


if __name__ == "__main__":
    main()
