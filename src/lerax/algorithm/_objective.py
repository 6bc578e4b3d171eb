"""Policy objectives as modules: the interface PPO's policy term is written against.

PPO's loss is `policy_loss + value_loss_coefficient * value_loss +
entropy_loss_coefficient * entropy_loss`. The first term is an
`AbstractPolicyObjective`: a module that maps a minibatch's quantities
(`ObjectiveInputs`: log-ratio, ratio, advantages, old and new log-probabilities)
to the policy loss and a dict of diagnostics. Its numeric parameters are array
leaves, so `eqx.filter_vmap` over PPO instances with different objective
parameters is one compiled program, and an evolution strategy can perturb them.

Two partial implementations cover the families the shipped objectives belong to:

- `AbstractDriftObjective`: the mirror-learning form of Lu et al. (2022),
  `loss = -mean(ratio * A - drift(ratio, A))` with a drift that is non-negative
  and zero (with zero gradient) at `ratio = 1`. A subclass writes `drift`.
- `AbstractStatefulObjective`: an objective with a state carried across
  iterations (an adaptive KL coefficient, an annealed step size). PPO keeps the
  state in its optimizer state (`ObjectiveOptState`, the last element of its
  optax chain: the run state that checkpoints and `resume` already carry),
  passes it in as `ObjectiveInputs.state` and, after each iteration's epochs,
  replaces it with `next_state(state, kl)`, `kl` being the KL(old || new)
  estimate of the rollout under the updated policy.

No `from __future__ import annotations` here (see `_on_policy_state.py`).
"""

from abc import abstractmethod
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, PyTree

from ._hyperparameter import check_hyperparameters


class ObjectiveInputs(eqx.Module):
    """What a policy objective sees of one minibatch.

    Every array is shaped like the minibatch's rewards: `(batch,)`, or
    `(sequences, num_steps)` for a recurrent policy. Every sample counts (there
    is no padding to mask out). Distributions are not passed: a divergence
    between the old and the new policy is estimated from the log-ratio of the
    taken actions (for example `(ratio - 1) - log_ratio`, an unbiased estimate
    of KL(old || new)).

    Attributes:
        log_ratio: `log_probs - old_log_probs`, differentiable.
        ratio: `exp(log_ratio)`, differentiable.
        advantages: The advantages, normalised per minibatch when PPO's
            `normalize_advantages` is set.
        log_probs: Log-probabilities of the taken actions under the policy being
            trained (differentiable).
        old_log_probs: Their log-probabilities under the behaviour policy.
        state: The objective's state (an `AbstractStatefulObjective`'s, from
            `init_state`/`next_state`), or `None`.
    """

    log_ratio: Float[Array, "*batch"]
    ratio: Float[Array, "*batch"]
    advantages: Float[Array, "*batch"]
    log_probs: Float[Array, "*batch"]
    old_log_probs: Float[Array, "*batch"]
    state: PyTree = None


class AbstractPolicyObjective(eqx.Module):
    """The policy term of PPO's loss, as a module.

    A concrete objective implements `__call__`. Its numeric parameters should be
    declared with `lerax.algorithm.hyperparameter` (array leaves with a range,
    checked when the objective is built); sizes and flags are static fields.
    """

    def __check_init__(self):
        check_hyperparameters(self)

    @abstractmethod
    def __call__(
        self, inputs: ObjectiveInputs
    ) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
        """The policy loss of one minibatch (to minimise) and its diagnostics.

        Args:
            inputs: The minibatch's quantities.

        Returns:
            `(policy_loss, diagnostics)`: a scalar, and a dict of scalars that
            PPO averages over the iteration's minibatches into its log under the
            dict's keys (keep them distinct from `PPOStats`' fields). Return the
            same keys for every call.
        """


