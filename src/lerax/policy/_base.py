"""Abstract policies and policy states.

No `from __future__ import annotations` here: Equinox only recognises
`eqx.AbstractVar` / `eqx.AbstractClassVar` as real annotations, and a stringified
one would silently become a dataclass field of the abstract class.
"""

import os
from abc import abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Generic, Self, TypeVar

import equinox as eqx
import jax
from jaxtyping import Array, Float, Key

from lerax._repr import readable_repr
from lerax._serialization import load_module, read_recipe, save_module
from lerax.space import AbstractSpace

from ._recipe import decode_arguments, encode_recipe

StateType = TypeVar("StateType", bound="AbstractPolicyState")
ActType = TypeVar("ActType")
ObsType = TypeVar("ObsType")
MaskType = TypeVar("MaskType")


class AbstractPolicyState(eqx.Module):
    """The internal state a policy carries between steps: a pytree of arrays.

    Abstract: subclass it with the state's fields (`NullPolicyState` for a
    stateless policy). It has no abstract members for a subclass to fill, so
    `__check_init__` refuses an instance of this class itself.

    Raises:
        TypeError: On `AbstractPolicyState()` itself (subclasses instantiate).
    """

    def __check_init__(self):
        if type(self) is AbstractPolicyState:
            raise TypeError(
                "Can't instantiate abstract class AbstractPolicyState: subclass it "
                "with the state's fields, or use NullPolicyState."
            )


class NullPolicyState(AbstractPolicyState):
    """The state of a stateless policy: no fields, so no leaves.

    It passes through `jax.vmap`, `jax.lax.scan` and `jnp.where`-style tree maps
    unchanged, at no cost.
    """


