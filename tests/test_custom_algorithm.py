"""A new algorithm written on the public bases: the guide's two worked examples.

`examples/reinforce.py` (REINFORCE with a baseline, on
`AbstractOnPolicyAlgorithm`) and `examples/kl_ppo.py` (PPO with a KL penalty, on
`AbstractActorCriticAlgorithm`) are loaded from their files, the code the guide
`docs/custom-algorithm.md` shows. Each trains a stack of two instances in one
`eqx.filter_vmap` program on CartPole-v1 (a uniformly random policy averages
about 22 there, the cap is 500); the first row must learn, and a second call
with other hyperparameter values must compile nothing. One compiled program per
example, in one test each (so pytest-xdist compiles it in one worker).
"""

import ast
import contextlib
import dataclasses
import importlib.util
import re
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lerax.algorithm
from helpers import ChainEnv
from lerax.algorithm import (
    AbstractOnPolicyAlgorithm,
    actor_critic_step,
    hyperparameter,
)
from lerax.callback import EpisodeStatisticsCallback
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.policy import MLPActorCriticPolicy

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_BUILDING_BLOCKS = (
    "actor_critic_step",
    "evaluate_buffer",
    "explained_variance",
    "filter_scan",
    "gae_post_collect",
    "guarded_update",
    "hyperparameter",
)

# example -> (class, timesteps, the two rows trained, two other rows). The
# budgets were measured: the first row's last-10-iteration mean return reached
# 224-491 (REINFORCE, 4 keys) and 343-468 (KL-PPO, 4 keys).
CASES = {
    "reinforce": (
        "REINFORCE",
        512 * 200,
        [{}, {"learning_rate": 1e-3}],
        [{"learning_rate": 2e-3, "gamma": 0.98}, {"value_coefficient": 1.0}],
    ),
    "kl_ppo": (
        "KLPPO",
        512 * 60,
        [{}, {"kl_coefficient": 0.3}],
        [{"learning_rate": 2.5e-3}, {"kl_coefficient": 3.0, "gae_lambda": 0.9}],
    ),
}


