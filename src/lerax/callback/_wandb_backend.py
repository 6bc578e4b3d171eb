"""A logging backend that sends rows to Weights & Biases."""

from __future__ import annotations

from typing import Any

from lerax._optional import import_extra

from ._logging_backend import AbstractLoggingBackend, finite_scalars


class WandbBackend(AbstractLoggingBackend):
    """Log to Weights & Biases, one W&B run per seed.

    Each seed gets its own run (named `<name>-seed<i>` when `name` is given, and
    grouped by `group`, which defaults to the name), its hyperparameters as the
    run's config, and its rows as `wandb.log` calls with `timesteps` as the step
    metric. Missing values are skipped. Extra keyword arguments go to
    `wandb.init` (for example `mode="offline"`, `dir=...`, `entity=...`).

    Attributes:
        project: The W&B project.
        init_kwargs: The other `wandb.init` arguments.
    """

    def __init__(self, project: str, **kwargs: Any):
        """Create the backend (no run starts until training does).

        Args:
            project: The W&B project.
            **kwargs: Passed to `wandb.init`.

        Raises:
            ImportError: If wandb is not installed (`pip install 'lerax[wandb]'`).
        """
        self._wandb = import_extra("wandb", "wandb", owner="WandbBackend")
        self.project = project
        self.init_kwargs = dict(kwargs)
        self._runs: list[Any] = []

    def start(self, hyperparameters: list[dict[str, Any]]) -> None:
        """Start one W&B run per seed with its hyperparameters as config.

        Args:
            hyperparameters: One dict per seed.
        """
        self.close()
        kwargs = dict(self.init_kwargs)
        name = kwargs.pop("name", None)
        group = kwargs.pop("group", name)
        config = kwargs.pop("config", {})
        for seed, hp in enumerate(hyperparameters):
            run = self._wandb.init(
                project=self.project,
                name=None if name is None else f"{name}-seed{seed}",
                group=group,
                config={**config, **hp, "seed": seed},
                reinit="create_new",
                **kwargs,
            )
            run.define_metric("*", step_metric="timesteps")
            self._runs.append(run)

    def write(self, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
        """Log each seed's finite values to its run.

        Args:
            rows: One dict per seed.
            columns: Ignored.
        """
        if len(self._runs) < len(rows):
            self.start([{}] * len(rows))
        for row in rows:
            self._runs[int(row["seed"])].log(finite_scalars(row))

    def close(self) -> None:
        """Finish every run."""
        for run in self._runs:
            run.finish()
        self._runs = []
