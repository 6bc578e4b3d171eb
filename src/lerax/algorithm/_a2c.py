"""Advantage Actor-Critic: one synchronous gradient step per rollout."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Key, Scalar

from lerax._checks import check_size
from lerax._keywords import suggest_keywords
from lerax.buffer import RolloutBuffer

from ._actor_critic import (
    AbstractActorCriticAlgorithm,
    evaluate_buffer,
    explained_variance,
)
from ._base import PolicyType
from ._hyperparameter import hyperparameter
from ._learning_rate import learning_rate_in_use
from ._nonfinite import guarded_update


class A2C(AbstractActorCriticAlgorithm[PolicyType]):
    """Synchronous Advantage Actor-Critic (Mnih et al., 2016).

    Collects short rollouts and takes one RMSprop step on the whole batch with the
    loss `-A log pi(a|s) + c_v (R - V(s))^2 / 2 - c_e H[pi(.|s)]`. It shares the
    rollout step and GAE with `PPO`; only `train` differs, which is the point: a
    new on-policy algorithm is a subclass and a few methods.

    Attributes:
        num_envs: Number of parallel environments.
        num_steps: Number of steps per environment per update.
        gae_lambda: GAE lambda (1.0 gives n-step returns).
        gamma: Discount factor.
        entropy_loss_coefficient: Coefficient for the entropy loss term.
        value_loss_coefficient: Coefficient for the value loss term.
        max_grad_norm: Maximum gradient norm for gradient clipping.
        normalize_advantages: Whether to normalize advantages.
        learning_rate: RMSprop learning rate, a scalar or an optax schedule.
        on_nonfinite: What a NaN/Inf in observations, rewards, the loss or the
            gradient does: "error", "skip" or "ignore" (as for `PPO`).
        clip_actions: Whether `Box` actions are clipped to the action space's
            bounds before the environment sees them (the buffer keeps the raw
            sample).
    """

    num_envs: int = eqx.field(static=True)
    num_steps: int = eqx.field(static=True)
    gae_lambda: Float[Array, ""] = hyperparameter(low=0.0, high=1.0)
    gamma: Float[Array, ""] = hyperparameter(low=0.0, high=1.0, low_open=True)
    entropy_loss_coefficient: Float[Array, ""] = hyperparameter(low=0.0)
    value_loss_coefficient: Float[Array, ""] = hyperparameter(low=0.0)
    max_grad_norm: Float[Array, ""] = hyperparameter(low=0.0, low_open=True)
    normalize_advantages: bool = eqx.field(static=True)
    learning_rate: Float[Array, ""] | optax.Schedule = hyperparameter(
        low=0.0, low_open=True
    )
    on_nonfinite: str = eqx.field(static=True)
    clip_actions: bool = eqx.field(static=True)

    @suggest_keywords
    def __init__(
        self,
        *,
        num_envs: int = 4,
        num_steps: int = 8,
        gae_lambda: float = 1.0,
        gamma: float = 0.99,
        entropy_loss_coefficient: float = 0.0,
        value_loss_coefficient: float = 0.5,
        max_grad_norm: float = 0.5,
        normalize_advantages: bool = False,
        learning_rate: optax.ScalarOrSchedule = 7e-4,
        on_nonfinite: str = "error",
        clip_actions: bool = True,
    ):
        """Configure A2C.

        Args:
            num_envs: Number of parallel environments.
            num_steps: Number of steps per environment per update.
            gae_lambda: GAE lambda, in [0, 1].
            gamma: Discount factor, in (0, 1].
            entropy_loss_coefficient: Coefficient for the entropy loss, >= 0.
            value_loss_coefficient: Coefficient for the value loss, >= 0.
            max_grad_norm: Maximum gradient norm, > 0.
            normalize_advantages: Whether to normalize advantages.
            learning_rate: RMSprop learning rate (> 0) or an optax schedule.
            on_nonfinite: "error" (default), "skip" or "ignore": what a NaN or
                Inf in training does (see `PPO`).
            clip_actions: Clip `Box` actions to the action space's bounds before
                the environment sees them, storing the raw sample and its
                log-probability in the buffer (the Stable-Baselines3 default).
                `False` sends the raw sample.

        Raises:
            ValueError: If an argument is out of range (the message names it).
        """
        self.num_envs = num_envs
        self.num_steps = num_steps
        self.normalize_advantages = bool(normalize_advantages)
        self.clip_actions = bool(clip_actions)
        self.gae_lambda = gae_lambda
        self.gamma = gamma
        self.entropy_loss_coefficient = entropy_loss_coefficient
        self.value_loss_coefficient = value_loss_coefficient
        self.max_grad_norm = max_grad_norm
        self.learning_rate = learning_rate
        self.on_nonfinite = on_nonfinite

    def __check_init__(self):
        # The floats are range-checked by the base (they are hyperparameters),
        # and so is `on_nonfinite`.
        check_size("A2C", "num_envs", self.num_envs)
        check_size("A2C", "num_steps", self.num_steps)

    @property
    def batch_size(self) -> int:
        """The whole rollout, `num_envs * num_steps`."""
        return self.num_envs * self.num_steps

    @property
    def optimizer(self) -> optax.GradientTransformation:
        """`clip_by_global_norm(max_grad_norm)` then RMSprop (decay 0.99, eps 1e-5)."""
        return optax.chain(
            optax.clip_by_global_norm(self.max_grad_norm),
            optax.rmsprop(self.learning_rate, decay=0.99, eps=1e-5),
        )

    def train(
        self,
        policy: PolicyType,
        opt_state: optax.OptState,
        buffer: RolloutBuffer,
        *,
        key: Key[Array, ""],
    ) -> tuple[PolicyType, optax.OptState, dict[str, Scalar]]:
        """One gradient step on the whole rollout.

        Args:
            policy: The current policy.
            opt_state: The optimizer state.
            buffer: The post-processed rollout.
            key: Unused.

        Returns:
            The updated policy and optimizer state, and a log of the losses,
            the explained variance and the learning rate used.
        """
        flat = buffer.without_next().flatten()

        @eqx.filter_value_and_grad(has_aux=True)
        def loss_fn(policy):
            values, log_probs, entropy = evaluate_buffer(policy, flat)
            advantages = flat.advantages
            if self.normalize_advantages:
                advantages = (advantages - advantages.mean()) / (
                    advantages.std() + 1e-8
                )
            policy_loss = -(jax.lax.stop_gradient(advantages) * log_probs).mean()
            value_loss = 0.5 * ((values - flat.returns) ** 2).mean()
            entropy_loss = -entropy.mean()
            total = (
                policy_loss
                + self.value_loss_coefficient * value_loss
                + self.entropy_loss_coefficient * entropy_loss
            )
            return total, {
                "total_loss": total,
                "policy_loss": policy_loss,
                "value_loss": value_loss,
                "entropy_loss": entropy_loss,
            }

        (loss, log), grads = loss_fn(policy)
        params = eqx.filter(policy, eqx.is_inexact_array)
        updates, new_opt_state = self.optimizer.update(grads, opt_state, params)
        new_policy = eqx.apply_updates(policy, updates)
        if self.on_nonfinite != "ignore":
            new_policy, new_opt_state, bad_loss, bad_gradient = guarded_update(
                loss, grads, policy, opt_state, new_policy, new_opt_state
            )
            log["nonfinite_loss"] = bad_loss
            log["nonfinite_gradient"] = bad_gradient
        log["explained_variance"] = explained_variance(flat.values, flat.returns)
        log["learning_rate"] = learning_rate_in_use(self.learning_rate, new_opt_state)
        log = {k: jnp.asarray(v) for k, v in log.items()}
        return new_policy, new_opt_state, log
