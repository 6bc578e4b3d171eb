"""What a newcomer trips over first (issue 28): seeing hyperparameters, other
libraries' argument names, a key that is not a key, a budget that is not whole.

All of these fail or print before anything compiles, so the tests are cheap.
"""

import inspect
import warnings

import jax
import jax.numpy as jnp
import pytest

import lerax
from helpers import ChainEnv
from lerax.algorithm import A2C, PPO
from lerax.evaluation import evaluate_policy
from lerax.policy import (
    CNNActorCriticPolicy,
    GRUActorCriticPolicy,
    LSTMActorCriticPolicy,
    MLPActorCriticPolicy,
)

# ---------------------------------------------------------------- repr


def test_repr_shows_hyperparameters_as_the_numbers_passed():
    text = repr(PPO())
    for expected in (
        "learning_rate=0.0003",
        "gamma=0.99",
        "gae_lambda=0.95",
        "clip_coefficient=0.2",
        "num_steps=512",
        "adam_eps=1e-08",
    ):
        assert expected in text, expected
    assert "f32[]" not in text
    assert "gamma=0.9," in repr(A2C(gamma=0.9)).replace("\n", "")
    assert "learning_rate=0.001" in str(A2C(learning_rate=1e-3))


def test_repr_of_a_stacked_sweep_keeps_shapes_and_a_schedule_prints():
    stacked = jax.vmap(lambda lr: PPO(learning_rate=lr))(jnp.array([1e-3, 3e-4]))
    assert "learning_rate=f32[2]" in repr(stacked)
    import optax

    assert "learning_rate=" in repr(
        PPO(learning_rate=optax.linear_schedule(1.0, 0.0, 8))
    )


def test_policy_repr_shows_scalar_leaves_by_value_and_weights_by_shape():
    policy = MLPActorCriticPolicy(
        ChainEnv(), key=jax.random.key(0), normalize_observations=True, width_size=8
    )
    text = repr(policy)
    assert "count=0.0" in text
    assert "f32[8,2]" in text or "f32[2,8]" in text


# ------------------------------------------------- other libraries' names


@pytest.mark.parametrize(
    "kwargs, suggested",
    [
        ({"n_steps": 8}, "num_steps"),
        ({"n_epochs": 3}, "num_epochs"),
        ({"ent_coef": 0.01}, "entropy_loss_coefficient"),
        ({"vf_coef": 0.5}, "value_loss_coefficient"),
        ({"clip_range": 0.1}, "clip_coefficient"),
        ({"batch_size": 64}, "num_batches"),
        ({"num_minibatches": 4}, "num_batches"),  # CleanRL
        ({"update_epochs": 4}, "num_epochs"),  # CleanRL
        ({"learning_epochs": 4}, "num_epochs"),  # skrl
        ({"discount_factor": 0.9}, "gamma"),  # skrl
        ({"mini_batches": 4}, "num_batches"),  # skrl
        ({"num_step": 8}, "num_steps"),  # a misspelling
        ({"learning_rte": 1e-3}, "learning_rate"),
    ],
)
def test_ppo_suggests_the_lerax_name(kwargs, suggested):
    (given,) = kwargs
    with pytest.raises(TypeError, match=rf"'{given}' \(did you mean {suggested}"):
        PPO(**kwargs)


def test_an_unknown_name_without_a_match_lists_the_arguments():
    with pytest.raises(TypeError, match=r"'colour'\. Its arguments: num_envs"):
        PPO(colour="red")
    with pytest.raises(TypeError, match=r"A2C\(\) got unexpected keyword"):
        A2C(n_epochs=3)  # A2C has no epochs: no false suggestion
    with pytest.raises(TypeError, match=r"'batch_size'\. Its arguments"):
        A2C(batch_size=64)  # nor minibatches
    with pytest.raises(
        TypeError, match=r"A2C\(\) got unexpected keyword argument\(s\) 'n_epochs'\. "
    ):
        A2C(n_epochs=3)


def test_policies_suggest_too():
    env = ChainEnv()
    with pytest.raises(TypeError, match="net_arch' \\(did you mean actor_hidden_sizes"):
        MLPActorCriticPolicy(env, key=jax.random.key(0), net_arch=[64, 64])
    with pytest.raises(TypeError, match="activation_fn' \\(did you mean activation"):
        GRUActorCriticPolicy(env, key=jax.random.key(0), activation_fn=jax.nn.relu)
    with pytest.raises(TypeError, match="hidden_sise' \\(did you mean hidden_size"):
        LSTMActorCriticPolicy(env, key=jax.random.key(0), hidden_sise=8)


def test_the_wrapped_constructors_keep_their_signatures():
    for cls in (PPO, A2C, MLPActorCriticPolicy, CNNActorCriticPolicy):
        parameters = inspect.signature(cls).parameters
        assert "key" in parameters or "num_steps" in parameters
    assert PPO(num_steps=8, num_batches=4).num_steps == 8


# ---------------------------------------------------------- keys

KEY_MESSAGE = r"key must be a JAX PRNG key; got int 0: .*key=jax\.random\.key\(0\)"


def test_a_key_that_is_not_a_key_is_a_type_error_from_every_entry_point():
    env = ChainEnv()
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
    algo = PPO(num_envs=2, num_steps=8, num_batches=2)
    with pytest.raises(TypeError, match="PPO.learn: " + KEY_MESSAGE):
        algo.learn(env, policy, 16, key=0)
    with pytest.raises(TypeError, match="PPO.learn: " + KEY_MESSAGE):
        algo.learn_state(env, policy, 16, key=0)
    with pytest.raises(TypeError, match="A2C.learn: " + KEY_MESSAGE):
        A2C(num_envs=2).learn(env, policy, 16, key=0)
    with pytest.raises(TypeError, match="evaluate_policy: " + KEY_MESSAGE):
        evaluate_policy(env, policy, key=0)
    for cls in (MLPActorCriticPolicy, GRUActorCriticPolicy, LSTMActorCriticPolicy):
        with pytest.raises(TypeError, match=KEY_MESSAGE):
            cls(env, key=0)
    with pytest.raises(
        TypeError, match=r"keys must be a JAX PRNG key.*jax\.random\.split"
    ):
        lerax.train_seeds(algo, env, policy, 16, keys=0)
    with pytest.raises(TypeError, match=r"key must be a JAX PRNG key; got float 1\.5"):
        algo.learn(env, policy, 16, key=1.5)
    with pytest.raises(TypeError, match=r"got ndarray of dtype int64 and shape \(2,\)"):
        import numpy as np

        algo.learn(env, policy, 16, key=np.array([0, 1]))


def test_legacy_uint32_keys_are_still_keys():
    from lerax._key import is_key

    assert is_key(jax.random.PRNGKey(0))
    assert is_key(jax.random.key(0))
    assert is_key(jax.random.split(jax.random.key(0), 3))
    assert not is_key(jnp.zeros((2,), jnp.int32))
    assert not is_key(0)


# ------------------------------------------------------- budgets


def test_a_budget_that_is_not_whole_warns_with_the_steps_that_run():
    algo = PPO(num_envs=4, num_steps=512)  # 2,048 steps an iteration
    with pytest.warns(
        UserWarning,
        match=r"total_timesteps=100000 is not a multiple of .* = 2048: "
        r"48 iterations run 98304 steps\. Pass 98304 or 100352",
    ):
        assert algo.num_iterations(100_000) == 48
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert algo.num_iterations(98_304) == 48
