"""REINFORCE with a learned baseline, written on lerax's public base class.

What a new on-policy algorithm needs, with nothing imported from a private
module: a final subclass of `AbstractOnPolicyAlgorithm` holding its sizes
(static), its hyperparameters (array leaves declared with `hyperparameter`, so
a new value compiles nothing) and `on_nonfinite`, plus three methods: `step`
(the public `actor_critic_step`), `post_collect` (returns minus the critic's
baseline: `gae_post_collect` with lambda = 1) and `train` (one gradient step on
the whole rollout, dropped by `guarded_update` if it is NaN or Inf). It trains
two learning rates at once on CartPole-v1, `eqx.filter_vmap` over a stack of
two instances: one compiled program. `LERAX_QUICK=1` shrinks the budget.
"""

import os

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float

from lerax.algorithm import (
    AbstractOnPolicyAlgorithm,
    actor_critic_step,
    evaluate_buffer,
    explained_variance,
    gae_post_collect,
    guarded_update,
    hyperparameter,
)
from lerax.callback import EpisodeStatisticsCallback
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.policy import MLPActorCriticPolicy


class REINFORCE(AbstractOnPolicyAlgorithm):
    """REINFORCE with a state-value baseline (Williams, 1992)."""

    num_envs: int = eqx.field(static=True, default=8)
    num_steps: int = eqx.field(static=True, default=64)
    on_nonfinite: str = eqx.field(static=True, default="error")
    learning_rate: Float[Array, ""] = hyperparameter(3e-3, low=0.0, low_open=True)
    gamma: Float[Array, ""] = hyperparameter(0.99, low=0.0, high=1.0, low_open=True)
    value_coefficient: Float[Array, ""] = hyperparameter(0.5, low=0.0)

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def optimizer(self) -> optax.GradientTransformation:
        # Built from the array leaf, so the learning rate stays sweepable.
        return optax.chain(
            optax.clip_by_global_norm(0.5), optax.adam(self.learning_rate)
        )

    def step(self, env, policy, state, *, key, callback):
        return actor_critic_step(env, policy, state, key=key, callback=callback)

    def post_collect(self, env, policy, step_state, buffer, *, key):
        # lambda = 1: the discounted return to go, minus the critic's value.
        return gae_post_collect(policy, buffer, gamma=self.gamma, gae_lambda=1.0)

    def train(self, policy, opt_state, buffer, *, key):
        data = buffer.without_next().flatten()
        advantages = (data.advantages - data.advantages.mean()) / (
            data.advantages.std() + 1e-8
        )

        def loss(policy):
            values, log_probs, _ = evaluate_buffer(policy, data)
            policy_loss = -(advantages * log_probs).mean()
            value_loss = 0.5 * ((values - data.returns) ** 2).mean()
            return policy_loss + self.value_coefficient * value_loss, value_loss

        (total, value_loss), grads = eqx.filter_value_and_grad(loss, has_aux=True)(
            policy
        )
        params = eqx.filter(policy, eqx.is_inexact_array)
        updates, new_opt_state = self.optimizer.update(grads, opt_state, params)
        new_policy = eqx.apply_updates(policy, updates)
        # Keep the old policy if the loss or gradient is NaN/Inf, and say so in
        # the log: `on_nonfinite` then stops the run or counts the skip.
        policy, opt_state, bad_loss, bad_gradient = guarded_update(
            total, grads, policy, opt_state, new_policy, new_opt_state
        )
        log = {
            "loss": total,
            "value_loss": value_loss,
            "explained_variance": explained_variance(data.values, data.returns),
            "nonfinite_loss": bad_loss,
            "nonfinite_gradient": bad_gradient,
        }
        return policy, opt_state, log


def main() -> None:
    iterations = 8 if os.environ.get("LERAX_QUICK") == "1" else 200
    env = GymnaxToLeraxEnv.from_name("CartPole-v1")
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))  # built eagerly

    @eqx.filter_vmap  # over a stack of instances: a sweep, one compiled program
    def learn(algorithm):
        return algorithm.learn_state(
            env,
            policy,
            iterations * 8 * 64,
            key=jax.random.key(1),
            callback=EpisodeStatisticsCallback(),
        )

    algorithms = [REINFORCE(), REINFORCE(learning_rate=1e-3)]
    state = learn(jax.tree.map(lambda *xs: jnp.stack(xs), *algorithms))
    returns = np.nanmean(state.callback_state.mean_return[:, -10:], axis=1)
    for algorithm, mean_return in zip(algorithms, returns, strict=True):
        value = float(algorithm.learning_rate)
        print(f"learning_rate={value:g}: final mean return {mean_return:.1f}")


if __name__ == "__main__":
    main()
