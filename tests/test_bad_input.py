"""Bad input, by table: each mistake raises a clear Python exception naming it.

Every row is one distinct mistake. The test asserts the exception type, that the
message names the culprit (`match=`), and that numbers appear plainly (`got -1.0`,
never an array repr such as `Array(-1., dtype=float32)`). None may surface from
inside XLA. Rows are grouped by area; the checkpoint rows are added with the
checkpoint feature (see the marked place below).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import ChainEnv, PointEnv
from lerax.algorithm import A2C, PPO
from lerax.callback import (
    EpisodeStatisticsCallback,
    ListCallback,
    LogHistoryCallback,
    ProgressCallback,
)
from lerax.checkpoint import Checkpointer
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.distribution import (
    Categorical,
    DiagGaussian,
    MultiCategorical,
    SquashedDiagGaussian,
)
from lerax.env import ClipAction, FlattenObservation, TimeLimit
from lerax.evaluation import evaluate_policy
from lerax.policy import MLPActorCriticPolicy, NullPolicyState
from lerax.space import Box, Dict, Discrete, MultiBinary, MultiDiscrete


class CartPoleEnv:
    """Stands in for a Gymnasium env: detected by its module, not by importing."""


CartPoleEnv.__module__ = "gymnasium.envs.classic_control.cartpole"


@dataclass
class Ctx:
    """What the rows share: built once per module, so nothing recompiles."""

    chain: Any
    point: Any
    policy: Any
    point_policy: Any
    saved: Any
    tmp: Any


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad_input")
    chain = ChainEnv()
    policy = MLPActorCriticPolicy(env=chain, width_size=4, key=jax.random.key(0))
    saved = tmp / "chain_policy.eqx"
    policy.serialize(saved)
    point = PointEnv()
    point_policy = MLPActorCriticPolicy(env=point, width_size=4, key=jax.random.key(0))
    return Ctx(chain, point, policy, point_policy, saved, tmp)


def _raw_gymnax_env():
    import gymnax

    env, _ = gymnax.make("CartPole-v1")
    return env


def _small_ppo(**kw):
    return PPO(num_envs=2, num_steps=4, num_batches=2, num_epochs=1, **kw)


def _write(ctx, name, data: bytes):
    path = ctx.tmp / name
    path.write_bytes(data)
    return path


def _truncated(ctx):
    blob = ctx.saved.read_bytes()
    return _write(ctx, "truncated.eqx", blob[: len(blob) - 7])


def _load(ctx, path, **overrides):
    kwargs = dict(env=ctx.chain, width_size=4, key=jax.random.key(0))
    kwargs.update(overrides)
    return MLPActorCriticPolicy.deserialize(path, **kwargs)


def _other_class_file(ctx):
    path = ctx.tmp / "mlp.eqx"
    import lerax._serialization as serialization

    serialization.save_module(eqx.nn.MLP(2, 2, 4, 1, key=jax.random.key(0)), path)
    return path


def _other_run_checkpoint(ctx):
    directory = ctx.tmp / "other-run"
    checkpointer = Checkpointer(directory, every_iterations=1)
    _small_ppo().learn(
        ctx.chain, ctx.policy, 8, key=jax.random.key(0), checkpointer=checkpointer
    )
    # The same directory, another discount factor.
    _small_ppo(gamma=0.9).learn(
        ctx.chain, ctx.policy, 8, key=jax.random.key(0), checkpointer=checkpointer
    )


@dataclass(frozen=True)
class Row:
    id: str
    exception: type[BaseException]
    match: str
    call: Callable[[Ctx], Any]


ROWS = [
    # ------------------------------------------------------------------ spaces
    Row("box-low-above-high", ValueError, r"low > high", lambda c: Box(1.0, 0.0)),
    Row(
        "box-shapes-disagree",
        ValueError,
        r"low has shape \(2,\).*high has shape \(3,\)",
        lambda c: Box(np.zeros(2), np.ones(3)),
    ),
    Row(
        "box-integer-dtype",
        ValueError,
        r"Box: dtype must be floating",
        lambda c: Box(0.0, 1.0, dtype=jnp.int32),
    ),
    Row(
        "box-no-finite-value",
        ValueError,
        r"Box: high is -inf at index \(1,\)",
        lambda c: Box([0.0, -np.inf], [1.0, -np.inf]),
    ),
    Row(
        "box-nan-bound", ValueError, r"Box: low contains NaN", lambda c: Box(np.nan, 1)
    ),
    Row("discrete-zero", ValueError, r"Discrete: n .* got n=0", lambda c: Discrete(0)),
    Row(
        "multidiscrete-zero-entry",
        ValueError,
        r"MultiDiscrete: nvec .*positive.*\(2, 0\)",
        lambda c: MultiDiscrete([2, 0]),
    ),
    Row(
        "multibinary-negative", ValueError, r"MultiBinary: n", lambda c: MultiBinary(-1)
    ),
    Row(
        "dict-empty", ValueError, r"Dict: spaces must not be empty", lambda c: Dict({})
    ),
    Row(
        "discrete-mask-wrong-shape",
        ValueError,
        r"Discrete.sample: mask has shape \(2,\), expected \(3,\)",
        lambda c: Discrete(3).sample(key=jax.random.key(0), mask=jnp.ones(2, bool)),
    ),
    Row(
        "observation-outside-space-shape",
        ValueError,
        r"observation has shape \(3,\).*expects shape \(2,\)",
        lambda c: Box(0.0, 1.0, shape=(2,)).validate(jnp.zeros(3), name="observation"),
    ),
    # -------------------------------------------------------------------- envs
    Row(
        "timelimit-zero",
        ValueError,
        r"TimeLimit: max_episode_steps .* got max_episode_steps=0",
        lambda c: TimeLimit(c.chain, 0),
    ),
    Row(
        "clipaction-discrete-env",
        ValueError,
        r"ClipAction: .*action_space must be a Box, got Discrete\(2\)",
        lambda c: ClipAction(c.chain),
    ),
    Row(
        "unknown-gymnax-name",
        ValueError,
        r"unknown gymnax environment 'CartPole-v9'",
        lambda c: GymnaxToLeraxEnv.from_name("CartPole-v9"),
    ),
    Row(
        "wrapper-gets-a-string",
        TypeError,
        r"FlattenObservation: env must be a lerax AbstractEnvLike.*got str",
        lambda c: FlattenObservation("CartPole-v1"),
    ),
    Row(
        "wrapper-gets-gymnax-env",
        TypeError,
        r"TimeLimit: .*gymnax.*GymnaxToLeraxEnv",
        lambda c: TimeLimit(_raw_gymnax_env(), 5),
    ),
    # ---------------------------------------------------------------- policies
    Row(
        "policy-gets-gymnax-env",
        TypeError,
        r"MLPActorCriticPolicy: .*got CartPole.*GymnaxToLeraxEnv",
        lambda c: MLPActorCriticPolicy(env=_raw_gymnax_env(), key=jax.random.key(0)),
    ),
    Row(
        "policy-gets-gymnasium-env",
        TypeError,
        r"MLPActorCriticPolicy: .*got CartPoleEnv.*Gymnasium.*GymnasiumToLeraxEnv",
        lambda c: MLPActorCriticPolicy(env=CartPoleEnv(), key=jax.random.key(0)),
    ),
    Row(
        "policy-width-zero",
        ValueError,
        r"MLPActorCriticPolicy: width_size must be a positive int, got 0\.",
        lambda c: MLPActorCriticPolicy(
            env=c.chain, width_size=0, key=jax.random.key(0)
        ),
    ),
    Row(
        "policy-depth-negative",
        ValueError,
        r"depth must be a non-negative integer, got -1\.",
        lambda c: MLPActorCriticPolicy(env=c.chain, depth=-1, key=jax.random.key(0)),
    ),
    Row(
        "policy-dict-actions",
        ValueError,
        r"does not support the action space Dict",
        lambda c: MLPActorCriticPolicy(
            observation_space=Discrete(2),
            action_space=Dict({"a": Discrete(2)}),
            key=jax.random.key(0),
        ),
    ),
    Row(
        "policy-observation-wrong-shape",
        ValueError,
        r"observation has shape \(5,\)",
        lambda c: c.policy(NullPolicyState(), jnp.zeros(5)),
    ),
    Row(
        "policy-mask-for-box-actions",
        ValueError,
        r"Box action spaces take no action_mask",
        lambda c: c.point_policy(
            NullPolicyState(), jnp.zeros(2), action_mask=jnp.ones(1, bool)
        ),
    ),
    Row(
        "policy-action-wrong-shape",
        ValueError,
        r"action has shape \(3,\)",
        lambda c: c.policy.evaluate_action(
            NullPolicyState(), jnp.zeros(2), jnp.zeros(3, jnp.int32)
        ),
    ),
    Row(
        "policy-mask-wrong-shape",
        ValueError,
        r"Categorical: mask has shape \(3,\), expected \(2,\)",
        lambda c: c.policy(
            NullPolicyState(),
            jnp.zeros(2),
            key=jax.random.key(0),
            action_mask=jnp.ones(3, bool),
        ),
    ),
    # ----------------------------------------------------------- distributions
    Row(
        "categorical-2d-logits",
        ValueError,
        r"Categorical: logits must have shape \(n,\).*got \(2, 3\)",
        lambda c: Categorical(jnp.zeros((2, 3))),
    ),
    Row(
        "categorical-bool-logits",
        ValueError,
        r"Categorical: logits must be real numbers, got dtype bool",
        lambda c: Categorical(jnp.ones(3, bool)),
    ),
    Row(
        "multicategorical-logits-size",
        ValueError,
        r"MultiCategorical: logits_flat has shape \(5,\), expected \(6,\)",
        lambda c: MultiCategorical(jnp.zeros(5), (2, 4)),
    ),
    Row(
        "multicategorical-mask-shape",
        ValueError,
        r"MultiCategorical: mask has shape \(4,\), expected \(6,\)",
        lambda c: MultiCategorical(jnp.zeros(6), (2, 4), mask=jnp.ones(4, bool)),
    ),
    Row(
        "diag-gaussian-log-std-shape",
        ValueError,
        r"DiagGaussian: log_std has shape \(3,\).*\(2,\)",
        lambda c: DiagGaussian(jnp.zeros(2), jnp.zeros(3)),
    ),
    Row(
        "squashed-infinite-bound",
        ValueError,
        r"SquashedDiagGaussian: low and high must be finite",
        lambda c: SquashedDiagGaussian(jnp.zeros(1), jnp.zeros(1), -1.0, np.inf),
    ),
    Row(
        "squashed-empty-interval",
        ValueError,
        r"SquashedDiagGaussian: low must be strictly below high",
        lambda c: SquashedDiagGaussian(jnp.zeros(1), jnp.zeros(1), 1.0, 1.0),
    ),
    # -------------------------------------------------------------- algorithms
    Row(
        "ppo-gamma-negative",
        ValueError,
        r"PPO: gamma must be in \(0.0, 1.0\], got -1.0\.$",
        lambda c: PPO(gamma=-1.0),
    ),
    Row(
        "ppo-gamma-array-above-one",
        ValueError,
        r"PPO: gamma must be in \(0.0, 1.0\], got 1.5\.$",
        lambda c: PPO(gamma=jnp.asarray(1.5)),
    ),
    Row(
        "ppo-clip-nan",
        ValueError,
        r"PPO: clip_coefficient must be in \(0.0, inf\), got nan\.$",
        lambda c: PPO(clip_coefficient=float("nan")),
    ),
    Row(
        "ppo-batches-do-not-divide",
        ValueError,
        r"PPO: num_batches=3 does not divide num_envs \* num_steps = 2048",
        lambda c: PPO(num_batches=3),
    ),
    Row(
        "ppo-num-envs-zero",
        ValueError,
        r"PPO: num_envs must be a positive int, got 0\.$",
        lambda c: PPO(num_envs=0),
    ),
    Row(
        "a2c-learning-rate-zero",
        ValueError,
        r"A2C: learning_rate must be in \(0.0, inf\), got 0.0\.$",
        lambda c: A2C(learning_rate=0.0),
    ),
    Row(
        "a2c-gae-lambda-above-one",
        ValueError,
        r"A2C: gae_lambda must be in \[0.0, 1.0\], got 1.25\.$",
        lambda c: A2C(gae_lambda=np.float32(1.25)),
    ),
    Row(
        "learn-float-budget",
        ValueError,
        r"total_timesteps must be a Python int, got 100000.0",
        lambda c: _small_ppo().learn(c.chain, c.policy, 1e5, key=jax.random.key(0)),
    ),
    Row(
        "learn-budget-below-one-iteration",
        ValueError,
        r"total_timesteps=3 is smaller than one iteration",
        lambda c: _small_ppo().learn(c.chain, c.policy, 3, key=jax.random.key(0)),
    ),
    Row(
        "learn-policy-of-another-env",
        ValueError,
        r"learn: policy.observation_space is .* but env.observation_space is "
        r"Box\(shape=\(2,\), .*low=\[-inf, -inf\], high=\[inf, inf\]",
        lambda c: _small_ppo().learn(c.point, c.policy, 8, key=jax.random.key(0)),
    ),
    Row(
        "learn-gymnasium-env",
        TypeError,
        r"learn: .*Gymnasium.*GymnasiumToLeraxEnv",
        lambda c: _small_ppo().learn(CartPoleEnv(), c.policy, 8, key=jax.random.key(0)),
    ),
    Row(
        "learn-state-gymnax-env",
        TypeError,
        r"learn: .*GymnaxToLeraxEnv",
        lambda c: A2C(num_envs=2, num_steps=4).learn_state(
            _raw_gymnax_env(), c.policy, 8, key=jax.random.key(0)
        ),
    ),
    # --------------------------------------------------------------- callbacks
    Row(
        "learn-callback-not-a-callback",
        TypeError,
        r"callback must be None, an AbstractCallback or a sequence.*got int",
        lambda c: _small_ppo().learn(
            c.chain, c.policy, 8, key=jax.random.key(0), callback=3
        ),
    ),
    Row(
        "listcallback-entry",
        TypeError,
        r"ListCallback",
        lambda c: ListCallback([EpisodeStatisticsCallback(), "progress"]),
    ),
    Row(
        "loghistory-no-keys",
        ValueError,
        r"LogHistoryCallback: keys must name at least one entry",
        lambda c: LogHistoryCallback(keys=()),
    ),
    Row(
        "progress-every-zero",
        ValueError,
        r"ProgressCallback: every must be >= 1, got 0",
        lambda c: ProgressCallback(every=0),
    ),
    # -------------------------------------------------------------- evaluation
    Row(
        "evaluate-zero-episodes",
        ValueError,
        r"evaluate_policy: num_episodes must be a positive int, got 0\.$",
        lambda c: evaluate_policy(
            c.chain, c.policy, key=jax.random.key(0), num_episodes=0
        ),
    ),
    Row(
        "evaluate-gymnasium-env",
        TypeError,
        r"evaluate_policy: .*GymnasiumToLeraxEnv",
        lambda c: evaluate_policy(CartPoleEnv(), c.policy, key=jax.random.key(0)),
    ),
    Row(
        "evaluate-policy-of-another-env",
        ValueError,
        r"evaluate_policy: policy.observation_space is .* but env.observation_space"
        r" is .*low=\[0.0, 0.0\], high=\[2.0, 2.0\]",
        lambda c: evaluate_policy(
            ChainEnv(length=2, max_steps=2), c.point_policy, key=jax.random.key(0)
        ),
    ),
    # ----------------------------------------------------------- serialization
    Row(
        "load-non-lerax-file",
        ValueError,
        r"not a lerax model file",
        lambda c: _load(c, _write(c, "notes.eqx", b"just some text\n" * 10)),
    ),
    Row(
        "load-truncated-file",
        ValueError,
        r"truncated\.eqx is truncated: \d+ of \d+ bytes of leaf data",
        lambda c: _load(c, _truncated(c)),
    ),
    Row(
        "load-file-of-another-class",
        ValueError,
        r"class: file has equinox.nn.MLP, skeleton is "
        r"lerax.policy.MLPActorCriticPolicy",
        lambda c: _load(c, _other_class_file(c)),
    ),
    Row(
        "load-other-width",
        ValueError,
        r"width_size: file has static 4, skeleton has static 8",
        lambda c: _load(c, c.saved, width_size=8),
    ),
    Row(
        "load-missing-file",
        FileNotFoundError,
        r"No saved model at .*nothing-here",
        lambda c: _load(c, c.tmp / "nothing-here"),
    ),
    Row(
        "save-lambda-activation",
        ValueError,
        r"actor.activation: a lambda .*named module-level function",
        lambda c: MLPActorCriticPolicy(
            env=c.chain, width_size=4, activation=lambda x: x, key=jax.random.key(0)
        ).serialize(c.tmp / "lambda"),
    ),
    # -------------------------------------------------------------- checkpoints
    Row(
        "checkpoint-every-zero",
        ValueError,
        r"every_iterations must be a positive int, got 0",
        lambda c: Checkpointer(c.tmp / "ck", every_iterations=0),
    ),
    Row(
        "checkpoint-keep-negative",
        ValueError,
        r"keep must be a positive int, got -1",
        lambda c: Checkpointer(c.tmp / "ck", every_iterations=1, keep=-1),
    ),
    Row(
        "checkpoint-directory-is-a-file",
        ValueError,
        r"notes\.eqx' exists and is not a directory",
        lambda c: Checkpointer(_write(c, "notes.eqx", b"x"), every_iterations=1),
    ),
    Row(
        "checkpointer-not-a-checkpointer",
        TypeError,
        r"checkpointer must be a lerax.checkpoint.Checkpointer, got str",
        lambda c: _small_ppo().learn(
            c.chain, c.policy, 8, key=jax.random.key(0), checkpointer="runs/x"
        ),
    ),
    Row(
        "checkpoint-directory-of-another-run",
        ValueError,
        r"holds checkpoints of a different run(.|\n)*algorithm.gamma: checkpoint "
        r"has 0.99, this run has 0.9",
        lambda c: _other_run_checkpoint(c),
    ),
    Row(
        "on-nonfinite-unknown",
        ValueError,
        r"on_nonfinite must be one of .*, got 'warn'",
        lambda c: _small_ppo(on_nonfinite="warn"),
    ),
]


def test_the_table_is_large_and_its_ids_distinct():
    ids = [row.id for row in ROWS]
    assert len(set(ids)) == len(ids) >= 30


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_bad_input_raises_a_clear_error_naming_the_culprit(row, ctx):
    with pytest.raises(row.exception, match=row.match) as info:
        row.call(ctx)
    # jax's XlaRuntimeError and equinox's runtime errors are RuntimeErrors: one
    # here would mean the mistake escaped from inside a compiled program.
    assert not isinstance(info.value, RuntimeError)
    assert "Array(" not in str(info.value)


def test_a_real_gymnasium_env_gets_the_same_type_error_everywhere(ctx):
    gymnasium = pytest.importorskip("gymnasium")
    env = gymnasium.make("CartPole-v1")
    calls = [
        lambda: MLPActorCriticPolicy(env=env, key=jax.random.key(0)),
        lambda: TimeLimit(env, 5),
        lambda: _small_ppo().learn(env, ctx.policy, 8, key=jax.random.key(0)),
        lambda: evaluate_policy(env, ctx.policy, key=jax.random.key(0)),
    ]
    for call in calls:
        with pytest.raises(TypeError, match="GymnasiumToLeraxEnv"):
            call()
