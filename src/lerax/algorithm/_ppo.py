"""Proximal Policy Optimization with a clipped surrogate objective."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, ArrayLike, Float, Key, Scalar

from lerax._checks import check_size
from lerax.buffer import RolloutBuffer

from ._actor_critic import (
    AbstractActorCriticAlgorithm,
    evaluate_buffer,
    explained_variance,
)
from ._base import PolicyType
from ._learning_rate import learning_rate_in_use
from ._nonfinite import check_on_nonfinite, guarded_update
from ._on_policy import as_leaf, check_number
from ._scan import filter_scan


class PPOStats(eqx.Module):
    """Diagnostics of one PPO minibatch update (or their mean over an iteration).

    Attributes:
        approx_kl: Estimate of KL(old || new), `mean((ratio - 1) - log ratio)`.
        clip_fraction: Fraction of samples whose ratio left the clip range.
        total_loss: The optimised loss.
        policy_loss: The clipped surrogate loss.
        value_loss: The (optionally clipped) squared value error.
        entropy_loss: Minus the mean entropy.
        explained_variance: Explained variance of the returns by the critic
            being trained, on this minibatch before its update (NaN when the
            minibatch's returns are constant).
        nonfinite_loss: 1 if the loss was NaN/Inf and the update was skipped.
        nonfinite_gradient: 1 if the loss was finite but the gradient was not
            and the update was skipped.
    """

    approx_kl: Float[Array, ""]
    clip_fraction: Float[Array, ""]
    total_loss: Float[Array, ""]
    policy_loss: Float[Array, ""]
    value_loss: Float[Array, ""]
    entropy_loss: Float[Array, ""]
    explained_variance: Float[Array, ""]
    nonfinite_loss: Float[Array, ""]
    nonfinite_gradient: Float[Array, ""]


def _ppo_loss(
    policy,
    rollout_buffer: RolloutBuffer,
    normalize_advantages: bool,
    clip_coefficient: Float[ArrayLike, ""],
    clip_value_loss: bool,
    value_loss_coefficient: Float[ArrayLike, ""],
    entropy_loss_coefficient: Float[ArrayLike, ""],
) -> tuple[Float[Array, ""], PPOStats]:
    buffer = rollout_buffer

    values, log_probs, entropy = evaluate_buffer(policy, buffer)
    log_ratio = log_probs - buffer.log_probs
    ratio = jnp.exp(log_ratio)

    advantages = buffer.advantages
    if normalize_advantages:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    clipped_ratio = jnp.clip(ratio, 1.0 - clip_coefficient, 1.0 + clip_coefficient)
    policy_loss = jnp.maximum(-advantages * ratio, -advantages * clipped_ratio).mean()

    value_error = (values - buffer.returns) ** 2
    if clip_value_loss:
        clipped_values = buffer.values + jnp.clip(
            values - buffer.values, -clip_coefficient, clip_coefficient
        )
        value_error = jnp.maximum(value_error, (clipped_values - buffer.returns) ** 2)
    value_loss = 0.5 * value_error.mean()

    entropy_loss = -entropy.mean()
    total_loss = (
        policy_loss
        + value_loss_coefficient * value_loss
        + entropy_loss_coefficient * entropy_loss
    )
    stats = PPOStats(
        approx_kl=jax.lax.stop_gradient(((ratio - 1.0) - log_ratio).mean()),
        clip_fraction=jax.lax.stop_gradient(
            (jnp.abs(ratio - 1.0) > clip_coefficient).mean()
        ),
        total_loss=total_loss,
        policy_loss=policy_loss,
        value_loss=value_loss,
        entropy_loss=entropy_loss,
        explained_variance=explained_variance(
            jax.lax.stop_gradient(values), buffer.returns
        ),
        nonfinite_loss=jnp.zeros((), jnp.float32),
        nonfinite_gradient=jnp.zeros((), jnp.float32),
    )
    return total_loss, stats


class PPO(AbstractActorCriticAlgorithm[PolicyType]):
    """Proximal Policy Optimization (Schulman et al., 2017).

    Each iteration collects `num_envs * num_steps` transitions, computes GAE
    advantages (termination cuts the bootstrap, truncation bootstraps from the
    final observation), then runs `num_epochs` passes over the data in
    `num_batches` shuffled minibatches, minimising the clipped surrogate loss.
    The optimizer is `clip_by_global_norm(max_grad_norm)` then Adam.

    Continuous hyperparameters are stored as array leaves, so changing them does
    not recompile and `eqx.filter_vmap` over PPO instances sweeps them in one
    program. Sizes and flags are static.

    Attributes:
        num_envs: Number of parallel environments.
        num_steps: Number of steps to run for each environment per update.
        num_epochs: Number of epochs to train the policy per update.
        num_batches: Number of minibatches per epoch.
        gae_lambda: Lambda parameter for Generalized Advantage Estimation (GAE).
        gamma: Discount factor.
        clip_coefficient: Clipping coefficient for policy and value updates.
        clip_value_loss: Whether to clip the value function loss.
        entropy_loss_coefficient: Coefficient for the entropy loss term.
        value_loss_coefficient: Coefficient for the value function loss term.
        max_grad_norm: Maximum gradient norm for gradient clipping.
        normalize_advantages: Whether to normalize advantages (per minibatch).
        learning_rate: Learning rate, a scalar or an optax schedule of the
            update count.
        on_nonfinite: What a NaN/Inf in observations, rewards, the loss or the
            gradient does: "error" (stop and raise `NonFiniteError`), "skip"
            (skip the update and count it in the log) or "ignore" (no checks).
        clip_actions: Whether `Box` actions are clipped to the action space's
            bounds before the environment sees them (the buffer keeps the raw
            sample).
    """

    num_envs: int = eqx.field(static=True)
    num_steps: int = eqx.field(static=True)
    num_epochs: int = eqx.field(static=True)
    num_batches: int = eqx.field(static=True)
    gae_lambda: Float[Array, ""]
    gamma: Float[Array, ""]
    clip_coefficient: Float[Array, ""]
    clip_value_loss: bool = eqx.field(static=True)
    entropy_loss_coefficient: Float[Array, ""]
    value_loss_coefficient: Float[Array, ""]
    max_grad_norm: Float[Array, ""]
    normalize_advantages: bool = eqx.field(static=True)
    learning_rate: Float[Array, ""] | optax.Schedule
    on_nonfinite: str = eqx.field(static=True)
    clip_actions: bool = eqx.field(static=True)

    ppo_loss: ClassVar = staticmethod(_ppo_loss)
    ppo_loss_grad: ClassVar = staticmethod(
        eqx.filter_value_and_grad(_ppo_loss, has_aux=True)
    )

    def __init__(
        self,
        *,
        num_envs: int = 4,
        num_steps: int = 512,
        num_epochs: int = 16,
        num_batches: int = 32,
        gae_lambda: float = 0.95,
        gamma: float = 0.99,
        clip_coefficient: float = 0.2,
        clip_value_loss: bool = False,
        entropy_loss_coefficient: float = 0.0,
        value_loss_coefficient: float = 0.5,
        max_grad_norm: float = 0.5,
        normalize_advantages: bool = True,
        learning_rate: optax.ScalarOrSchedule = 3e-4,
        on_nonfinite: str = "error",
        clip_actions: bool = True,
    ):
        """Configure PPO.

        Args:
            num_envs: Number of parallel environments.
            num_steps: Number of steps to run for each environment per update.
            num_epochs: Number of epochs to train the policy per update.
            num_batches: Number of batches to split the rollout buffer into for
                training; must divide `num_envs * num_steps`.
            gae_lambda: Lambda parameter for GAE, in [0, 1].
            gamma: Discount factor, in (0, 1].
            clip_coefficient: Clipping coefficient for policy and value function
                updates, > 0.
            clip_value_loss: Whether to clip the value function loss.
            entropy_loss_coefficient: Coefficient for the entropy loss term, >= 0.
            value_loss_coefficient: Coefficient for the value function loss term,
                >= 0.
            max_grad_norm: Maximum gradient norm for gradient clipping, > 0.
            normalize_advantages: Whether to normalize advantages.
            learning_rate: Learning rate for the optimizer (> 0), or an optax
                schedule.
            on_nonfinite: "error" (default): a NaN or Inf in an observation,
                reward, loss or gradient stops training and `learn` raises a
                `NonFiniteError` naming it and the iteration; "skip": the bad
                update is skipped and counted (`nonfinite_loss`,
                `nonfinite_gradient` in the log); "ignore": no checks.
            clip_actions: Clip `Box` actions to the action space's bounds before
                the environment sees them, storing the raw sample and its
                log-probability in the buffer (the Stable-Baselines3 default).
                `False` sends the raw sample.

        Raises:
            ValueError: If an argument is out of range (the message names it).
        """
        self.num_envs = num_envs
        self.num_steps = num_steps
        self.num_epochs = num_epochs
        self.num_batches = num_batches
        self.clip_value_loss = bool(clip_value_loss)
        self.normalize_advantages = bool(normalize_advantages)
        self.clip_actions = bool(clip_actions)
        self.gae_lambda = as_leaf(gae_lambda)
        self.gamma = as_leaf(gamma)
        self.clip_coefficient = as_leaf(clip_coefficient)
        self.entropy_loss_coefficient = as_leaf(entropy_loss_coefficient)
        self.value_loss_coefficient = as_leaf(value_loss_coefficient)
        self.max_grad_norm = as_leaf(max_grad_norm)
        self.learning_rate = (
            learning_rate if callable(learning_rate) else as_leaf(learning_rate)
        )
        self.on_nonfinite = on_nonfinite

    def __check_init__(self):
        check_on_nonfinite("PPO", self.on_nonfinite)
        for name in ("num_envs", "num_steps", "num_epochs", "num_batches"):
            check_size("PPO", name, getattr(self, name))
        total = self.num_envs * self.num_steps
        if total % self.num_batches:
            raise ValueError(
                f"PPO: num_batches={self.num_batches} does not divide num_envs * "
                f"num_steps = {total}; choose a divisor of {total}."
            )
        check_number("PPO", "gamma", self.gamma, low=0.0, high=1.0, low_open=True)
        check_number("PPO", "gae_lambda", self.gae_lambda, low=0.0, high=1.0)
        check_number(
            "PPO", "clip_coefficient", self.clip_coefficient, low=0.0, low_open=True
        )
        check_number(
            "PPO", "entropy_loss_coefficient", self.entropy_loss_coefficient, low=0.0
        )
        check_number(
            "PPO", "value_loss_coefficient", self.value_loss_coefficient, low=0.0
        )
        check_number("PPO", "max_grad_norm", self.max_grad_norm, low=0.0, low_open=True)
        check_number("PPO", "learning_rate", self.learning_rate, low=0.0, low_open=True)

    @property
    def batch_size(self) -> int:
        """The minibatch size, `num_envs * num_steps // num_batches`."""
        return self.num_envs * self.num_steps // self.num_batches

    @property
    def optimizer(self) -> optax.GradientTransformation:
        """`clip_by_global_norm(max_grad_norm)` then Adam at `learning_rate`.

        Built from the array leaves, so inside a compiled run it is traced.
        """
        return optax.chain(
            optax.clip_by_global_norm(self.max_grad_norm),
            optax.adam(self.learning_rate),
        )

    def train_batch(
        self,
        policy: PolicyType,
        opt_state: optax.OptState,
        rollout_buffer: RolloutBuffer,
    ) -> tuple[PolicyType, optax.OptState, PPOStats]:
        """One gradient step on one minibatch.

        Args:
            policy: The current policy.
            opt_state: The optimizer state.
            rollout_buffer: A minibatch (flat leading axis).

        Returns:
            The updated policy, optimizer state and the minibatch's statistics.
        """
        (_, stats), grads = self.ppo_loss_grad(
            policy,
            rollout_buffer,
            self.normalize_advantages,
            self.clip_coefficient,
            self.clip_value_loss,
            self.value_loss_coefficient,
            self.entropy_loss_coefficient,
        )
        params = eqx.filter(policy, eqx.is_inexact_array)
        updates, new_opt_state = self.optimizer.update(grads, opt_state, params)
        new_policy = eqx.apply_updates(policy, updates)
        if self.on_nonfinite == "ignore":
            return new_policy, new_opt_state, stats
        new_policy, new_opt_state, bad_loss, bad_gradient = guarded_update(
            stats.total_loss, grads, policy, opt_state, new_policy, new_opt_state
        )
        stats = dataclasses.replace(
            stats, nonfinite_loss=bad_loss, nonfinite_gradient=bad_gradient
        )
        return new_policy, new_opt_state, stats

    def train_epoch(
        self,
        policy: PolicyType,
        opt_state: optax.OptState,
        rollout_buffer: RolloutBuffer,
        *,
        key: Key[Array, ""],
    ) -> tuple[PolicyType, optax.OptState, PPOStats]:
        """One pass over a flattened buffer in `num_batches` shuffled minibatches.

        Args:
            policy: The current policy.
            opt_state: The optimizer state.
            rollout_buffer: The whole rollout, flattened to one batch axis.
            key: A JAX PRNG key for the shuffle.

        Returns:
            The updated policy and optimizer state, and per-minibatch statistics
            (leading axis `num_batches`).
        """
        minibatches = rollout_buffer.shuffled_minibatches(self.num_batches, key=key)

        def one_batch(carry, batch):
            policy, opt_state = carry
            policy, opt_state, stats = self.train_batch(policy, opt_state, batch)
            return (policy, opt_state), stats

        (policy, opt_state), stats = filter_scan(
            one_batch, (policy, opt_state), minibatches
        )
        return policy, opt_state, stats

    def train(
        self,
        policy: PolicyType,
        opt_state: optax.OptState,
        buffer: RolloutBuffer,
        *,
        key: Key[Array, ""],
    ) -> tuple[PolicyType, optax.OptState, dict[str, Scalar]]:
        """`num_epochs` epochs of minibatch updates on the rollout.

        Args:
            policy: The current policy.
            opt_state: The optimizer state.
            buffer: The post-processed rollout.
            key: A JAX PRNG key.

        Returns:
            The updated policy and optimizer state, and a log of the mean
            `PPOStats` over all minibatches, except that `explained_variance`
            is the usual rollout-level figure: that of the behaviour policy's
            values (those stored in the buffer) for the returns, and
            `learning_rate` is the rate of the iteration's last update.
        """
        flat = buffer.without_next().flatten()

        def one_epoch(carry, epoch_key):
            policy, opt_state = carry
            policy, opt_state, stats = self.train_epoch(
                policy, opt_state, flat, key=epoch_key
            )
            return (policy, opt_state), stats

        (policy, opt_state), stats = filter_scan(
            one_epoch, (policy, opt_state), jax.random.split(key, self.num_epochs)
        )
        log = {name: jnp.mean(value) for name, value in vars(stats).items()}
        log["nonfinite_loss"] = jnp.sum(stats.nonfinite_loss)
        log["nonfinite_gradient"] = jnp.sum(stats.nonfinite_gradient)
        log["explained_variance"] = explained_variance(flat.values, flat.returns)
        log["learning_rate"] = learning_rate_in_use(self.learning_rate, opt_state)
        return policy, opt_state, log
