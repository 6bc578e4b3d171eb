"""PQN: parallelised Q-learning on the on-policy engine (Gallici et al., 2025)."""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Int, Key, Scalar

from lerax._checks import check_size
from lerax._keywords import suggest_keywords
from lerax.buffer import RolloutBuffer
from lerax.callback import AbstractCallback
from lerax.env import AbstractEnvLike, auto_reset
from lerax.policy import AbstractQPolicy, EpsilonGreedyPolicy, masked_q_values

from ._flat import FlatView, apply_flat_updates, flat_loss
from ._hyperparameter import hyperparameter
from ._learning_rate import learning_rate_in_use
from ._nonfinite import guarded_update
from ._on_policy import AbstractOnPolicyAlgorithm
from ._on_policy_state import OnPolicyState, OnPolicyStepState
from ._scan import filter_scan
from ._schedule import last_anneal_factor, scale_by_linear_anneal, set_anneal_horizon
from ._step import next_step_state, record_step


def q_step(
    env: AbstractEnvLike,
    policy: EpsilonGreedyPolicy,
    state: OnPolicyStepState,
    *,
    key: Key[Array, ""],
    callback: AbstractCallback,
) -> tuple[OnPolicyStepState, RolloutBuffer]:
    """One epsilon-greedy step of one environment, with auto-reset.

    The `step` of `PQN`: it asks the environment for an action mask, draws an
    epsilon-greedy action (`EpsilonGreedyPolicy.act`), steps the environment,
    tells the callback and, where the episode ended, resets the environment
    and the policy state. The buffer entry keeps the pre-reset next
    observation, policy state and action mask, so Q(lambda) can bootstrap a
    truncated episode from its true final state over its allowed actions; its
    `values` are the Q-values of the actions taken and its `log_probs` their
    epsilon-greedy log-probabilities.

    Args:
        env: The environment.
        policy: The epsilon-greedy behaviour policy.
        state: The step state of this environment.
        key: A JAX PRNG key.
        callback: The callback.

    Returns:
        The next step state and the buffer entry of this step.
    """
    mask_key, action_key, env_key, next_mask_key, reset_key, policy_key, cb_key = (
        jax.random.split(key, 7)
    )
    action_mask = env.action_mask(state.env_state, key=mask_key)
    policy_state, action, q_value, log_prob = policy.act(
        state.policy_state, state.observation, key=action_key, action_mask=action_mask
    )
    env_state, observation, reward, terminated, truncated, _ = env.step(
        state.env_state, action, key=env_key
    )
    next_action_mask = env.action_mask(env_state, key=next_mask_key)
    outcome = record_step(
        state,
        callback,
        action=action,
        reward=reward,
        terminated=terminated,
        truncated=truncated,
        action_mask=action_mask,
        key=cb_key,
    )
    entry = RolloutBuffer(
        observations=state.observation,
        actions=action,
        rewards=outcome.reward,
        terminations=outcome.terminated,
        truncations=outcome.truncated,
        log_probs=log_prob,
        values=q_value,
        policy_states=state.policy_state,
        next_observations=observation,
        next_policy_states=policy_state,
        action_masks=action_mask,
        next_action_masks=next_action_mask,
    )
    # The env's declared `reset_scheme` decides how the reset is computed
    # (`lerax.env.auto_reset`, as in `actor_critic_step`).
    next_env_state, next_observation = auto_reset(
        env, env_state, observation, outcome.done, key=reset_key
    )
    next_state = next_step_state(
        outcome,
        env_state=next_env_state,
        observation=next_observation,
        policy_state=policy_state,
        reset_policy_state=policy.reset(key=policy_key),
    )
    return next_state, entry