class AbstractDriftObjective(AbstractPolicyObjective):
    """An objective of the mirror-learning form: `ratio * A` minus a drift.

    `loss = -mean(ratio * advantages - drift)`. Kuba et al. (2022) and Lu et
    al. (2022) show that a drift which is non-negative, zero at `ratio = 1` and
    has zero gradient there keeps the policy-improvement guarantees of mirror
    learning; PPO's clip, DPO and SPO's quadratic penalty are such drifts. A
    subclass implements `drift`; the diagnostics hold its mean (`"drift"`).
    """

    @abstractmethod
    def drift(self, inputs: ObjectiveInputs) -> Float[Array, "*batch"]:
        """The drift of each sample.

        Args:
            inputs: The minibatch's quantities.

        Returns:
            One non-negative drift per sample, zero where `ratio == 1`.
        """

    def __call__(
        self, inputs: ObjectiveInputs
    ) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
        """`-mean(ratio * advantages - drift)`, and the mean drift.

        Args:
            inputs: The minibatch's quantities.

        Returns:
            `(policy_loss, {"drift": mean drift})`.
        """
        drift = self.drift(inputs)
        loss = -(inputs.ratio * inputs.advantages - drift).mean()
        return loss, {"drift": jax.lax.stop_gradient(drift.mean())}


class AbstractStatefulObjective(AbstractPolicyObjective):
    """An objective with a state that changes from one iteration to the next.

    PPO calls `init_state` when a run starts, passes the state to every
    minibatch as `ObjectiveInputs.state`, and after each iteration's epochs
    replaces it with `next_state`. The state lives in PPO's optimizer state
    (see the module docstring), so it is checkpointed and resumed with the run
    and is per-seed under `jax.vmap(learn)`.
    """

    @abstractmethod
    def init_state(self, num_iterations: int) -> PyTree[Array]:
        """The state at the start of a run.

        Args:
            num_iterations: The run's planned number of iterations.

        Returns:
            A pytree of arrays (its structure must not change across
            iterations).
        """

    @abstractmethod
    def next_state(self, state: PyTree[Array], kl: Float[Array, ""]) -> PyTree[Array]:
        """The state for the next iteration.

        Args:
            state: The current state.
            kl: The estimate `mean((ratio - 1) - log_ratio)` of KL(old || new)
                over the iteration's rollout, under the policy after the
                iteration's updates.

        Returns:
            The new state, with the structure of `state`.
        """


class ObjectiveOptState(NamedTuple):
    """The optimizer-state element that carries a stateful objective's state.

    Attributes:
        state: The objective's state.
    """

    state: PyTree[Array]


def carry_objective_state(
    objective: AbstractStatefulObjective,
) -> optax.GradientTransformation:
    """An optax transformation that leaves updates alone and holds a state.

    Appended to PPO's optimizer chain for an `AbstractStatefulObjective`; its
    initial state is `objective.init_state(1)`, replaced by PPO's `post_reset`
    once the run's number of iterations is known.

    Args:
        objective: The stateful objective.

    Returns:
        The transformation.
    """

    def init(params: PyTree) -> ObjectiveOptState:
        del params
        return ObjectiveOptState(objective.init_state(1))

    def update(updates, state, params=None):
        del params
        return updates, state

    return optax.GradientTransformation(init, update)


def _is_objective_opt_state(x: Any) -> bool:
    return isinstance(x, ObjectiveOptState)


def objective_state(opt_state: optax.OptState) -> PyTree[Array]:
    """The objective state held in an optimizer state, or `None` if it has none.

    Args:
        opt_state: An optimizer state (any nesting of optax states).

    Returns:
        The state of its `ObjectiveOptState`, or `None`.
    """
    found = [
        node.state
        for node in jax.tree.leaves(opt_state, is_leaf=_is_objective_opt_state)
        if isinstance(node, ObjectiveOptState)
    ]
    return found[0] if found else None


def with_objective_state(
    opt_state: optax.OptState, state: PyTree[Array]
) -> optax.OptState:
    """An optimizer state with its `ObjectiveOptState` replaced.

    Args:
        opt_state: An optimizer state holding an `ObjectiveOptState`.
        state: The new objective state.

    Returns:
        The optimizer state, otherwise unchanged.
    """

    def replace(node):
        if isinstance(node, ObjectiveOptState):
            cast = jax.tree.map(
                lambda new, old: jnp.asarray(new, old.dtype), state, node.state
            )
            return ObjectiveOptState(cast)
        return node

    return jax.tree.map(replace, opt_state, is_leaf=_is_objective_opt_state)
