"""`lerax.make("suite:id")`: one registry over every adapted suite.

Each suite's `make` must build the same adapter as the adapter's own
constructor (same class, name and spaces, keyword arguments passed through),
bad ids must fail with a message listing close ids, and a suite that is not
installed must name the `pip install 'lerax[...]'` command. "Not installed" is
simulated by hiding the suite's module (`sys.modules[name] = None` makes its
import fail), so the check runs where every extra is installed.
"""

import sys

import pytest

import lerax
from lerax.compatibility import make, registered_ids, suites
from lerax.compatibility.gymnax import GymnaxToLeraxEnv


def test_lerax_make_is_the_registry():
    assert lerax.make is make
    assert suites() == (
        "brax",
        "craftax",
        "gymnasium",
        "gymnax",
        "jaxmarl",
        "jumanji",
    )


def test_gymnax_make_matches_the_adapter_and_passes_params():
    env = make("gymnax:CartPole-v1", max_steps_in_episode=7)
    direct = GymnaxToLeraxEnv.from_name("CartPole-v1", max_steps_in_episode=7)
    assert type(env) is GymnaxToLeraxEnv
    assert env.name == direct.name == "CartPole-v1"
    assert env.action_space == direct.action_space
    assert env.observation_space == direct.observation_space
    assert int(env.params.max_steps_in_episode) == 7
    assert "CartPole-v1" in registered_ids("gymnax")


def test_jumanji_make_matches_the_adapter():
    pytest.importorskip("jumanji", reason="Jumanji is not installed")
    from lerax.compatibility.jumanji import JumanjiToLeraxEnv

    env = make("jumanji:Snake-v1", num_rows=5, num_cols=7)
    assert type(env) is JumanjiToLeraxEnv and env.name == "Snake-v1"
    assert env.observation_space.spaces["grid"].shape == (5, 7, 5)


def test_brax_make_matches_the_adapter():
    pytest.importorskip("brax.envs", reason="Brax is not installed")
    from lerax.compatibility.brax import BraxToLeraxEnv

    env = make("brax:inverted_pendulum", episode_length=9)
    assert type(env) is BraxToLeraxEnv
    assert env.episode_length == 9 and env.name == "inverted_pendulum"


def test_gymnasium_make_matches_the_adapter():
    pytest.importorskip("gymnasium", reason="Gymnasium is not installed")
    from lerax.compatibility.gymnasium import GymnasiumToLeraxEnv

    env = make("gymnasium:CartPole-v1", num_envs=2)
    try:
        assert type(env) is GymnasiumToLeraxEnv and env.num_envs == 2
        assert env.action_space.n == 2
    finally:
        env.close()


def test_jaxmarl_make_matches_the_adapter():
    pytest.importorskip("jaxmarl", reason="JaxMARL is not installed")
    from lerax.compatibility.jaxmarl import JaxMARLToLeraxEnv

    env = make("jaxmarl:MPE_simple_spread_v3", end_as="truncation")
    assert type(env) is JaxMARLToLeraxEnv and env.end_as == "truncation"
    assert env.agents == ("agent_0", "agent_1", "agent_2")


def test_craftax_ids_are_listed():
    pytest.importorskip("craftax", reason="Craftax is not installed")
    assert registered_ids("craftax") == (
        "Craftax-Classic-Pixels-v1",
        "Craftax-Classic-Symbolic-v1",
        "Craftax-Pixels-v1",
        "Craftax-Symbolic-v1",
    )


@pytest.mark.parametrize(
    ("env_id", "message"),
    [
        ("CartPole-v1", r"expected 'suite:id'.*known suites: brax, craftax"),
        ("gymnx:CartPole-v1", r"unknown suite 'gymnx'; did you mean 'gymnax'"),
        ("gymnax:CartPole-v2", r"no environment 'CartPole-v2'; did you mean "),
        ("gymnax:Zzzzzz", r"no environment 'Zzzzzz'; see .*registered_ids"),
    ],
)
def test_bad_ids_list_close_names(env_id, message):
    with pytest.raises(ValueError, match=message) as err:
        make(env_id)
    if env_id == "gymnax:CartPole-v2":
        assert "'CartPole-v1'" in str(err.value)


@pytest.mark.parametrize(
    ("env_id", "module"),
    [
        ("jumanji:Snake-v1", "jumanji"),
        ("craftax:Craftax-Classic-Symbolic-v1", "craftax"),
        ("brax:hopper", "brax"),
        ("gymnasium:CartPole-v1", "gymnasium"),
        ("jaxmarl:MPE_simple_spread_v3", "jaxmarl"),
    ],
)
def test_missing_suite_names_its_extra(monkeypatch, env_id, module):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=rf"pip install 'lerax\[{module}\]'"):
        make(env_id)