def _minibatches(
    buffer: RolloutBuffer, num_batches: int, key: Key[Array, ""]
) -> RolloutBuffer:
    # Shuffled minibatches of samples (one leading axis) or of whole
    # environment sequences (two: a recurrent policy's).
    if buffer.rewards.ndim == 1:
        return buffer.shuffled_minibatches(num_batches, key=key)
    num_sequences = buffer.rewards.shape[0]
    permutation = jax.random.permutation(key, num_sequences)
    return buffer.take(permutation.reshape(num_batches, num_sequences // num_batches))


def linear_epsilon(
    iteration: Int[Array, ""],
    num_iterations: int,
    *,
    start: Float[Array, ""],
    finish: Float[Array, ""],
    decay_fraction: Float[Array, ""],
) -> Float[Array, ""]:
    """Epsilon decaying linearly from `start` to `finish`, then constant.

    Args:
        iteration: The iteration (from 0).
        num_iterations: The iterations planned for the run.
        start: Epsilon at iteration 0.
        finish: Epsilon from `decay_fraction * num_iterations` on.
        decay_fraction: The fraction of the run over which epsilon decays.

    Returns:
        `start + (finish - start) * min(iteration / (decay_fraction *
        num_iterations), 1)`.
    """
    horizon = jnp.maximum(decay_fraction * num_iterations, 1e-8)
    progress = jnp.clip(iteration.astype(jnp.float32) / horizon, 0.0, 1.0)
    return start + (finish - start) * progress


class PQN(AbstractOnPolicyAlgorithm):
    """Parallelised Q-Network (Gallici et al., ICLR 2025): Q(lambda) without replay.

    Q-learning on the on-policy engine: each iteration collects a `num_steps x
    num_envs` rollout with an epsilon-greedy behaviour policy, computes Peng's
    Q(lambda) returns by a reverse scan (`lerax.buffer.q_lambda_returns`:
    termination cuts the bootstrap, truncation bootstraps from the maximum
    Q-value of the true final observation), then trains the Q-network for
    `num_epochs` epochs of `num_batches` shuffled minibatches on the squared TD
    error `0.5 (Q(s, a) - G)^2`. There is no replay buffer and no target
    network; the paper's LayerNorm in the network (`MLPQPolicy`) keeps it
    stable. Actions must be `Discrete`; action masks are honoured when acting
    and bootstrapping. A recurrent Q-policy (`GRUQPolicy`, PQN-RNN) trains on
    whole environment sequences: minibatches are groups of environments
    (`num_batches` must divide `num_envs`) replayed in time order.

    Epsilon decays linearly from `epsilon_start` to `epsilon_finish` over the
    first `epsilon_decay_fraction` of the run's iterations. The optimizer is
    RAdam after global-norm clipping, its learning rate decaying linearly to 0
    over the run with `anneal_learning_rate`. The defaults are purejaxql's
    MinAtar configuration (`purejaxql/config/alg/pqn_minatar.yaml`; Gallici et
    al.'s reference code); `lerax.presets.pqn("CartPole-v1")` is a tuned
    classic-control one.

    Attributes:
        num_envs: Parallel environments (`NUM_ENVS`).
        num_steps: Steps per environment per iteration (`NUM_STEPS`).
        num_epochs: Passes over each rollout (`NUM_EPOCHS`).
        num_batches: Minibatches per epoch (`NUM_MINIBATCHES`).
        gamma: The discount (`GAMMA`).
        q_lambda: The lambda of the Q(lambda) returns (`LAMBDA`).
        learning_rate: RAdam's learning rate (`LR`), a scalar or an optax
            schedule.
        anneal_learning_rate: Decay the learning rate linearly to 0 over the
            run (`LR_LINEAR_DECAY`).
        max_grad_norm: The global gradient-norm clip (`MAX_GRAD_NORM`).
        epsilon_start: Initial exploration probability (`EPS_START`).
        epsilon_finish: Final exploration probability (`EPS_FINISH`).
        epsilon_decay_fraction: Fraction of the run over which epsilon decays
            (`EPS_DECAY`).
        on_nonfinite: What a NaN or Inf does: "error", "skip" or "ignore".
    """

    num_envs: int = eqx.field(static=True)
    num_steps: int = eqx.field(static=True)
    num_epochs: int = eqx.field(static=True)
    num_batches: int = eqx.field(static=True)
    gamma: Float[Array, ""] = hyperparameter(low=0.0, high=1.0, low_open=True)
    q_lambda: Float[Array, ""] = hyperparameter(low=0.0, high=1.0)
    learning_rate: Float[Array, ""] | optax.Schedule = hyperparameter(
        low=0.0, low_open=True
    )
    anneal_learning_rate: bool = eqx.field(static=True)
    max_grad_norm: Float[Array, ""] = hyperparameter(low=0.0, low_open=True)
    epsilon_start: Float[Array, ""] = hyperparameter(low=0.0, high=1.0)
    epsilon_finish: Float[Array, ""] = hyperparameter(low=0.0, high=1.0)
    epsilon_decay_fraction: Float[Array, ""] = hyperparameter(
        low=0.0, high=1.0, low_open=True
    )
    on_nonfinite: str = eqx.field(static=True)

    @suggest_keywords
    def __init__(
        self,
        *,
        num_envs: int = 128,
        num_steps: int = 32,
        num_epochs: int = 2,
        num_batches: int = 32,
        gamma: float = 0.99,
        q_lambda: float = 0.65,
        learning_rate: optax.ScalarOrSchedule = 5e-4,
        anneal_learning_rate: bool = True,
        max_grad_norm: float = 10.0,
        epsilon_start: float = 1.0,
        epsilon_finish: float = 0.05,
        epsilon_decay_fraction: float = 0.1,
        on_nonfinite: str = "error",
    ):
        """Configure PQN.

        Args:
            num_envs: Parallel environments.
            num_steps: Steps per environment per iteration.
            num_epochs: Passes over each rollout.
            num_batches: Minibatches per epoch; must divide `num_envs *
                num_steps`.
            gamma: Discount factor, in (0, 1].
            q_lambda: Lambda of the Q(lambda) returns, in [0, 1] (0: one-step
                Q-learning targets).
            learning_rate: RAdam learning rate (> 0) or an optax schedule.
            anneal_learning_rate: Decay the learning rate linearly to 0 over the
                run's updates.
            max_grad_norm: Global gradient-norm clip, > 0.
            epsilon_start: Initial exploration probability, in [0, 1].
            epsilon_finish: Final exploration probability, in [0, 1].
            epsilon_decay_fraction: Fraction of the iterations over which epsilon
                decays, in (0, 1].
            on_nonfinite: "error" (default), "skip" or "ignore" (see `PPO`).

        Raises:
            ValueError: If an argument is out of range (the message names it).
        """
        self.num_envs = num_envs
        self.num_steps = num_steps
        self.num_epochs = num_epochs
        self.num_batches = num_batches
        self.gamma = gamma
        self.q_lambda = q_lambda
        self.learning_rate = learning_rate
        self.anneal_learning_rate = bool(anneal_learning_rate)
        self.max_grad_norm = max_grad_norm
        self.epsilon_start = epsilon_start
        self.epsilon_finish = epsilon_finish
        self.epsilon_decay_fraction = epsilon_decay_fraction
        self.on_nonfinite = on_nonfinite

    def __check_init__(self):
        check_size("PQN", "num_envs", self.num_envs)
        check_size("PQN", "num_steps", self.num_steps)
        check_size("PQN", "num_epochs", self.num_epochs)
        check_size("PQN", "num_batches", self.num_batches)
        if (self.num_envs * self.num_steps) % self.num_batches:
            raise ValueError(
                f"PQN: num_batches={self.num_batches} must divide num_envs * "
                f"num_steps = {self.num_envs * self.num_steps}."
            )

    @property
    def batch_size(self) -> int:
        """The minibatch size, `num_envs * num_steps // num_batches`."""
        return self.num_envs * self.num_steps // self.num_batches

    @property
    def optimizer(self) -> optax.GradientTransformation:
        """`clip_by_global_norm(max_grad_norm)` then RAdam (then the anneal)."""
        parts = [
            optax.clip_by_global_norm(self.max_grad_norm),
            optax.radam(self.learning_rate),
        ]
        if self.anneal_learning_rate:
            parts.append(scale_by_linear_anneal())
        return optax.chain(*parts)

    def num_updates(self, num_iterations: int) -> int:
        """The minibatch updates of a run: `num_iterations * num_epochs * num_batches`.

        Args:
            num_iterations: Iterations in the run.

        Returns:
            The number of updates (the learning-rate anneal's horizon).
        """
        return int(num_iterations) * self.num_epochs * self.num_batches

    def epsilon(
        self, iteration: Int[Array, ""], num_iterations: int
    ) -> Float[Array, ""]:
        """The exploration probability of an iteration.

        Args:
            iteration: The iteration (from 0).
            num_iterations: The iterations planned for the run.

        Returns:
            The scheduled epsilon (see `linear_epsilon`).
        """
        return linear_epsilon(
            iteration,
            num_iterations,
            start=self.epsilon_start,
            finish=self.epsilon_finish,
            decay_fraction=self.epsilon_decay_fraction,
        )

    def post_reset(self, state: OnPolicyState) -> OnPolicyState:
        """Set the learning-rate anneal's horizon (`anneal_learning_rate`).

        Args:
            state: The initial state.

        Returns:
            The state, its optimizer annealing over the run's updates.
        """
        if self.anneal_learning_rate:
            horizon = self.num_updates(state.num_iterations)
            opt_state = set_anneal_horizon(state.opt_state, horizon)
            state = dataclasses.replace(state, opt_state=opt_state)
        return state

    def behaviour_policy(self, state: OnPolicyState) -> EpsilonGreedyPolicy:
        """The Q-policy acting epsilon-greedily at this iteration's epsilon.

        Args:
            state: The algorithm state before the iteration.

        Returns:
            An `EpsilonGreedyPolicy` around `state.policy`.

        Raises:
            TypeError: If the policy is not an `AbstractQPolicy`.
            ValueError: If the policy is recurrent and `num_batches` does not
                divide `num_envs`.
        """
        if not isinstance(state.policy, AbstractQPolicy):
            raise TypeError(
                "PQN needs a Q-policy (an AbstractQPolicy such as MLPQPolicy or "
                f"CNNQPolicy), got {type(state.policy).__name__}."
            )
        if state.policy.is_recurrent and self.num_envs % self.num_batches:
            raise ValueError(
                f"PQN: a recurrent Q-policy trains on whole environment "
                f"sequences, so num_batches={self.num_batches} must divide "
                f"num_envs={self.num_envs}."
            )
        epsilon = self.epsilon(state.iteration_count, state.num_iterations)
        return EpsilonGreedyPolicy(state.policy, epsilon)

    def step(
        self,
        env: AbstractEnvLike,
        policy: EpsilonGreedyPolicy,
        state: OnPolicyStepState,
        *,
        key: Key[Array, ""],
        callback: AbstractCallback,
    ) -> tuple[OnPolicyStepState, RolloutBuffer]:
        """One epsilon-greedy environment step with auto-reset (`q_step`).

        Args:
            env: The environment.
            policy: The behaviour policy (`behaviour_policy`).
            state: The step state of this environment.
            key: A JAX PRNG key.
            callback: The callback for this step.

        Returns:
            The new step state and the buffer entry of this step.
        """
        return q_step(env, policy, state, key=key, callback=callback)

    def post_collect(
        self,
        env: AbstractEnvLike,
        policy: AbstractQPolicy,
        step_state: OnPolicyStepState,
        buffer: RolloutBuffer,
        *,
        key: Key[Array, ""],
    ) -> RolloutBuffer:
        """Fill the Q(lambda) returns.

        `max_a Q(s', a)` of every pre-reset next observation, over its allowed
        actions, in one batched pass, then `RolloutBuffer.with_q_lambda`.

        Args:
            env: The environment.
            policy: The Q-policy that collected the buffer.
            step_state: The step state after the rollout.
            buffer: The collected buffer.
            key: Unused.

        Returns:
            The buffer with `returns` (the targets) and `advantages`.
        """
        del env, step_state, key

        def max_q(policy_state, observation, mask):
            q = policy.q_values(policy_state, observation)[1]
            return jnp.max(masked_q_values(q, mask))

        next_max_q = jax.vmap(jax.vmap(max_q))(
            buffer.next_policy_states,
            buffer.next_observations,
            buffer.next_action_masks,
        )
        return buffer.with_q_lambda(
            next_max_q, gamma=self.gamma, q_lambda=self.q_lambda
        )

    @staticmethod
    def td_loss(
        policy: AbstractQPolicy, batch: RolloutBuffer
    ) -> tuple[Float[Array, ""], Float[Array, ""]]:
        """`0.5 * mean((Q(s, a) - G)^2)` on a batch, and the mean `Q(s, a)`.

        A batch with one leading axis holds independent samples, each scored
        from its stored policy state; one with two, `(sequences, num_steps)`,
        holds whole sequences (a recurrent policy's), re-run with
        `q_sequence` from the stored state at the first step and at each
        episode start.

        Args:
            policy: The Q-policy.
            batch: A batch with `returns` filled.

        Returns:
            `(loss, mean_q)`.
        """
        if batch.rewards.ndim == 2:
            dones = batch.terminations | batch.truncations
            starts = jnp.concatenate(
                [jnp.ones_like(dones[:, :1]), dones[:, :-1]], axis=1
            )
            q_all = jax.vmap(policy.q_sequence)(
                batch.policy_states, batch.observations, starts
            )
            q = jnp.take_along_axis(q_all, batch.actions[..., None], axis=-1)[..., 0]
        else:

            def q_taken(policy_state, observation, action):
                return policy.q_values(policy_state, observation)[1][action]

            q = jax.vmap(q_taken)(
                batch.policy_states, batch.observations, batch.actions
            )
        targets = jax.lax.stop_gradient(batch.returns)
        return 0.5 * jnp.mean((q - targets) ** 2), jnp.mean(q)

    def train(
        self,
        policy: AbstractQPolicy,
        opt_state: optax.OptState,
        buffer: RolloutBuffer,
        *,
        key: Key[Array, ""],
    ) -> tuple[AbstractQPolicy, optax.OptState, dict[str, Scalar]]:
        """`num_epochs` epochs of `num_batches` shuffled minibatch TD updates.

        Args:
            policy: The current Q-policy.
            opt_state: The optimizer state.
            buffer: The rollout with its Q(lambda) returns. For a recurrent
                policy minibatches are groups of whole environment sequences
                (`num_batches` divides `num_envs`), replayed in time order.
            key: A JAX PRNG key for the shuffles.

        Returns:
            The updated policy and optimizer state, and a log: `td_loss` and
            `q_mean` (means over the minibatches), `target_mean`,
            `learning_rate` (of the last update) and the guard's
            `nonfinite_loss` / `nonfinite_gradient` counts.
        """
        if policy.is_recurrent:
            # Whole sequences, split by environment, time order kept.
            flat = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), buffer.without_next())
        else:
            flat = buffer.without_next().flatten()
        view = FlatView(policy, opt_state)
        grad_fn = jax.value_and_grad(flat_loss(self.td_loss, view), has_aux=True)

        def one_batch(carry, batch):
            vector, opt_state = carry
            (loss, q_mean), grads = grad_fn(vector, batch)
            updates, new_opt_state = self.optimizer.update(grads, opt_state, vector)
            new_vector = apply_flat_updates(vector, updates)
            bad_loss = bad_gradient = jnp.zeros((), jnp.float32)
            if self.on_nonfinite != "ignore":
                new_vector, new_opt_state, bad_loss, bad_gradient = guarded_update(
                    loss, grads, vector, opt_state, new_vector, new_opt_state
                )
            stats = jnp.stack([loss, q_mean, bad_loss, bad_gradient]).astype(
                jnp.float32
            )
            return (new_vector, new_opt_state), stats

        def one_epoch(carry, epoch_key):
            minibatches = _minibatches(flat, self.num_batches, epoch_key)
            return filter_scan(one_batch, carry, minibatches)

        (vector, opt_state), stats = filter_scan(
            one_epoch,
            (view.vector, view.opt_state),
            jax.random.split(key, self.num_epochs),
        )
        policy, opt_state = view.restore(vector, opt_state)
        learning_rate = learning_rate_in_use(self.learning_rate, opt_state)
        if self.anneal_learning_rate:
            learning_rate = learning_rate * last_anneal_factor(opt_state)
        log = {
            "td_loss": jnp.mean(stats[..., 0]),
            "q_mean": jnp.mean(stats[..., 1]),
            "target_mean": jnp.mean(flat.returns),
            "learning_rate": learning_rate,
        }
        if self.on_nonfinite != "ignore":
            log["nonfinite_loss"] = jnp.sum(stats[..., 2])
            log["nonfinite_gradient"] = jnp.sum(stats[..., 3])
        return policy, opt_state, log
