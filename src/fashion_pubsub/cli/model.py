"""`train`."""

from pathlib import Path
from typing import Any

import click

from fashion_pubsub.cli.app import (
    CONTEXT,
    build,
    data_dir_option,
    main,
)
from fashion_pubsub.model.train import TrainConfig
from fashion_pubsub.settings import (
    DataSettings,
)


@main.command(context_settings=CONTEXT)
@data_dir_option
@click.option(
    "--images",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Training images IDX file [default: the training images in --data-dir]",
)
@click.option(
    "--labels",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Training labels IDX file [default: the training labels in --data-dir]",
)
@click.option(
    "--export",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("models/fashion-model"),
    help="Model base path for the new version.",
)
@click.option("--no-export", is_flag=True, help="Train and report only; write no version.")
@click.option("--epochs", type=click.IntRange(1), default=TrainConfig.epochs, help="Most epochs.")
@click.option("--seed", type=int, default=TrainConfig.seed, help="Random seed.")
@click.option(
    "--batch-size", type=click.IntRange(1), default=TrainConfig.batch_size, help="Images per step."
)
@click.option(
    "--validation-size",
    type=click.IntRange(1),
    default=TrainConfig.validation_size,
    help="Training images held out for model selection.",
)
@click.option(
    "--limit",
    type=click.IntRange(100),
    default=None,
    help="Train on only this many training images (quick runs).",
)
def train(
    data_dir: Path | None,
    images: Path | None,
    labels: Path | None,
    export: Path,
    no_export: bool,
    limit: int | None,
    **config: Any,
) -> None:
    """Train the classifier, evaluate it on the test set with ONNX Runtime, export a version."""
    from fashion_pubsub.model.workflow import run_training

    if (images is None) != (labels is None):
        raise click.UsageError("give both --images and --labels, or neither")
    report = run_training(
        build(DataSettings, data_dir=data_dir).data_dir,
        TrainConfig(limit=limit, **config),
        None if no_export else export,
        (images, labels) if images is not None and labels is not None else None,
    )
    click.echo(
        f"validation accuracy {report.trained.validation_accuracy:.4f} after "
        f"{report.trained.epochs_run} epochs in {report.trained.seconds:.0f} s"
    )
    click.echo(f"test accuracy {report.test.accuracy:.4f} (ONNX Runtime, 10,000 test images)")
    for name, value in report.test.per_class_accuracy.items():
        click.echo(f"  {name:<12} {value:.3f}")
    if report.version_dir is not None:
        click.echo(f"exported {report.version_dir}")
