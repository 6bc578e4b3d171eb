"""The callback interface: pytree state threaded through the compiled training run.

A callback never mutates anything. Its state lives in the algorithm's state (one
`AbstractCallbackStepState` per environment, carried through the rollout scan, and
one `AbstractCallbackState` carried through the iteration scan). Host side effects
(printing, logging) leave the compiled program only through JAX host callbacks.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, Key, PyTree, Scalar

from lerax._abstract import AbstractMarker


class AbstractCallbackState(AbstractMarker):
    """A callback's per-run state, updated once per iteration."""


class AbstractCallbackStepState(AbstractMarker):
    """A callback's per-environment state, updated once per environment step."""


class EmptyCallbackState(AbstractCallbackState):
    """The state of a callback that keeps none (no leaves: free to carry)."""


class EmptyCallbackStepState(AbstractCallbackStepState):
    """The step state of a callback that keeps none (no leaves: free to carry)."""


class ResetContext(eqx.Module):
    """What a callback sees when training starts.

    Attributes:
        num_envs: The number of parallel environments.
        num_steps: The rollout length per environment and iteration.
        num_iterations: The number of iterations the run will make.
        total_timesteps: `num_envs * num_steps * num_iterations`.
        policy: The policy before training (callbacks that keep a copy of a
            policy size it by this one); `None` if the algorithm gives none.
        algorithm: The algorithm (callbacks that report hyperparameters read
            them from it); `None` if the algorithm gives none.
        agents: The agents' names, in order, when the algorithm trains a team
            (IPPO, MAPPO); `None` for a single agent.
    """

    num_envs: int = eqx.field(static=True)
    num_steps: int = eqx.field(static=True)
    num_iterations: int = eqx.field(static=True)
    total_timesteps: int = eqx.field(static=True)
    policy: Any = None
    algorithm: Any = None
    agents: tuple[str, ...] | None = eqx.field(static=True, default=None)


class StepContext(eqx.Module):
    """What a callback sees after one step of one environment.

    `episode_return` and `episode_length` are those of the episode the step belongs
    to, including this step; when `done` is true they are the completed episode's.

    Attributes:
        state: This environment's callback step state before the step.
        observation: The observation the action was chosen from.
        action: The action the environment received (with `clip_actions`, a
            `Box` action clipped to the space's bounds).
        reward: The reward received.
        terminated: Whether the episode terminated with this step.
        truncated: Whether the episode was truncated with this step.
        done: `terminated | truncated`.
        episode_return: The undiscounted return of the episode so far.
        episode_length: The length of the episode so far.
        action_mask: The action mask the action was chosen under (`None` when
            the environment has none).
    """

    state: AbstractCallbackStepState
    observation: PyTree
    action: PyTree
    reward: Float[Array, ""]
    terminated: Bool[Array, ""]
    truncated: Bool[Array, ""]
    done: Bool[Array, ""]
    episode_return: Float[Array, ""]
    episode_length: Int[Array, ""]
    action_mask: PyTree = None


class IterationContext(eqx.Module):
    """What a callback sees after one iteration (rollout and training).

    Attributes:
        state: The callback state before this iteration.
        step_states: Every environment's callback step state (leading axis
            `num_envs`).
        iteration: The index of the iteration just finished (from 0).
        num_iterations: The total number of iterations of the run.
        timesteps: Environment steps taken so far, this iteration included.
        log: The training statistics the algorithm reported (scalars).
        policy: The policy after this iteration's update.
        rewards: The rollout's raw (unnormalized) rewards, axes
            `(num_steps, num_envs)`; `None` if the algorithm gives none.
        dones: The rollout's done flags (terminated or truncated), same axes;
            `None` if the algorithm gives none. With `rewards`, what the
            episode-counting callbacks read, once per iteration.
        agent_rewards: Each agent's raw rewards, axes `(num_steps, num_envs,
            num_agents)` (agents in `ResetContext.agents` order), when the
            algorithm trains a team; `rewards` is then the team reward (the
            mean over the agents). `None` for a single agent.
    """

    state: AbstractCallbackState
    step_states: AbstractCallbackStepState
    iteration: Int[Array, ""]
    num_iterations: int = eqx.field(static=True)
    timesteps: Int[Array, ""]
    log: dict[str, Scalar]
    policy: Any
    rewards: Float[Array, "num_steps num_envs"] | None = None
    dones: Bool[Array, "num_steps num_envs"] | None = None
    agent_rewards: Float[Array, "num_steps num_envs num_agents"] | None = None