class AbstractPolicy(eqx.Module, Generic[StateType, ActType, ObsType, MaskType]):
    """A (possibly stateful) map from observations to actions.

    Every method takes one unbatched observation; batch with `jax.vmap`.

    Attributes:
        name: The name of the policy (a class variable).
        action_space: The action space of the policy.
        observation_space: The observation space of the policy.
    """

    name: eqx.AbstractClassVar[str]
    action_space: eqx.AbstractVar[AbstractSpace[ActType, MaskType]]
    observation_space: eqx.AbstractVar[AbstractSpace[ObsType, Any]]

    def __repr__(self) -> str:
        """Equinox's representation, with scalar leaves shown by value.

        Returns:
            Scalar array leaves (running-statistics counts, say) by value;
            weights by shape, as Equinox prints them.
        """
        return readable_repr(self)

    @abstractmethod
    def __call__(
        self,
        state: StateType,
        observation: ObsType,
        *,
        key: Key[Array, ""] | None = None,
        action_mask: MaskType | None = None,
    ) -> tuple[StateType, ActType]:
        """Return the new internal state and the action for an observation.

        With a key the action is sampled; without one the policy is deterministic
        (for distributional policies, the mode of the action distribution).

        Args:
            state: The current internal state of the policy.
            observation: The current observation.
            key: An optional JAX PRNG key for stochastic action selection.
            action_mask: An optional action mask of the kind `action_space` takes.

        Returns:
            The new internal state and the action to take.
        """

    @abstractmethod
    def reset(self, *, key: Key[Array, ""]) -> StateType:
        """Return an initial internal state.

        Args:
            key: A JAX PRNG key.

        Returns:
            An initial internal state for the policy.
        """

    def update_observation_statistics(self, observations: ObsType) -> Self:
        """Merge a batch of observations into the policy's running statistics.

        Training calls it after each iteration with the rollout's observations.
        The default keeps no statistics and returns the policy unchanged;
        policies that normalise observations (`MLPActorCriticPolicy` with
        `normalize_observations=True`) override it.

        Args:
            observations: Observations with one leading batch axis.

        Returns:
            The policy with updated statistics (here: itself).
        """
        del observations
        return self

    def update_value_statistics(self, returns: Float[Array, "..."]) -> Self:
        """Merge a rollout's returns into the critic's running statistics.

        Training calls it after each rollout's returns are computed, before the
        update (skrl's order). The default keeps no statistics and returns the
        policy unchanged; `MLPActorCriticPolicy(normalize_values=...)`
        overrides it.

        Args:
            returns: The rollout's returns (every entry a sample).

        Returns:
            The policy with updated statistics (here: itself).
        """
        del returns
        return self

    def normalize_value(self, values: Float[Array, "*batch"]) -> Float[Array, "*batch"]:
        """Values in the units the critic learns in (for the value loss).

        The default is the identity (the same array); a policy that
        normalises values (`MLPActorCriticPolicy(normalize_values=...)`)
        returns `(values - mean) / std` of its running return statistics.

        Args:
            values: Unnormalised values or returns.

        Returns:
            The values in the critic's units.
        """
        return values

    def constructor_arguments(self) -> dict[str, Any] | None:
        """The constructor arguments that rebuild this policy's structure.

        `serialize` records them in the file (its recipe), so `lerax.load(path)`
        and `deserialize(path)` without arguments can rebuild the skeleton with
        no environment. Return the keyword arguments of `type(self)(key=...,
        **arguments)` that set its structure: spaces, sizes, flags and named
        activations (values that only set initial weights may be left out). The
        default, `None`, records no recipe: such a policy is loaded with
        `deserialize(path, *args, **kwargs)`. lerax's own policies override it.

        Returns:
            The keyword arguments (spaces, numbers, strings, booleans, tuples and
            module-level functions), or `None`.
        """
        return None

    def serialize(self, path: str | os.PathLike) -> None:
        """Save the policy to `path`, atomically.

        Writes a 32-byte structural fingerprint (a SHA-256 of the class, the tree
        structure, every leaf's shape and dtype, and the static fields), a small
        JSON description of that structure, the recipe (`constructor_arguments`,
        when the class gives one), then the Equinox leaf data. The file is
        written to a temporary file in the same folder and moved into place, so
        an interrupted save leaves any previous file at `path` untouched.

        Args:
            path: Where to save; `.eqx` is appended unless it is already the
                suffix.

        Raises:
            FileNotFoundError: If the folder of `path` does not exist.
            ValueError: If a static field (such as `activation`) is a lambda or
                a function defined inside another function: its name does not
                identify it, so use a named module-level function (`jax.nn.relu`
                or a top-level `def`).
        """
        arguments = self.constructor_arguments()
        try:
            recipe = None if arguments is None else encode_recipe(type(self), arguments)
        except ValueError:
            # An argument a file cannot name (a lambda activation, say): no
            # recipe. `save_module` refuses the lambdas the structure holds,
            # naming the field; anything else saves, to be loaded explicitly.
            recipe = None
        save_module(self, path, recipe=recipe)

    @classmethod
    def deserialize(cls, path: str | os.PathLike, *args: Any, **kwargs: Any) -> Self:
        """Load a policy saved with `serialize`.

        The skeleton is `cls(*args, **kwargs)`, built abstractly with
        `eqx.filter_eval_shape` (no weights are initialised), so the arguments must
        reproduce the static structure the policy was saved with: class, spaces,
        hidden sizes, activation, ... Arguments that only affect initial values
        (a PRNG key, initial log-std, ...) may be anything. With no arguments at
        all, the skeleton is built from the recipe the file records (files saved
        by lerax's own policies have one; see `lerax.load`).

        Args:
            path: The file; if it does not exist, `path` with `.eqx` appended is
                tried.
            *args: Positional arguments for the constructor of `cls`.
            **kwargs: Keyword arguments for the constructor of `cls`.

        Returns:
            The deserialized policy.

        Raises:
            FileNotFoundError: If the file does not exist.
            ValueError: If the file is not a lerax model, is truncated or corrupted,
                or if the fingerprint of the skeleton does not match the stored one
                (the message lists what differs; classes are identified by module
                and name, so a same-named class elsewhere does not match), or if
                the skeleton holds a lambda or a local function; with no
                arguments, if the file has no recipe (the message says what to
                pass) or was saved from another class.
        """
        path = Path(path)
        if not args and not kwargs:
            class_name, recipe = read_recipe(path)
            if recipe is None:
                raise ValueError(
                    f"{path} records no recipe to rebuild its {class_name}: pass "
                    f"the constructor arguments it was saved with, "
                    f"{cls.__name__}.deserialize(path, env, key=jax.random.key(0), "
                    "...)."
                )
            try:
                kwargs = decode_arguments(recipe, cls)
            except ValueError as err:
                raise ValueError(f"{path}: {err}") from None
            kwargs["key"] = jax.random.key(0)
        skeleton = eqx.filter_eval_shape(cls, *args, **kwargs)
        return load_module(path, skeleton)


