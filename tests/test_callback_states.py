"""Reading a callback's state by its class instead of its position."""

import jax
import pytest

from lerax.callback import (
    EmptyCallback,
    EmptyCallbackState,
    EpisodeStatisticsCallback,
    EpisodeStatisticsState,
    ListCallback,
    ListCallbackState,
    LogHistoryCallback,
    LogHistoryState,
    ResetContext,
)

CTX = ResetContext(num_envs=1, num_steps=1, num_iterations=3, total_timesteps=3)


@pytest.fixture(scope="module")
def state():
    callbacks = ListCallback(
        [EpisodeStatisticsCallback(), LogHistoryCallback("total_loss"), EmptyCallback()]
    )
    return callbacks.reset(CTX, key=jax.random.key(0))


def test_by_callback_class(state):
    assert isinstance(state[EpisodeStatisticsCallback], EpisodeStatisticsState)
    assert isinstance(state[LogHistoryCallback], LogHistoryState)
    assert state[LogHistoryCallback].history["total_loss"].shape == (3,)
    assert isinstance(state[EmptyCallback], EmptyCallbackState)


def test_by_state_class_and_position(state):
    assert state[LogHistoryState] is state.states[1]
    assert state[0] is state.states[0]
    assert state[-1] is state.states[2]


def test_missing_and_ambiguous_classes_name_the_callbacks(state):
    from lerax.callback import ProgressBarCallback

    with pytest.raises(KeyError, match="no entries match ProgressBarCallback"):
        state[ProgressBarCallback]
    twice = ListCallbackState(
        states=(EmptyCallbackState(), EmptyCallbackState()),
        kinds=(EmptyCallback, EmptyCallback),
    )
    with pytest.raises(KeyError, match=r"2 \(at \[0, 1\]\); index by position"):
        twice[EmptyCallback]
    with pytest.raises(TypeError, match="int or a callback class, got str"):
        state["EvalCallback"]
