"""Learning curves: aggregation over seeds by hand, the figure and the CLI."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

import lerax._optional
from lerax.plot import load_runs, plot_learning_curves
from lerax.plot.__main__ import main


@pytest.fixture
def two_seeds(tmp_path):
    # Seed 0: returns 1, 2, 3; seed 1: 3, (none finished), 5.
    path = tmp_path / "run.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["seed", "iteration", "timesteps", "episode_return"])
        writer.writerows(
            [
                [0, 1, 10, 1.0],
                [1, 1, 10, 3.0],
                [0, 2, 20, 2.0],
                [1, 2, 20, ""],
                [0, 3, 30, 3.0],
                [1, 3, 30, 5.0],
            ]
        )
    return path


def curve(figure):
    (ax,) = figure.axes
    (line,) = ax.lines
    return ax, line.get_xdata(), line.get_ydata()


def band(ax):
    (poly,) = ax.collections
    vertices = poly.get_paths()[0].vertices
    return vertices


def test_load_runs_splits_seeds_and_drops_missing(two_seeds):
    runs = load_runs(two_seeds, x="timesteps", y="episode_return")
    assert [xs.tolist() for xs, _ in runs] == [[10, 20, 30], [10, 30]]
    assert [ys.tolist() for _, ys in runs] == [[1, 2, 3], [3, 5]]


def test_mean_and_min_max_band(two_seeds):
    figure = plot_learning_curves(two_seeds)
    ax, xs, ys = curve(figure)
    assert xs.tolist() == [10, 20, 30]
    assert ys.tolist() == [2.0, 2.0, 4.0]  # the missing point is left out
    vertices = band(ax)
    for x, low, high in [(10, 1.0, 3.0), (20, 2.0, 2.0), (30, 3.0, 5.0)]:
        at = vertices[vertices[:, 0] == x][:, 1]
        assert at.min() == pytest.approx(low) and at.max() == pytest.approx(high)


def test_standard_error_band(two_seeds):
    ax, _, _ = curve(plot_learning_curves(two_seeds, band="stderr"))
    vertices = band(ax)
    # At x=10: values 1 and 3, sample sd sqrt(2), standard error sqrt(2)/sqrt(2) = 1.
    at = vertices[vertices[:, 0] == 10][:, 1]
    assert at.min() == pytest.approx(1.0) and at.max() == pytest.approx(3.0)


def test_arrays_and_jsonl_sources(tmp_path):
    log = {"timesteps": np.array([1, 2]), "episode_return": np.array([[0, 2], [2, 4]])}
    path = tmp_path / "one.jsonl"
    path.write_text(
        "\n".join(
            json.dumps({"timesteps": t, "episode_return": r})
            for t, r in [(1, 5), (2, None)]
        )
    )
    figure = plot_learning_curves([log, path], labels=["arrays", "file"])
    ax = figure.axes[0]
    assert [line.get_label() for line in ax.lines] == [
        "arrays: mean of 2 seeds",
        "file",
    ]
    assert ax.lines[0].get_ydata().tolist() == [1.0, 3.0]
    assert ax.lines[1].get_ydata().tolist() == [5.0]
    # The legend says what the band is; the default title names the runs.
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == [
        "arrays: mean of 2 seeds",
        "arrays: min-max over seeds",
        "file",
    ]
    assert ax.get_title() == "arrays, file: episode_return"
    ax = plot_learning_curves(log, band="stderr", title="").axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "run 0: mean of 2 seeds",
        "run 0: ±1 standard error",
    ]
    assert ax.get_title() == ""


def test_errors_name_the_problem(two_seeds, tmp_path):
    with pytest.raises(KeyError, match="no column 'return'"):
        plot_learning_curves(two_seeds, y="return")
    with pytest.raises(ValueError, match="band must be one of"):
        plot_learning_curves(two_seeds, band="iqr")
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        plot_learning_curves(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="1 labels for 2 runs"):
        plot_learning_curves([two_seeds, two_seeds], labels=["a"])


def test_cli_writes_a_png(two_seeds, tmp_path, capsys):
    output = tmp_path / "out" / "curve.png"
    assert (
        main([str(two_seeds), str(two_seeds), "-o", str(output), "--title", "t"]) == 0
    )
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(output) as image:
        image.verify()
    with Image.open(output) as image:
        assert image.size == (840, 540)
    assert main([str(two_seeds), "-o", str(output), "--y", "nope"]) == 1
    assert "no column 'nope'" in capsys.readouterr().err


def test_missing_matplotlib_names_the_extra(monkeypatch, two_seeds):
    real = lerax._optional.importlib.import_module

    def fake(name, *args):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib")
        return real(name, *args)

    monkeypatch.setattr(lerax._optional.importlib, "import_module", fake)
    with pytest.raises(ImportError, match=r"pip install 'lerax\[plot\]'"):
        plot_learning_curves(two_seeds)