class AbstractActorCriticPolicy(AbstractPolicy[StateType, ActType, ObsType, MaskType]):
    """A policy with a value function: actions, values and their statistics.

    These are the members an actor-critic algorithm (PPO, A2C) needs. Every method
    takes one unbatched observation; batch with `jax.vmap`.

    Attributes:
        name: The name of the policy (a class variable).
        action_space: The action space of the policy.
        observation_space: The observation space of the policy.
        is_recurrent: Whether the policy carries a memory that the training loop
            must replay over whole sequences (a class variable; `False` here,
            `True` for `AbstractRecurrentActorCriticPolicy`).
    """

    is_recurrent: ClassVar[bool] = False

    @abstractmethod
    def action_and_value(
        self,
        state: StateType,
        observation: ObsType,
        *,
        key: Key[Array, ""],
        action_mask: MaskType | None = None,
    ) -> tuple[StateType, ActType, Float[Array, ""], Float[Array, ""]]:
        """Sample an action and compute the value of an observation.

        Args:
            state: The current policy state.
            observation: The observation.
            key: A JAX PRNG key.
            action_mask: An optional action mask.

        Returns:
            `(new_state, action, value, log_prob)`: the new policy state, the
            sampled action, the value of the observation and the log-probability of
            the action.
        """

    @abstractmethod
    def evaluate_action(
        self,
        state: StateType,
        observation: ObsType,
        action: ActType,
        *,
        action_mask: MaskType | None = None,
    ) -> tuple[StateType, Float[Array, ""], Float[Array, ""], Float[Array, ""]]:
        """Evaluate an action taken after an observation.

        Args:
            state: The current policy state.
            observation: The observation.
            action: The action to evaluate.
            action_mask: An optional action mask (the one in force when the action
                was taken).

        Returns:
            `(new_state, value, log_prob, entropy)`: the new policy state, the value
            of the observation, the log-probability of the action and the entropy of
            the action distribution.
        """

    def evaluate_actions(
        self,
        states: StateType,
        observations: ObsType,
        actions: ActType,
        *,
        action_masks: MaskType | None = None,
    ) -> tuple[Float[Array, " batch"], Float[Array, " batch"], Float[Array, " batch"]]:
        """`evaluate_action` on a batch of independent samples (the training loss).

        The default is `jax.vmap` of `evaluate_action`. A policy may override it
        with a faster batched computation of the same values, as
        `MLPActorCriticPolicy` does; it must stay differentiable with `jax.grad`.

        Args:
            states: Policy states, one per sample (leading batch axis).
            observations: Observations with a leading batch axis.
            actions: Actions with a leading batch axis.
            action_masks: Masks with a leading batch axis, or `None`.

        Returns:
            `(values, log_probs, entropies)`, each of shape `(batch,)`.
        """

        def one(state, observation, action, action_mask):
            _, value, log_prob, entropy = self.evaluate_action(
                state, observation, action, action_mask=action_mask
            )
            return value, log_prob, entropy

        return jax.vmap(one)(states, observations, actions, action_masks)

    def parameter_labels(self) -> Any:
        """Which part of the policy each leaf belongs to: actor, critic or shared.

        Separate optimisers (`PPO(critic_learning_rate=...)`) read it to send
        each trainable array to the actor's or the critic's optimiser. A policy
        that does not declare its parts raises; the feed-forward and recurrent
        bases declare theirs.

        Returns:
            A pytree of the policy's structure (as `jax.tree.map` over the
            policy gives) whose leaves are `"actor"`, `"critic"` or `"shared"`
            (a trunk both heads read, and non-trainable statistics).

        Raises:
            NotImplementedError: If the policy does not declare its parts.
        """
        raise NotImplementedError(
            f"{self.name} does not declare which of its parameters belong to the "
            "actor and which to the critic, so it cannot be trained with separate "
            "optimisers; override parameter_labels, or train it with one optimiser."
        )

    @abstractmethod
    def value(
        self, state: StateType, observation: ObsType
    ) -> tuple[StateType, Float[Array, ""]]:
        """Compute the value of an observation.

        Args:
            state: The current policy state.
            observation: The observation.

        Returns:
            `(new_state, value)`.
        """
