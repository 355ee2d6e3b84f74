"""The model card's PNGs, drawn with matplotlib (the train extra) without a display."""

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fashion_pubsub.classes import CLASS_NAMES

if TYPE_CHECKING:
    from fashion_pubsub.model.card import Calibration, Confusion

DPI = 100


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a server
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Any, path: Path) -> Path:
    figure.tight_layout()
    # No timestamps in the file, so regenerating unchanged figures changes no bytes.
    figure.savefig(path, dpi=DPI, metadata={"Software": None})
    _pyplot().close(figure)
    return path


def training_curves(history: dict[str, list[float]], path: Path) -> Path:
    """Loss and accuracy per epoch, on the training batches and the held-out images."""
    plt = _pyplot()
    figure, (loss, accuracy) = plt.subplots(1, 2, figsize=(10, 3.8))
    epochs = np.arange(1, len(history["loss"]) + 1)
    for axes, key, title in ((loss, "loss", "loss"), (accuracy, "accuracy", "accuracy")):
        axes.plot(epochs, history[key], label="training (augmented)")
        axes.plot(epochs, history[f"val_{key}"], label="held-out (5,000 images)")
        axes.set_xlabel("epoch")
        axes.set_title(title)
        axes.grid(alpha=0.3)
    best = int(np.argmax(history["val_accuracy"]))
    accuracy.axvline(best + 1, color="grey", linestyle=":", label="epoch kept")
    loss.legend()
    accuracy.legend()
    accuracy.set_ylim(max(0.8, min(history["val_accuracy"]) - 0.01), 1.0)
    return _save(figure, path)


def confusion_matrix(confusion: list[list[int]], path: Path) -> Path:
    """Counts of test images per (true, predicted) class."""
    plt = _pyplot()
    matrix = np.array(confusion)
    figure, axes = plt.subplots(figsize=(7.5, 6.5))
    axes.imshow(np.log1p(matrix), cmap="Blues")
    for (row, column), count in np.ndenumerate(matrix):
        if count:
            color = "white" if count > matrix.max() / 3 else "black"
            axes.text(column, row, str(count), ha="center", va="center", fontsize=8, color=color)
    ticks = np.arange(len(CLASS_NAMES))
    axes.set_xticks(ticks, CLASS_NAMES, rotation=45, ha="right")
    axes.set_yticks(ticks, CLASS_NAMES)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title("confusion matrix (10,000 test images)")
    return _save(figure, path)


def reliability(calibration: "Calibration", path: Path) -> Path:
    """Accuracy against mean top probability per bin; the diagonal is perfect calibration."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5, 5))
    filled = calibration.counts > 0
    width = calibration.edges[1] - calibration.edges[0]
    axes.bar(
        calibration.edges[:-1][filled],
        calibration.accuracy[filled],
        width=width,
        align="edge",
        edgecolor="black",
        alpha=0.7,
        label="accuracy in bin",
    )
    axes.plot([0, 1], [0, 1], "k--", label="perfect calibration")
    axes.plot(calibration.confidence[filled], calibration.accuracy[filled], "o", color="C1")
    axes.set_xlabel("top probability (confidence)")
    axes.set_ylabel("accuracy")
    axes.set_title(f"reliability (test set), ECE {calibration.ece:.4f}")
    axes.legend(loc="upper left")
    return _save(figure, path)


def confusion_examples(examples: list[tuple["Confusion", np.ndarray]], path: Path) -> Path:
    """One row per confusion: its most confidently wrong test images."""
    plt = _pyplot()
    columns = max((len(images) for _, images in examples), default=1)
    figure, grid = plt.subplots(
        len(examples), columns, figsize=(1.3 * columns, 1.6 * len(examples)), squeeze=False
    )
    for row, (confusion, images) in enumerate(examples):
        for column in range(columns):
            axes = grid[row][column]
            axes.axis("off")
            if column < len(images):
                axes.imshow(images[column], cmap="gray_r")
        grid[row][0].set_title(
            f"{CLASS_NAMES[confusion.true]} → {CLASS_NAMES[confusion.predicted]} "
            f"({confusion.count} test images)",
            loc="left",
            fontsize=9,
        )
    return _save(figure, path)
