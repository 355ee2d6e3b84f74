"""`train` and `quantize`."""

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from fashion_pubsub.cli.app import CONTEXT, F, build, data_dir_option, idx_options, main
from fashion_pubsub.model.config import TrainConfig
from fashion_pubsub.settings import DataSettings

if TYPE_CHECKING:
    from fashion_pubsub.model.evaluate import Evaluation


# (flag, TrainConfig field, type, help): the recipe's flags, each defaulting to TrainConfig.
_RECIPE_FLAGS: list[tuple[str, str, click.ParamType[Any], str]] = [
    ("--seed", "seed", click.INT, "Random seed."),
    (
        "--crop-padding",
        "crop_padding",
        click.IntRange(0, 8),
        "Augmentation: random shifts of up to this many pixels (0: none).",
    ),
    (
        "--label-smoothing",
        "label_smoothing",
        click.FloatRange(0, 0.5),
        "Share of each target spread over all classes.",
    ),
    (
        "--erasing",
        "erasing",
        click.FloatRange(0, 1),
        "Augmentation: chance that an image gets a random rectangle of noise (0: none).",
    ),
    (
        "--dense-units",
        "dense_units",
        click.IntRange(10),
        "Network: width of the hidden dense layer.",
    ),
    (
        "--stage3-filters",
        "stage3_filters",
        click.IntRange(0),
        "Network: filters of an extra convolution at 7x7 (0: none).",
    ),
    (
        "--weight-decay",
        "weight_decay",
        click.FloatRange(0, 1),
        "Decoupled weight decay (AdamW) per unit of learning rate (0: plain Adam).",
    ),
    (
        "--patience",
        "patience",
        click.IntRange(1),
        "Epochs without a better held-out accuracy before stopping.",
    ),
    ("--batch-size", "batch_size", click.IntRange(1), "Images per step."),
    (
        "--validation-size",
        "validation_size",
        click.IntRange(1),
        "Training images held out for model selection.",
    ),
]


def _recipe_options(func: F) -> F:
    """The flags of `_RECIPE_FLAGS`, in its order in --help."""
    for flag, field, kind, text in reversed(_RECIPE_FLAGS):
        func = click.option(flag, field, type=kind, default=getattr(TrainConfig, field), help=text)(
            func
        )
    return func


@main.command(context_settings=CONTEXT)
@data_dir_option
@idx_options("training")
@click.option(
    "--export",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("models/fashion-model"),
    help="Model base path for the new version.",
)
@click.option("--no-export", is_flag=True, help="Train and report only; write no version.")
@click.option(
    "--no-quantize", is_flag=True, help="Serve the float model instead of its int8 quantisation."
)
@click.option("--epochs", type=click.IntRange(1), default=TrainConfig.epochs, help="Most epochs.")
@click.option(
    "--time-budget",
    type=click.FloatRange(min=1),
    default=None,
    help="Seconds: start no epoch that would likely end after this (the best epoch is kept).",
)
@_recipe_options
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
    no_quantize: bool,
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
        quantize=not no_quantize,
    )
    click.echo(
        f"validation accuracy {report.trained.validation_accuracy:.4f} after "
        f"{report.trained.epochs_run} epochs in {report.trained.seconds:.0f} s"
    )
    _echo_test(report.test, report.float_test)
    if report.version_dir is not None:
        click.echo(f"exported {report.version_dir}")


def _base_path_option(help: str) -> Callable[[F], F]:
    """--model_base_path (TF Serving's spelling) or --model-base-path: an existing folder of
    numbered versions, `base_path` to the command."""
    return click.option(
        "--model_base_path",
        "--model-base-path",
        "base_path",
        type=click.Path(path_type=Path, file_okay=False, exists=True),
        default=Path("models/fashion-model"),
        help=help,
    )


@main.command(context_settings=CONTEXT)
@data_dir_option
@_base_path_option("Model base path holding the version to start from.")
@click.option(
    "--from-version", type=click.IntRange(1), required=True, help="Exported version to optimise."
)
def quantize(data_dir: Path | None, base_path: Path, from_version: int) -> None:
    """Publish the next version: an exported version simplified and quantised to int8.

    Calibrates on 2,000 training images and checks the result on the test set;
    needs ONNX (`pip install -e '.[train]'`) but not TensorFlow.
    """
    from fashion_pubsub.data.dataset import load_split
    from fashion_pubsub.model.optimize import derive_optimized_version

    folder = build(DataSettings, data_dir=data_dir).data_dir
    version_dir, optimized = derive_optimized_version(
        base_path, from_version, load_split(folder, "train"), load_split(folder, "test")
    )
    _echo_test(optimized.served_test, optimized.float_test)
    click.echo(f"exported {version_dir}")


def _echo_test(test: "Evaluation", float_test: "Evaluation | None") -> None:
    compared = "" if float_test is None else f", float model {float_test.accuracy:.4f}"
    click.echo(f"test accuracy {test.accuracy:.4f} (ONNX Runtime, 10,000 test images{compared})")
    for name, value in test.per_class_accuracy.items():
        click.echo(f"  {name:<12} {value:.3f}")


@main.command("model-card", context_settings=CONTEXT)
@data_dir_option
@_base_path_option("Model base path holding the version.")
@click.option(
    "--version", type=click.IntRange(1), default=None, help="Version [default: the highest]."
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("docs/model-card"),
    help="Folder for the PNGs and card.json.",
)
def model_card(data_dir: Path | None, base_path: Path, version: int | None, out: Path) -> None:
    """Draw the model card's figures for a version: training curves, confusion matrix,
    worst confusions with examples, reliability diagram (needs matplotlib, the train extra)."""
    from fashion_pubsub.data.dataset import load_split
    from fashion_pubsub.model.card import write_card

    if version is None:
        numbers = [int(p.name) for p in base_path.iterdir() if p.name.isdigit()]
        if not numbers:
            raise click.UsageError(f"{base_path} holds no numbered version")
        version = max(numbers)
    test = load_split(build(DataSettings, data_dir=data_dir).data_dir, "test")
    card = write_card(base_path / str(version), test, out)
    click.echo(
        f"version {version}: test accuracy {card.evaluation.accuracy:.4f}, "
        f"ECE {card.calibration.ece:.4f}"
    )
    for confusion in card.as_dict()["worst_confusions"]:
        click.echo(f"  {confusion['true']} -> {confusion['predicted']}: {confusion['count']}")
    for path in card.files:
        click.echo(f"wrote {path}")