class AbstractCallback(eqx.Module):
    """Hooks called inside the compiled training run.

    Subclasses implement the four hooks; each is pure and returns the new state.
    `on_step` runs for one environment, under `jax.vmap` over environments.
    """

    @abstractmethod
    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> AbstractCallbackState:
        """The callback state at the start of training.

        Args:
            ctx: The run's sizes.
            key: A JAX PRNG key.

        Returns:
            The initial callback state.
        """

    @abstractmethod
    def step_reset(self, *, key: Key[Array, ""]) -> AbstractCallbackStepState:
        """The step state of one environment at the start of training.

        Args:
            key: A JAX PRNG key.

        Returns:
            The initial step state (the algorithm vmaps this over environments).
        """

    @abstractmethod
    def on_step(
        self, ctx: StepContext, *, key: Key[Array, ""]
    ) -> AbstractCallbackStepState:
        """Update one environment's step state after a step.

        Args:
            ctx: The step's data and the current step state.
            key: A JAX PRNG key.

        Returns:
            The new step state.
        """

    @abstractmethod
    def on_iteration(
        self, ctx: IterationContext, *, key: Key[Array, ""]
    ) -> AbstractCallbackState:
        """Update the callback state after an iteration.

        Args:
            ctx: The iteration's data and the current callback state.
            key: A JAX PRNG key.

        Returns:
            The new callback state.
        """

    def extend(
        self, state: AbstractCallbackState, ctx: ResetContext
    ) -> AbstractCallbackState:
        """Adapt the state to a run extended by `resume` to `ctx.num_iterations`.

        Callbacks that keep per-iteration records sized by the planned number of
        iterations grow them here (so resuming past the plan records every new
        iteration); the default keeps the state as it is, which is right for
        callbacks without such records.

        Args:
            state: The callback state of the run so far.
            ctx: The run's sizes, with the new total `num_iterations`.

        Returns:
            The callback state for the longer run.
        """
        del ctx
        return state


def grow_records(records: PyTree, num_iterations: int, fill: Any) -> PyTree:
    """Pad every `(n, ...)` array of `records` to `(num_iterations, ...)` with `fill`.

    Args:
        records: A pytree of arrays whose leading axis is the iteration.
        num_iterations: The new length (never shorter than the old one).
        fill: The value of the new entries.

    Returns:
        The padded records.
    """

    def pad(x):
        extra = num_iterations - x.shape[0]
        if extra <= 0:
            return x
        tail = jnp.full((extra, *x.shape[1:]), fill, x.dtype)
        return jnp.concatenate([x, tail])

    return jax.tree.map(pad, records)


class AbstractIterationCallback(AbstractCallback):
    """A callback that acts once per iteration and keeps no per-environment state.

    Supplies `step_reset` and `on_step` (both the empty step state, which has no
    leaves, so the rollout carries nothing for it); subclasses implement `reset`
    and `on_iteration`.
    """

    def step_reset(self, *, key: Key[Array, ""]) -> EmptyCallbackStepState:
        """No per-environment state.

        Args:
            key: Ignored.

        Returns:
            `EmptyCallbackStepState()`.
        """
        return EmptyCallbackStepState()

    def on_step(
        self, ctx: StepContext, *, key: Key[Array, ""]
    ) -> EmptyCallbackStepState:
        """Nothing to do per step.

        Args:
            ctx: Ignored.
            key: Ignored.

        Returns:
            `EmptyCallbackStepState()`.
        """
        return EmptyCallbackStepState()


def check_log_keys(owner: str, keys: tuple[str, ...], log: dict[str, Any]) -> None:
    """Raise, at trace time, if `log` lacks any of `keys`.

    Args:
        owner: The callback's name, for the message.
        keys: The entries the callback needs.
        log: The algorithm's training log.

    Raises:
        KeyError: Naming the missing entries and the available ones.
    """
    missing = [k for k in keys if k not in log]
    if missing:
        raise KeyError(
            f"{owner}: the training log has no entry {missing}; it has {sorted(log)}."
        )