def load_example(name):
    spec = importlib.util.spec_from_file_location(
        f"lerax_example_{name}", ROOT / "examples" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def count_compiles():
    events = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            events.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield events
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def stack(instances):
    return jax.tree.map(lambda *xs: jnp.stack(xs), *instances)


@pytest.fixture(scope="module")
def env():
    return GymnaxToLeraxEnv.from_name("CartPole-v1")


@pytest.fixture(scope="module")
def policy(env):
    return MLPActorCriticPolicy(env=env, key=jax.random.key(0))


@pytest.mark.parametrize("name", sorted(CASES))
def test_example_learns_sweeps_and_compiles_once(name, env, policy):
    # One test per example, so that under pytest-xdist each example's program
    # is compiled in one worker only.
    class_name, timesteps, rows, other_rows = CASES[name]
    cls = getattr(load_example(name), class_name)

    @eqx.filter_vmap
    def learn(algorithm):
        return algorithm.learn_state(
            env,
            policy,
            timesteps,
            key=jax.random.key(1),
            callback=EpisodeStatisticsCallback(),
        )

    state = learn(stack([cls(**row) for row in rows]))
    returns = np.asarray(state.callback_state.mean_return)
    num_iterations = timesteps // (cls().num_envs * cls().num_steps)

    # The default row learns: from about 22 (random) to far above the floor.
    assert np.nanmean(returns[0, :3]) < 60, returns[0]
    assert np.nanmean(returns[0, -10:]) > 150, returns[0]

    # `eqx.filter_vmap` over two instances ran two whole runs.
    assert returns.shape == (2, num_iterations)
    assert np.asarray(state.iteration_count).tolist() == [num_iterations] * 2
    for batched, single in zip(
        jax.tree.leaves(eqx.filter(state.policy, eqx.is_array)),
        jax.tree.leaves(eqx.filter(policy, eqx.is_array)),
        strict=True,
    ):
        assert batched.shape == (2, *single.shape)
        assert np.isfinite(np.asarray(batched)).all()
    # Same key, different hyperparameters: the two runs differ.
    weights = jax.tree.leaves(eqx.filter(state.policy, eqx.is_array))[0]
    assert not np.allclose(weights[0], weights[1])

    # Other hyperparameter values: the same program, nothing compiled.
    with count_compiles() as compiles:
        again = learn(stack([cls(**row) for row in other_rows]))
        jax.block_until_ready(again)
    assert compiles == []
    assert np.asarray(again.callback_state.mean_return).shape == returns.shape


def test_guarded_update_in_a_user_train_feeds_the_skip_count():
    # Every parameter NaN: the rollout (ChainEnv's observations and rewards do
    # not depend on the policy) is finite, every loss is NaN. REINFORCE's
    # `train` drops each update with `guarded_update` and logs it, so the base
    # counts one skipped update per iteration and the policy never changes.
    reinforce = load_example("reinforce").REINFORCE
    env = ChainEnv()
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    nan_policy = jax.tree.map(
        lambda x: x * jnp.nan if eqx.is_inexact_array(x) else x, policy
    )
    algo = reinforce(num_envs=2, num_steps=4, on_nonfinite="skip")
    state = algo.learn_state(env, nan_policy, 3 * 8, key=jax.random.key(0))
    assert int(state.skipped_updates) == 3
    assert int(state.fault) == 3  # the first fault recorded: the loss
    for before, after in zip(
        jax.tree.leaves(eqx.filter(nan_policy, eqx.is_array)),
        jax.tree.leaves(eqx.filter(state.policy, eqx.is_array)),
        strict=True,
    ):
        np.testing.assert_array_equal(np.asarray(before), np.asarray(after))


# ------------------------------------------------------- public, not private


def test_building_blocks_are_exported_from_a_public_module():
    for name in PUBLIC_BUILDING_BLOCKS:
        assert name in lerax.algorithm.__all__
        assert callable(getattr(lerax.algorithm, name))
        assert not name.startswith("_")


@pytest.mark.parametrize("name", sorted(CASES))
def test_examples_import_nothing_private(name):
    tree = ast.parse((ROOT / "examples" / f"{name}.py").read_text())
    imported = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            imported += [a.name for a in node.names]
    lerax_paths = [path for path in imported if path.split(".")[0] == "lerax"]
    assert lerax_paths
    private = [p for p in lerax_paths if any(s.startswith("_") for s in p.split("."))]
    assert private == []


def fenced_python_blocks(text):
    # ```py: the docs code runner runs ```python blocks; these are run here.
    return re.findall(r"^```py(?:thon)?\n(.*?)^```$", text, flags=re.M | re.S)


@pytest.mark.parametrize("name", sorted(CASES))
def test_guide_shows_the_example_files_verbatim(name):
    blocks = fenced_python_blocks((ROOT / "docs" / "custom-algorithm.md").read_text())
    assert (ROOT / "examples" / f"{name}.py").read_text() in blocks


@pytest.mark.parametrize("name", sorted(CASES))
def test_examples_stay_under_eighty_lines_of_code(name):
    # The class and its imports, without the docstring and the script's `main`.
    source = (ROOT / "examples" / f"{name}.py").read_text()
    tree = ast.parse(source)
    body = [n for n in tree.body[1:] if not isinstance(n, ast.If)]
    main = [n for n in body if getattr(n, "name", "") == "main"]
    lines = sum(n.end_lineno - n.lineno + 1 for n in body if n not in main)
    assert lines <= 80, lines


# --------------------------------------------------- hyperparameter and hooks


class Tiny(AbstractOnPolicyAlgorithm):
    """A minimal algorithm: enough of the contract to be instantiated."""

    num_envs: int = eqx.field(static=True, default=2)
    num_steps: int = eqx.field(static=True, default=4)
    on_nonfinite: str = eqx.field(static=True, default="error")
    gamma: jax.Array = hyperparameter(0.99, low=0.0, high=1.0, low_open=True)
    rate: jax.Array = hyperparameter(low=0.0, low_open=True)

    @property
    def batch_size(self):
        return 8

    @property
    def optimizer(self):
        import optax

        return optax.sgd(self.rate)

    def step(self, env, policy, state, *, key, callback):
        return actor_critic_step(env, policy, state, key=key, callback=callback)

    def train(self, policy, opt_state, buffer, *, key):
        return policy, opt_state, {}


def test_hyperparameter_is_a_float32_leaf_and_keyword_only():
    algo = Tiny(rate=1)
    assert isinstance(algo.rate, jax.Array)
    assert algo.rate.dtype == jnp.float32 and algo.rate.shape == ()
    assert float(algo.gamma) == pytest.approx(0.99)
    assert {"gamma", "rate"} <= {
        path[0].name
        for path, _ in jax.tree_util.tree_flatten_with_path(
            eqx.filter(algo, eqx.is_array)
        )[0]
    }
    with pytest.raises(TypeError):
        Tiny(0.9, 1.0)  # keyword-only


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(rate=0.0), "Tiny: rate must be in (0.0, inf), got 0.0."),
        (dict(rate=1.0, gamma=1.5), "Tiny: gamma must be in (0.0, 1.0], got 1.5."),
        (dict(rate=float("nan")), "Tiny: rate must be in (0.0, inf), got nan."),
    ],
)
def test_hyperparameter_range_is_checked_with_a_plain_message(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Tiny(**kwargs)


def test_hyperparameter_traced_values_pass_unchecked():
    rates = jnp.asarray([1e-3, 2e-3])
    built = eqx.filter_vmap(lambda r: Tiny(rate=r))(rates)
    np.testing.assert_allclose(np.asarray(built.rate), [1e-3, 2e-3])


def test_hyperparameter_rejects_an_empty_range():
    with pytest.raises(ValueError, match="low=1.0 is greater than high=0.0"):
        hyperparameter(0.5, low=1.0, high=0.0)


def test_on_nonfinite_is_part_of_the_contract():
    with pytest.raises(ValueError, match="Tiny: on_nonfinite must be one of"):
        Tiny(rate=1.0, on_nonfinite="warn")
    fields = {f.name for f in dataclasses.fields(Tiny)}
    assert "on_nonfinite" in fields
    assert Tiny(rate=1.0).nonfinite_mode() == "error"


def test_on_nonfinite_has_a_default_and_a_missing_member_is_refused():
    # `on_nonfinite` is a capability of the base with a default ("error"), not
    # an obligation; a member the specification requires is.
    class NoMode(AbstractOnPolicyAlgorithm):
        num_envs: int = eqx.field(static=True, default=2)
        num_steps: int = eqx.field(static=True, default=4)
        gamma: jax.Array = hyperparameter(0.99)

        @property
        def batch_size(self):
            return 8

        @property
        def optimizer(self):
            return None

        def step(self, env, policy, state, *, key, callback):
            raise NotImplementedError

        def train(self, policy, opt_state, buffer, *, key):
            raise NotImplementedError

    assert NoMode().nonfinite_mode() == "error"

    class NoSteps(AbstractOnPolicyAlgorithm):
        num_envs: int = eqx.field(static=True, default=2)
        gamma: jax.Array = hyperparameter(0.99)

        @property
        def batch_size(self):
            return 8

        @property
        def optimizer(self):
            return None

        def step(self, env, policy, state, *, key, callback):
            raise NotImplementedError

        def train(self, policy, opt_state, buffer, *, key):
            raise NotImplementedError

    with pytest.raises(TypeError, match="num_steps"):
        NoSteps()


def test_abstract_attributes_of_the_bases_are_not_dataclass_fields():
    # Stringified `eqx.AbstractVar` annotations (`from __future__ import
    # annotations`) would make them required fields of every subclass.
    from lerax.algorithm import PPO, AbstractActorCriticAlgorithm

    assert dataclasses.fields(AbstractOnPolicyAlgorithm) == ()
    assert dataclasses.fields(AbstractActorCriticAlgorithm) == ()
    assert {"optimizer", "batch_size", "gamma", "num_envs", "num_steps"} <= set(
        AbstractOnPolicyAlgorithm.__abstractvars__
    )
    # A capability with a default, not an abstract attribute.
    assert "on_nonfinite" not in AbstractOnPolicyAlgorithm.__abstractvars__
    assert AbstractOnPolicyAlgorithm.on_nonfinite == "error"
    assert {"gae_lambda", "clip_actions"} <= set(
        AbstractActorCriticAlgorithm.__abstractvars__
    )
    assert not {"optimizer", "batch_size"} & {f.name for f in dataclasses.fields(PPO)}


def test_default_hooks_change_nothing():
    algo = Tiny(rate=1.0)
    marker = object()
    assert algo.per_step(marker) is marker
    assert algo.per_iteration(marker) is marker
    assert algo.post_reset(marker) is marker
