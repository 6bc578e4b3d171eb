"""The implementation interface of the benchmark harness, and the plain-PPO one.

An implementation turns a :class:`BenchConfig` into a :class:`Built`: an eager
``init(key)`` building the initial network's arrays (outside the timed program, as
any PPO script does), a pure, single-seed ``train(key, init)`` (the whole training
run, jit- and vmap-able, returning a pytree of arrays only) plus two readers of
its output, one giving a deterministic action function for evaluation and one
(optional) giving the mean return of the episodes completed during the last part
of training. The harness only ever talks
to this interface, so lerax and the plain PPO are measured by the same code.

Implementations are looked up by name with :func:`load_implementations`; the lerax
one lives in ``lerax_impl.py`` and is imported lazily, so the harness still runs
with ``--impls plain`` when lerax is missing or broken.
"""

from __future__ import annotations

import abc
import dataclasses
import importlib
from collections.abc import Callable
from typing import Any, ClassVar

import plain_ppo
from jaxtyping import Array, Key, PyTree

ActionFn = Callable[[Array, Key[Array, ""]], Array]


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """One benchmark configuration: an env, a budget and PPO's shape parameters.

    Every other hyperparameter is the lerax ``PPO`` default, on both sides.

    Attributes:
        name: Short identifier used on the command line and in the reports.
        env_name: gymnax environment id.
        total_timesteps: Env steps per seed (rounded down to whole iterations).
        num_envs: Parallel environments per seed.
        num_steps: Steps per environment per iteration.
        num_epochs: Epochs per iteration.
        num_batches: Minibatches per epoch.
        num_seeds: Seeds trained at once with ``jax.vmap`` (1: no vmap).
        description: One line for the report.
    """

    name: str
    env_name: str
    total_timesteps: int
    num_envs: int = 4
    num_steps: int = 512
    num_epochs: int = 16
    num_batches: int = 32
    num_seeds: int = 1
    description: str = ""

    def ppo_config(self) -> plain_ppo.PPOConfig:
        """The equivalent plain-PPO config (validates the sizes)."""
        return plain_ppo.PPOConfig(
            env_name=self.env_name,
            total_timesteps=self.total_timesteps,
            num_envs=self.num_envs,
            num_steps=self.num_steps,
            num_epochs=self.num_epochs,
            num_batches=self.num_batches,
        )

    @property
    def timesteps_per_seed(self) -> int:
        """Env steps one seed actually takes (whole iterations)."""
        return self.ppo_config().timesteps

    @property
    def total_env_steps(self) -> int:
        """Env steps of the whole run, all seeds together."""
        return self.num_seeds * self.timesteps_per_seed


@dataclasses.dataclass(frozen=True)
class Built:
    """What an implementation hands the harness for one configuration.

    Attributes:
        init: ``init(key) -> arrays``: one seed's initial network (a pytree of
            arrays), run eagerly before compiling; never timed.
        train: ``train(key, arrays) -> output``: one seed's whole training run,
            pure and traceable (the harness wraps it in ``jax.jit`` and, for
            several seeds, ``jax.vmap``); ``output`` must be a pytree of arrays.
        action_fn: ``action_fn(output) -> (obs, key) -> action``: the trained
            policy of one seed's output as a deterministic single-env action
            function on gymnax observations (traceable).
        training_return: ``training_return(output) -> scalar`` (one seed): mean
            return of the episodes completed in the last ~10% of training, or
            ``None`` when the implementation does not record it.
        user_call: ``user_call(keys) -> output``: the whole run (every seed of
            ``keys``) through the implementation's public entry point exactly
            as its users call it (for lerax ``algorithm.learn(env, policy,
            total_timesteps, key=key)``, ``jax.vmap``-ed over keys for several
            seeds); not wrapped by the harness. ``None``: no separate public call.
    """

    init: Callable[[Key[Array, ""]], PyTree]
    train: Callable[[Key[Array, ""], PyTree], PyTree]
    action_fn: Callable[[PyTree], ActionFn]
    training_return: Callable[[PyTree], Array] | None = None
    user_call: Callable[[Key[Array, " seeds"]], PyTree] | None = None


class Implementation(abc.ABC):
    """A PPO implementation the harness can build, compile and time."""

    name: ClassVar[str]

    @abc.abstractmethod
    def build(self, config: BenchConfig) -> Built:
        """Build the training function and output readers for ``config``.

        Args:
            config: The benchmark configuration.

        Returns:
            The :class:`Built` bundle.
        """


class PlainImplementation(Implementation):
    """The single-file baseline in ``plain_ppo.py``."""

    name = "plain"

    def build(self, config: BenchConfig) -> Built:
        """See :meth:`Implementation.build`."""
        ppo_config = config.ppo_config()
        return Built(
            init=lambda key: plain_ppo.init_params(ppo_config, key=key),
            train=plain_ppo.make_train(ppo_config),
            action_fn=lambda output: plain_ppo.policy_from_output(
                ppo_config, output["params"], deterministic=True
            ),
            training_return=lambda output: plain_ppo.final_training_return(
                output["metrics"]
            ),
        )


# name -> "module:attribute" of the Implementation subclass; imported on demand.
REGISTRY: dict[str, str] = {
    "plain": "implementations:PlainImplementation",
    # ---- the lerax side: lerax_impl.LeraxImplementation (same interface) ----
    "lerax": "lerax_impl:LeraxImplementation",
}


class ImplementationUnavailable(RuntimeError):
    """An implementation could not be imported (e.g. lerax is not installed)."""


def load_implementation(name: str) -> Implementation:
    """Instantiate the implementation registered under ``name``.

    Args:
        name: A key of :data:`REGISTRY`.

    Returns:
        The implementation.

    Raises:
        ValueError: If ``name`` is not registered.
        ImplementationUnavailable: If its module cannot be imported.
    """
    if name not in REGISTRY:
        raise ValueError(
            f"unknown implementation {name!r}; known: {', '.join(REGISTRY)}"
        )
    module_name, attribute = REGISTRY[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ImplementationUnavailable(
            f"implementation {name!r} unavailable: {error}"
        ) from error
    implementation: Any = getattr(module, attribute)()
    return implementation
