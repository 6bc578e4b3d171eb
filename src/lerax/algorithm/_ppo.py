"""Proximal Policy Optimization with a clipped surrogate objective."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Key, Scalar

from lerax._checks import check_size
from lerax._keywords import suggest_keywords
from lerax.buffer import RolloutBuffer
from lerax.policy import AbstractRecurrentActorCriticPolicy

from ._actor_critic import (
    AbstractActorCriticAlgorithm,
    evaluate_buffer,
    explained_variance,
)
from ._base import PolicyType
from ._flat import FlatView, apply_flat_updates, flat_loss
from ._hyperparameter import hyperparameter
from ._kl_adaptive import (
    KLAdaptiveLR,
    adapt_learning_rate,
    find_kl_adaptive_state,
    scale_by_kl_adaptive_lr,
)
from ._learning_rate import learning_rate_in_use
from ._mixed_precision import check_compute_dtype, in_compute_dtype
from ._nonfinite import guarded_update
from ._objective import (
    AbstractPolicyObjective,
    AbstractStatefulObjective,
    carry_objective_state,
    objective_state,
    with_objective_state,
)
from ._objectives import ClippedSurrogate
from ._on_policy_state import OnPolicyState
from ._ppo_loss import _STACKED, PPOStats, _ppo_loss
from ._reward_scaling import RewardNormalizerState
from ._scan import filter_scan
from ._schedule import (
    last_anneal_factor,
    scale_by_linear_anneal,
    set_anneal_horizon,
)
from ._separate import (
    actor_mask,
    find_split_state,
    set_actor_mask,
    split_actor_critic,
)


def _shuffled_minibatches(
    buffer: RolloutBuffer, num_batches: int, key: Key[Array, ""]
) -> RolloutBuffer:
    """Shuffled minibatches: of samples (one leading axis) or of sequences (two)."""
    if buffer.rewards.ndim == 1:
        return buffer.shuffled_minibatches(num_batches, key=key)
    num_sequences = buffer.rewards.shape[0]
    permutation = jax.random.permutation(key, num_sequences)
    return buffer.take(permutation.reshape(num_batches, num_sequences // num_batches))


class PPO(AbstractActorCriticAlgorithm[PolicyType]):
    """Proximal Policy Optimization (Schulman et al., 2017).

    Each iteration collects `num_envs * num_steps` transitions, computes GAE
    advantages (termination cuts the bootstrap, truncation bootstraps from the
    final observation), then runs `num_epochs` passes over the data in
    `num_batches` shuffled minibatches, minimising the clipped surrogate loss.
    The optimizer is `clip_by_global_norm(max_grad_norm)` then Adam.

    A recurrent policy (an `AbstractRecurrentActorCriticPolicy`, e.g.
    `GRUActorCriticPolicy`) is
    trained on whole sequences instead: minibatches are groups of environments
    (`num_batches` must divide `num_envs`) in time order, and the loss re-runs
    the policy's memory over each (truncated backpropagation through time).

    Continuous hyperparameters are stored as array leaves, so changing them does
    not recompile and `eqx.filter_vmap` over PPO instances sweeps them in one
    program. Sizes and flags are static.

    For speed, an iteration's updates run on one flat vector of the policy's
    trainable arrays (raveled once per iteration, with Adam's moments; the
    optimizer state keeps its per-leaf layout between iterations), the loss
    evaluates a minibatch with the policy's batched `evaluate_actions`, and
    minibatches are shuffled by a keyed bijection computed without sorting.
    See "Where lerax's speed comes from" in docs/benchmarks.md.

    Attributes:
        num_envs: Number of parallel environments.
        num_steps: Number of steps to run for each environment per update.
        num_epochs: Number of epochs to train the policy per update.
        num_batches: Number of minibatches per epoch.
        gae_lambda: Lambda parameter for Generalized Advantage Estimation (GAE).
        gamma: Discount factor.
        clip_coefficient: Clipping coefficient of the policy ratio (and of the
            value change, unless `clip_value_coefficient` is set).
        clip_value_loss: Whether to clip the value function loss.
        clip_value_coefficient: Clip range of the value change when
            `clip_value_loss`; `None` uses `clip_coefficient`.
        entropy_loss_coefficient: Coefficient for the entropy loss term.
        value_loss_coefficient: Coefficient for the value function loss term.
        max_grad_norm: Maximum gradient norm for gradient clipping.
        normalize_advantages: Whether to normalize advantages (per minibatch).
        learning_rate: Learning rate, a scalar or an optax schedule of the
            minibatch-update count.
        anneal_learning_rate: Whether the learning rate decays linearly to 0
            over the run's `num_updates` minibatch updates.
        adam_eps: Adam's epsilon.
        normalize_rewards: Whether rewards are divided by the running standard
            deviation of the discounted return before GAE.
        target_kl: Stop an iteration's remaining epochs once the approximate KL
            of an epoch's last minibatch exceeds `1.5 * target_kl`; `None`: never.
        on_nonfinite: What a NaN/Inf in observations, rewards, the loss or the
            gradient does: "error" (stop and raise `NonFiniteError`), "skip"
            (skip the update and count it in the log) or "ignore" (no checks).
        clip_actions: Whether `Box` actions are clipped to the action space's
            bounds before the environment sees them (the buffer keeps the raw
            sample).
        objective: The policy term of the loss (an `AbstractPolicyObjective`);
            `None`: PPO's `ClippedSurrogate` at `clip_coefficient` (see
            `policy_objective`).
        kl_adaptive_lr: The KL-adaptive learning-rate rule (skrl's
            `KLAdaptiveLR`), or `None`: a fixed rate or schedule.
        critic_learning_rate: The critic's learning rate (a scalar or an optax
            schedule) when the critic has its own optimiser, or `None`.
        actor_optimizer: An optax transformation replacing the actor's Adam,
            or `None`.
        critic_optimizer: An optax transformation replacing the critic's Adam,
            or `None`.
        shared_trunk: Which optimiser trains the parameters both heads read
            (a shared trunk), with separate optimisers: "actor" or "critic";
            `None` means "actor".
        compute_dtype: The dtype of the loss's forward and backward passes
            (`jnp.bfloat16` for mixed precision), or `None`: the parameters'.
    """

    num_envs: int = eqx.field(static=True)
    num_steps: int = eqx.field(static=True)
    num_epochs: int = eqx.field(static=True)
    num_batches: int = eqx.field(static=True)
    gae_lambda: Float[Array, ""] = hyperparameter(low=0.0, high=1.0)
    gamma: Float[Array, ""] = hyperparameter(low=0.0, high=1.0, low_open=True)
    clip_coefficient: Float[Array, ""] = hyperparameter(low=0.0, low_open=True)
    clip_value_loss: bool = eqx.field(static=True)
    entropy_loss_coefficient: Float[Array, ""] = hyperparameter(low=0.0)
    value_loss_coefficient: Float[Array, ""] = hyperparameter(low=0.0)
    max_grad_norm: Float[Array, ""] = hyperparameter(low=0.0, low_open=True)
    normalize_advantages: bool = eqx.field(static=True)
    learning_rate: Float[Array, ""] | optax.Schedule = hyperparameter(
        low=0.0, low_open=True
    )
    anneal_learning_rate: bool = eqx.field(static=True)
    normalize_rewards: bool = eqx.field(static=True)
    adam_eps: Float[Array, ""] = hyperparameter(low=0.0, low_open=True)
    target_kl: Float[Array, ""] | None = hyperparameter(low=0.0, low_open=True)
    clip_value_coefficient: Float[Array, ""] | None = hyperparameter(
        low=0.0, low_open=True
    )
    on_nonfinite: str = eqx.field(static=True)
    clip_actions: bool = eqx.field(static=True)
    # Last, so the leaf order of the fields before it is unchanged.
    objective: AbstractPolicyObjective | None = None
    kl_adaptive_lr: KLAdaptiveLR | None = None
    critic_learning_rate: Float[Array, ""] | optax.Schedule | None = hyperparameter(
        None, low=0.0, low_open=True
    )
    actor_optimizer: optax.GradientTransformation | None = eqx.field(
        default=None, static=True
    )
    critic_optimizer: optax.GradientTransformation | None = eqx.field(
        default=None, static=True
    )
    shared_trunk: str | None = eqx.field(default=None, static=True)
    compute_dtype: Any = eqx.field(default=None, static=True)

    ppo_loss: ClassVar = staticmethod(_ppo_loss)
    ppo_loss_grad: ClassVar = staticmethod(
        eqx.filter_value_and_grad(_ppo_loss, has_aux=True)
    )

    @suggest_keywords
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
        target_kl: float | None = None,
        anneal_learning_rate: bool = False,
        clip_value_coefficient: float | None = None,
        adam_eps: float = 1e-8,
        normalize_rewards: bool = False,
        objective: AbstractPolicyObjective | None = None,
        kl_adaptive_lr: KLAdaptiveLR | None = None,
        critic_learning_rate: optax.ScalarOrSchedule | None = None,
        actor_optimizer: optax.GradientTransformation | None = None,
        critic_optimizer: optax.GradientTransformation | None = None,
        shared_trunk: str | None = None,
        compute_dtype: Any = None,
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
            target_kl: If given (> 0), after each epoch the approximate KL
                divergence of its last minibatch (measured before that
                minibatch's update) is compared with `1.5 * target_kl`, the
                Stable-Baselines3 threshold; once it exceeds it, the iteration's
                remaining epochs are skipped. The log's `epochs_run` counts the
                epochs run. `None` (default): always run `num_epochs`.
            anneal_learning_rate: Decay the learning rate (or the schedule's
                value) linearly to 0 over the `num_updates(total_timesteps)`
                minibatch updates of the run `learn` starts: update `k` (from
                0) uses `learning_rate * (1 - k / num_updates)`.
            clip_value_coefficient: Clip range of the value change when
                `clip_value_loss` (> 0); `None` (default) uses
                `clip_coefficient`.
            adam_eps: Adam's epsilon (> 0). The default 1e-8 is optax's;
                Stable-Baselines3 and CleanRL use 1e-5 for PPO.
            normalize_rewards: Scale rewards as Stable-Baselines3's
                `VecNormalize(norm_reward=True)`: divide each reward by the
                running standard deviation of the discounted return (updated
                step by step over all environments, the return reset at episode
                ends) and clip to [-10, 10], before GAE. The statistics are
                carried in the run's state (`state.reward_normalizer`), not in
                the policy: inference does not need them. Callbacks and episode
                statistics see the raw rewards.
            objective: The policy term of the loss, an `AbstractPolicyObjective`
                such as `DPO()`, `SPO()`, `KLPenalty()` or a `LearnedDrift`
                (see docs/objectives.md). `None` (default): PPO's clipped
                surrogate, `ClippedSurrogate(clip_coefficient=clip_coefficient)`,
                built from the `clip_coefficient` field when the loss runs, so
                sweeping `clip_coefficient` sweeps the clip. The value clip
                (`clip_value_loss`) and the logged `clip_fraction` always use
                `clip_coefficient`.
            kl_adaptive_lr: A `KLAdaptiveLR` rule (skrl's `KLAdaptiveLR`,
                rl_games' adaptive schedule): the learning rate starts at
                `learning_rate` (a scalar) and, after each epoch (or minibatch,
                `per="minibatch"`), is divided by `lr_factor` when the
                approximate KL exceeds `kl_threshold * kl_factor` and multiplied
                by it when the KL is below `kl_threshold / kl_factor`, clamped
                to `[min_lr, max_lr]`. The rate is kept in the optimizer state
                (checkpointed, per seed under `jax.vmap`); the log's
                `learning_rate` is the rate of the iteration's last update.
                `None` (default): off. With separate optimisers the rule moves
                each part's rate (the actor's from `learning_rate`, the
                critic's from `critic_learning_rate`) by the same factors,
                each clamped to `[min_lr, max_lr]`, as skrl does with one
                scheduler class for both networks; a part given as a
                transformation (`actor_optimizer`, `critic_optimizer`) keeps
                its own rule.
            critic_learning_rate: Separate optimisers (skrl's
                `learning_rate=(actor, critic)`): the critic's parameters get
                their own Adam at this rate (> 0, or an optax schedule of the
                minibatch-update count) while `learning_rate` becomes the
                actor's. `None` (default): one optimiser for the whole policy
                (unless `actor_optimizer` or `critic_optimizer` is given, when
                the critic's rate is `learning_rate`). Gradients are clipped to
                `max_grad_norm` over the whole policy first;
                `anneal_learning_rate` anneals both parts. The policy declares
                its parts (`parameter_labels`).
            actor_optimizer: An optax transformation that replaces the
                actor's Adam (after the global clip), e.g. `optax.adamw(...)`;
                separate optimisers on. Static: a new one recompiles, and it is
                not swept by `jax.vmap`. `None` (default): Adam at
                `learning_rate`.
            critic_optimizer: The same for the critic (instead of
                `critic_learning_rate`). `None` (default): Adam at
                `critic_learning_rate` (or `learning_rate`).
            shared_trunk: With separate optimisers, which one trains the
                parameters both heads read (`MLPActorCriticPolicy`'s
                `shared_hidden_sizes` trunk, a CNN's convolutions, a recurrent
                policy's encoder and core): "actor" (`None`, the default,
                means it too; skrl trains a shared policy-value model with the
                policy's optimiser) or "critic".
            compute_dtype: `jnp.bfloat16` (or `jnp.float16`): mixed precision.
                The loss's forward and backward passes run on a copy of the
                policy cast to this dtype; the parameters, the gradient and the
                optimiser state stay float32, and the action distribution and
                the loss are computed in float32. Acting (the rollout) uses the
                float32 policy. `None` (default): everything in the
                parameters' dtype. See docs/ppo-options.md.

        Raises:
            ValueError: If an argument is out of range (the message names it),
                or `critic_learning_rate` and `critic_optimizer` are both given.
            TypeError: If `objective` is not an `AbstractPolicyObjective`, or
                `actor_optimizer` / `critic_optimizer` is not an optax
                `GradientTransformation`.
        """
        self.num_envs = num_envs
        self.num_steps = num_steps
        self.num_epochs = num_epochs
        self.num_batches = num_batches
        self.clip_value_loss = bool(clip_value_loss)
        self.normalize_advantages = bool(normalize_advantages)
        self.clip_actions = bool(clip_actions)
        self.gae_lambda = gae_lambda
        self.gamma = gamma
        self.clip_coefficient = clip_coefficient
        self.entropy_loss_coefficient = entropy_loss_coefficient
        self.value_loss_coefficient = value_loss_coefficient
        self.max_grad_norm = max_grad_norm
        self.learning_rate = learning_rate
        self.on_nonfinite = on_nonfinite
        self.anneal_learning_rate = bool(anneal_learning_rate)
        self.normalize_rewards = bool(normalize_rewards)
        self.adam_eps = adam_eps
        self.target_kl = target_kl
        self.clip_value_coefficient = clip_value_coefficient
        self.objective = objective
        self.kl_adaptive_lr = kl_adaptive_lr
        self.critic_learning_rate = critic_learning_rate
        self.actor_optimizer = actor_optimizer
        self.critic_optimizer = critic_optimizer
        self.shared_trunk = shared_trunk
        self.compute_dtype = check_compute_dtype("PPO", compute_dtype)

    def __check_init__(self):
        # The floats are range-checked by the base (they are hyperparameters),
        # and so is `on_nonfinite`.
        check_size("PPO", "num_envs", self.num_envs)
        check_size("PPO", "num_steps", self.num_steps)
        check_size("PPO", "num_epochs", self.num_epochs)
        check_size("PPO", "num_batches", self.num_batches)
        if self.objective is not None and not isinstance(
            self.objective, AbstractPolicyObjective
        ):
            raise TypeError(
                "PPO: objective must be an AbstractPolicyObjective (for example "
                "lerax.algorithm.DPO()) or None, got "
                f"{type(self.objective).__name__}."
            )
        total = self.num_envs * self.num_steps
        if total % self.num_batches:
            raise ValueError(
                f"PPO: num_batches={self.num_batches} does not divide num_envs * "
                f"num_steps = {total}; choose a divisor of {total}."
            )
        if self.kl_adaptive_lr is not None:
            if not isinstance(self.kl_adaptive_lr, KLAdaptiveLR):
                raise ValueError(
                    "PPO: kl_adaptive_lr must be a lerax.algorithm.KLAdaptiveLR "
                    f"or None, got {type(self.kl_adaptive_lr).__name__}."
                )
            if (
                callable(self.learning_rate)
                or callable(self.critic_learning_rate)
                or self.anneal_learning_rate
            ):
                raise ValueError(
                    "PPO: kl_adaptive_lr sets the learning rate itself; pass a "
                    "scalar learning_rate (and critic_learning_rate: their "
                    "initial values) and leave anneal_learning_rate off."
                )
        for name, value in (
            ("actor_optimizer", self.actor_optimizer),
            ("critic_optimizer", self.critic_optimizer),
        ):
            if value is not None and not isinstance(
                value, optax.GradientTransformation
            ):
                raise TypeError(
                    f"PPO: {name} must be an optax.GradientTransformation (for "
                    f"example optax.adam(1e-3)) or None, got {type(value).__name__}."
                )
        if self.critic_optimizer is not None and self.critic_learning_rate is not None:
            raise ValueError(
                "PPO: pass critic_learning_rate or critic_optimizer, not both "
                "(critic_optimizer replaces the critic's Adam and its rate)."
            )
        if self.shared_trunk not in (None, "actor", "critic"):
            raise ValueError(
                "PPO: shared_trunk must be 'actor' or 'critic', got "
                f"{self.shared_trunk!r}."
            )

    @property
    def batch_size(self) -> int:
        """The minibatch size, `num_envs * num_steps // num_batches`."""
        return self.num_envs * self.num_steps // self.num_batches

    @property
    def separate_optimizers(self) -> bool:
        """Whether the actor and the critic have separate optimisers."""
        return (
            self.critic_learning_rate is not None
            or self.actor_optimizer is not None
            or self.critic_optimizer is not None
        )

    def _adam(self, learning_rate) -> optax.GradientTransformation:
        """Adam at `learning_rate`, or at the KL-adaptive rate starting there."""
        if self.kl_adaptive_lr is not None:
            return optax.chain(
                optax.scale_by_adam(eps=self.adam_eps),
                scale_by_kl_adaptive_lr(learning_rate),
            )
        return optax.adam(learning_rate, eps=self.adam_eps)

    @property
    def optimizer(self) -> optax.GradientTransformation:
        """`clip_by_global_norm(max_grad_norm)` then Adam at `learning_rate`.

        With `anneal_learning_rate`, Adam's update is then scaled by the linear
        anneal factor (its horizon is set by `reset`). Built from the array
        leaves, so inside a compiled run it is traced. With `kl_adaptive_lr`,
        Adam's rate is the one held in the optimizer state
        (`scale_by_adam` then `scale_by_kl_adaptive_lr`). With separate
        optimisers, Adam (or the given transformation) is one per part, after
        the global clip (`split_actor_critic`).
        """
        if self.separate_optimizers:
            critic_rate = self.critic_learning_rate
            if critic_rate is None:
                critic_rate = self.learning_rate
            parts = [
                optax.clip_by_global_norm(self.max_grad_norm),
                split_actor_critic(
                    self._adam(self.learning_rate)
                    if self.actor_optimizer is None
                    else self.actor_optimizer,
                    self._adam(critic_rate)
                    if self.critic_optimizer is None
                    else self.critic_optimizer,
                ),
            ]
        elif self.kl_adaptive_lr is not None:
            parts = [
                optax.clip_by_global_norm(self.max_grad_norm),
                optax.scale_by_adam(eps=self.adam_eps),
                scale_by_kl_adaptive_lr(self.learning_rate),
            ]
        else:
            parts = [
                optax.clip_by_global_norm(self.max_grad_norm),
                optax.adam(self.learning_rate, eps=self.adam_eps),
            ]
        if self.anneal_learning_rate:
            parts.append(scale_by_linear_anneal())
        if isinstance(self.objective, AbstractStatefulObjective):
            # The objective's state rides along in the optimizer state.
            parts.append(carry_objective_state(self.objective))
        return optax.chain(*parts)

    def _rate_in_use(
        self,
        learning_rate: Float[Array, ""] | optax.Schedule,
        opt_state: optax.OptState,
        part_state: optax.OptState | None = None,
    ) -> Float[Array, ""]:
        """The rate the latest update used: scalar, schedule, KL rule, anneal.

        `part_state` is the part's own optimizer state (separate optimisers),
        searched for its `KLAdaptiveLRState`; `None` searches `opt_state`.
        """
        learning_rate = learning_rate_in_use(learning_rate, opt_state)
        adaptive = find_kl_adaptive_state(
            opt_state if part_state is None else part_state
        )
        if adaptive is not None:
            learning_rate = adaptive.last_used
        if self.anneal_learning_rate:
            learning_rate = learning_rate * last_anneal_factor(opt_state)
        return learning_rate

    def policy_objective(self) -> AbstractPolicyObjective:
        """The policy objective the loss uses.

        Returns:
            `objective`, or `ClippedSurrogate(clip_coefficient=clip_coefficient)`
            when it is `None`.
        """
        if self.objective is None:
            return ClippedSurrogate(clip_coefficient=self.clip_coefficient)
        return self.objective

    def num_updates(self, num_iterations: int) -> int:
        """The number of minibatch updates in a run: a schedule's horizon.

        An optax schedule passed as `learning_rate` is called with the count of
        minibatch updates made so far; a run of `num_iterations` iterations makes
        at most `num_iterations * num_epochs * num_batches` of them (fewer when
        `target_kl` stops epochs early or `on_nonfinite="skip"` skips updates:
        the count does not advance for them). `num_iterations` is
        `total_timesteps // (num_envs * num_steps)`, see `num_iterations`.

        Args:
            num_iterations: Iterations in the run.

        Returns:
            `num_iterations * num_epochs * num_batches`.
        """
        return int(num_iterations) * self.num_epochs * self.num_batches

    def post_reset(self, state: OnPolicyState[PolicyType]) -> OnPolicyState[PolicyType]:
        """Set up PPO's options in the initial state.

        Sets the anneal horizon (`anneal_learning_rate`), the reward-scaling
        state (`normalize_rewards`) and, with separate optimisers, which
        parameters the actor's optimiser owns (from the policy's
        `parameter_labels`).

        Args:
            state: The initial state `reset` built.

        Returns:
            The initial state; with `anneal_learning_rate`, its optimizer state
            anneals over `num_updates(state.num_iterations)` updates (a `resume`
            past the planned total continues at learning rate 0).
        """
        if self.anneal_learning_rate:
            horizon = self.num_updates(state.num_iterations)
            opt_state = set_anneal_horizon(state.opt_state, horizon)
            state = dataclasses.replace(state, opt_state=opt_state)
        if self.normalize_rewards:
            state = dataclasses.replace(
                state, reward_normalizer=RewardNormalizerState(self.num_envs)
            )
        if self.separate_optimizers:
            mask = actor_mask(state.policy, self.shared_trunk or "actor")
            opt_state = set_actor_mask(state.opt_state, mask)
            state = dataclasses.replace(state, opt_state=opt_state)
        if isinstance(self.objective, AbstractStatefulObjective):
            opt_state = with_objective_state(
                state.opt_state, self.objective.init_state(state.num_iterations)
            )
            state = dataclasses.replace(state, opt_state=opt_state)
        return state

    def _loss_args(self, opt_state: optax.OptState) -> tuple:
        return (
            self.normalize_advantages,
            self.clip_coefficient,
            self.clip_value_loss,
            self.value_loss_coefficient,
            self.entropy_loss_coefficient,
            self.clip_value_coefficient,
            self.objective,
            objective_state(opt_state),
        )

    def _flat_batch(
        self,
        view: FlatView,
        vector: Float[Array, " n"],
        opt_state: optax.OptState,
        batch: RolloutBuffer,
    ) -> tuple[Float[Array, " n"], optax.OptState, PPOStats]:
        """One update on the flat parameter vector (see `lerax.algorithm._flat`)."""
        loss = self.ppo_loss
        if self.compute_dtype is not None:
            loss = in_compute_dtype(loss, self.compute_dtype)
        grad_fn = jax.value_and_grad(flat_loss(loss, view), has_aux=True)
        (_, stats), grads = grad_fn(vector, batch, *self._loss_args(opt_state))
        updates, new_opt_state = self.optimizer.update(grads, opt_state, vector)
        new_vector = apply_flat_updates(vector, updates)
        if self.on_nonfinite == "ignore":
            return new_vector, new_opt_state, stats
        new_vector, new_opt_state, bad_loss, bad_gradient = guarded_update(
            stats.total_loss, grads, vector, opt_state, new_vector, new_opt_state
        )
        stats = dataclasses.replace(
            stats, nonfinite_loss=bad_loss, nonfinite_gradient=bad_gradient
        )
        return new_vector, new_opt_state, stats

    def _flat_epoch(
        self,
        view: FlatView,
        vector: Float[Array, " n"],
        opt_state: optax.OptState,
        buffer: RolloutBuffer,
        key: Key[Array, ""],
    ) -> tuple[Float[Array, " n"], optax.OptState, PPOStats]:
        """One epoch of minibatch updates on the flat parameter vector."""
        minibatches = _shuffled_minibatches(buffer, self.num_batches, key)

        def one_batch(carry, batch):
            vector, opt_state = carry
            vector, opt_state, stats = self._flat_batch(view, vector, opt_state, batch)
            rule = self.kl_adaptive_lr
            if rule is not None and rule.per == "minibatch":
                opt_state = adapt_learning_rate(opt_state, rule, stats.approx_kl)
            # The logged scalars leave the loop as ONE stacked vector per
            # minibatch (one write per step instead of one per statistic; all of
            # it is dead code, removed by XLA, when nothing reads the log). The
            # guard's counters and the per-minibatch explained variance stay
            # apart: the first are always read, the second rarely.
            stacked = jnp.stack(
                [jnp.asarray(getattr(stats, k), jnp.float32) for k in _STACKED]
            )
            rest = {k: v for k, v in vars(stats).items() if k not in _STACKED}
            return (vector, opt_state), (stacked, rest)

        (vector, opt_state), (stacked, rest) = filter_scan(
            one_batch, (vector, opt_state), minibatches
        )
        columns = {k: stacked[:, i] for i, k in enumerate(_STACKED)}
        rule = self.kl_adaptive_lr
        if rule is not None and rule.per == "epoch":
            # skrl: the mean KL of the epoch's minibatches.
            kl = jnp.mean(columns["approx_kl"])
            opt_state = adapt_learning_rate(opt_state, rule, kl)
        return vector, opt_state, PPOStats(**columns, **rest)

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
        view = FlatView(policy, opt_state)
        vector, opt_state, stats = self._flat_batch(
            view, view.vector, view.opt_state, rollout_buffer
        )
        policy, opt_state = view.restore(vector, opt_state)
        return policy, opt_state, stats

    def train_epoch(
        self,
        policy: PolicyType,
        opt_state: optax.OptState,
        rollout_buffer: RolloutBuffer,
        *,
        key: Key[Array, ""],
    ) -> tuple[PolicyType, optax.OptState, PPOStats]:
        """One pass over the rollout in `num_batches` shuffled minibatches.

        Args:
            policy: The current policy.
            opt_state: The optimizer state.
            rollout_buffer: The whole rollout, flattened to one batch axis, or
                (for a recurrent policy) with axes `(num_envs, num_steps)`:
                minibatches are then groups of whole environment sequences.
            key: A JAX PRNG key for the shuffle.

        Returns:
            The updated policy and optimizer state, and per-minibatch statistics
            (leading axis `num_batches`).
        """
        view = FlatView(policy, opt_state)
        vector, opt_state, stats = self._flat_epoch(
            view, view.vector, view.opt_state, rollout_buffer, key
        )
        policy, opt_state = view.restore(vector, opt_state)
        return policy, opt_state, stats

    def _next_objective_state(
        self, policy: PolicyType, opt_state: optax.OptState, flat: RolloutBuffer
    ) -> optax.OptState:
        """Advance a stateful objective's state with the rollout's KL after training."""
        # One more evaluation of the rollout: the KL(old || new) estimate
        # under the updated policy, as the adaptive-KL rule of Schulman et al.
        # (2017, section 4) measures it after each policy update.
        _, log_probs, _ = evaluate_buffer(policy, flat)
        log_ratio = log_probs - flat.log_probs
        kl = jax.lax.stop_gradient(jnp.mean(jnp.expm1(log_ratio) - log_ratio))
        state = self.objective.next_state(objective_state(opt_state), kl)
        return with_objective_state(opt_state, state)

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
            `PPOStats` over the minibatches of the epochs run, except that
            `explained_variance` is the usual rollout-level figure: that of the
            behaviour policy's values (those stored in the buffer) for the
            returns, and `learning_rate` is the rate of the iteration's last
            update (annealing included). `epochs_run` is the number of epochs
            run (`num_epochs` unless `target_kl` stopped early).

        Raises:
            ValueError: At trace time, if the policy is recurrent and
                `num_batches` does not divide `num_envs`.
        """
        if isinstance(policy, AbstractRecurrentActorCriticPolicy):
            # Whole sequences, split by environment, time order kept.
            if self.num_envs % self.num_batches:
                raise ValueError(
                    f"PPO: a recurrent policy trains on whole environment "
                    f"sequences, so num_batches={self.num_batches} must divide "
                    f"num_envs={self.num_envs}."
                )
            flat = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), buffer.without_next())
        else:
            flat = buffer.without_next().flatten()

        # The epochs run on one flat parameter vector (raveled once per
        # iteration): far fewer kernels per update than per-leaf optimizer steps.
        view = FlatView(policy, opt_state)

        def run_epoch(vector, opt_state, epoch_key):
            return self._flat_epoch(view, vector, opt_state, flat, epoch_key)

        def one_epoch(carry, epoch_key):
            vector, opt_state, running = carry
            if self.target_kl is None:
                vector, opt_state, stats = run_epoch(vector, opt_state, epoch_key)
                return (vector, opt_state, running), (stats, running)
            # Epochs after the KL stop are skipped by a branch, so they cost
            # nothing (under `jax.vmap` both branches run and one is selected).
            dynamic, static = eqx.partition((vector, opt_state), eqx.is_array)

            def run(dynamic):
                vector, opt_state = eqx.combine(dynamic, static)
                vector, opt_state, stats = run_epoch(vector, opt_state, epoch_key)
                return eqx.filter((vector, opt_state), eqx.is_array), stats

            stats_shape = jax.eval_shape(run, dynamic)[1]

            def skip(dynamic):
                zeros = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), stats_shape)
                return dynamic, zeros

            dynamic, stats = jax.lax.cond(running, run, skip, dynamic)
            vector, opt_state = eqx.combine(dynamic, static)
            still_running = running & (stats.approx_kl[-1] <= 1.5 * self.target_kl)
            return (vector, opt_state, still_running), (stats, running)

        (vector, opt_state, _), (stats, ran) = filter_scan(
            one_epoch,
            (view.vector, view.opt_state, jnp.ones((), bool)),
            jax.random.split(key, self.num_epochs),
        )
        policy, opt_state = view.restore(vector, opt_state)
        if isinstance(self.objective, AbstractStatefulObjective):
            opt_state = self._next_objective_state(policy, opt_state, flat)
        # `ran` has shape (num_epochs,); statistics (num_epochs, num_batches).
        weights = jnp.broadcast_to(ran[:, None], stats.approx_kl.shape)
        count = jnp.sum(weights)
        means = {
            name: value for name, value in vars(stats).items() if name != "objective"
        }
        # The objective's diagnostics are logged under their own keys.
        means.update(stats.objective)
        log = {
            name: jnp.sum(jnp.where(weights, value, 0.0)) / count
            for name, value in means.items()
        }
        log["nonfinite_loss"] = jnp.sum(jnp.where(weights, stats.nonfinite_loss, 0.0))
        log["nonfinite_gradient"] = jnp.sum(
            jnp.where(weights, stats.nonfinite_gradient, 0.0)
        )
        log["explained_variance"] = explained_variance(flat.values, flat.returns)
        log["learning_rate"] = self._rate_in_use(self.learning_rate, opt_state)
        if self.separate_optimizers and self.critic_optimizer is None:
            critic_rate = self.critic_learning_rate
            if critic_rate is None:
                critic_rate = self.learning_rate
            split = find_split_state(opt_state)
            log["critic_learning_rate"] = self._rate_in_use(
                critic_rate, opt_state, None if split is None else split.critic
            )
        log["epochs_run"] = jnp.sum(ran).astype(jnp.float32)
        return policy, opt_state, log
