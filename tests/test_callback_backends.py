"""The logging backends on their own (host side, no JAX), and argument checks."""

import csv
import io
import json

import pytest

import lerax._optional
from _host_readers import tensorboard_hparams, tensorboard_scalars, tensorboard_texts
from helpers import ChainEnv
from lerax.callback import (
    ConsoleBackend,
    CSVBackend,
    EvalCallback,
    JSONLBackend,
    LoggingCallback,
    TensorBoardBackend,
    WandbBackend,
)

COLUMNS = ("seed", "iteration", "timesteps", "episode_return", "total_loss")
ROWS = [
    {
        "seed": 0,
        "iteration": 1,
        "timesteps": 8,
        "episode_return": None,
        "total_loss": 0.5,
    },
    {
        "seed": 1,
        "iteration": 1,
        "timesteps": 8,
        "episode_return": 2.0,
        "total_loss": 0.25,
    },
]


def test_csv_writes_header_rows_and_empty_cells(tmp_path):
    backend = CSVBackend(tmp_path / "sub" / "run.csv")
    backend.start([{"gamma": 0.99}, {"gamma": 0.9}])
    backend.write(ROWS, COLUMNS)
    backend.close()
    with open(tmp_path / "sub" / "run.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows == [
        list(COLUMNS),
        ["0", "1", "8", "", "0.5"],
        ["1", "1", "8", "2", "0.25"],
    ]
    sidecar = json.loads((tmp_path / "sub" / "run.csv.hparams.json").read_text())
    assert sidecar == [{"seed": 0, "gamma": 0.99}, {"seed": 1, "gamma": 0.9}]


def test_tensorboard_groups_tags_and_writes_hparams(tmp_path):
    backend = TensorBoardBackend(tmp_path)
    backend.start([{"gamma": 0.99, "num_epochs": 4, "anneal": True}])
    row = {
        "seed": 0,
        "iteration": 1,
        "timesteps": 8,
        "wall_time": 1.5,
        "steps_per_second": 100.0,
        "episode_return": 2.0,
        "episode_length": 5.0,
        "episodes": 3,
        "approx_kl": 0.01,
        "nonfinite_loss": 0.0,
        "eval_return_mean": 7.0,
        "eval_length_std": None,
    }
    backend.write([row], tuple(row))
    backend.close()
    scalars = tensorboard_scalars(tmp_path / "seed_0")
    # Grouped as Stable-Baselines3 users expect (written by hand here).
    assert {tag: steps[8] for tag, steps in scalars.items()} == pytest.approx(
        {
            "time/wall_time": 1.5,
            "time/steps_per_second": 100.0,
            "rollout/episode_return": 2.0,
            "rollout/episode_length": 5.0,
            "rollout/episodes": 3.0,
            "train/approx_kl": 0.01,
            "train/nonfinite_loss": 0.0,
            "eval/return_mean": 7.0,
        }
    )
    hparams = tensorboard_hparams(tmp_path / "seed_0")
    assert hparams["hparams"] == {"gamma": 0.99, "num_epochs": 4.0, "anneal": True}
    assert hparams["metrics"] == ["rollout/episode_return", "eval/return_mean"]
    assert hparams["status"] == 1  # STATUS_SUCCESS, written at close
    assert "gamma" in tensorboard_texts(tmp_path / "seed_0")["hyperparameters"]


def test_jsonl_writes_nulls(tmp_path):
    backend = JSONLBackend(tmp_path / "run.jsonl")
    backend.start([{}])
    backend.write(ROWS, COLUMNS)
    backend.close()
    lines = [json.loads(x) for x in (tmp_path / "run.jsonl").read_text().splitlines()]
    assert lines[0] == {
        "seed": 0,
        "iteration": 1,
        "timesteps": 8,
        "episode_return": None,
        "total_loss": 0.5,
    }


def test_console_table_one_column_per_seed_then_summary():
    out = io.StringIO()
    ConsoleBackend(file=out).write(ROWS, COLUMNS)
    lines = out.getvalue().splitlines()
    assert lines[1].split() == ["|", "seed", "0", "|", "seed", "1"]
    assert lines[4].split() == ["episode_return", "|", "-", "|", "2"]
    out = io.StringIO()
    many = [dict(ROWS[1], seed=s, total_loss=float(s)) for s in range(5)]
    ConsoleBackend(file=out, max_columns=4).write(many, COLUMNS)
    lines = out.getvalue().splitlines()
    assert lines[1].split() == ["|", "mean", "|", "min", "|", "max"]
    assert lines[-2].split() == ["total_loss", "|", "2", "|", "0", "|", "4"]


@pytest.mark.parametrize(
    ("make", "module", "extra"),
    [
        (lambda p: TensorBoardBackend(p), "tensorboardX", "tensorboard"),
        (lambda p: WandbBackend(project="x"), "wandb", "wandb"),
    ],
)
def test_missing_extra_names_the_pip_install(
    monkeypatch, tmp_path, make, module, extra
):
    real = lerax._optional.importlib.import_module

    def fake(name, *args):
        if name.split(".")[0] == module:
            raise ImportError(f"no {module}")
        return real(name, *args)

    monkeypatch.setattr(lerax._optional.importlib, "import_module", fake)
    with pytest.raises(ImportError, match=rf"pip install 'lerax\[{extra}\]'"):
        make(tmp_path)


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="every must be an int >= 1, got 0"):
        LoggingCallback([], every=0)
    with pytest.raises(
        TypeError, match="backend 1 is str, not an AbstractLoggingBackend"
    ):
        LoggingCallback([ConsoleBackend(), "csv"])
    with pytest.raises(ValueError, match="every_iterations"):
        EvalCallback(ChainEnv(), every_iterations=0)
    with pytest.raises(TypeError, match="logger must be a LoggingCallback, got str"):
        EvalCallback(ChainEnv(), every_iterations=1, logger="csv")
    with pytest.raises(ValueError, match="max_columns must be >= 1, got 0"):
        ConsoleBackend(max_columns=0)
