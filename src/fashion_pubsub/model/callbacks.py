"""What training shows and obeys while it runs: a progress bar per epoch with the
held-out accuracy, a log line per epoch, and the time budget.

Keras is imported lazily (the pipeline does not need TensorFlow), so each callback
class is built by a function that receives the `keras` module.
"""

import logging
import time
from typing import Any

from fashion_pubsub.logs import log_event

logger = logging.getLogger(__name__)


def epoch_progress(keras: Any, epochs: int, steps: int) -> Any:
    """A callback drawing one progress bar per epoch (on stderr), which ends showing
    the epoch's loss and held-out accuracy, and logging the same as an `epoch` event.

    Args:
        keras: the keras module.
        epochs: most epochs of the run (for "epoch 3/30").
        steps: batches per epoch.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    class EpochProgress(keras.callbacks.Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self._bars = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=20),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[scores]}"),
                console=Console(stderr=True),
            )
            self._task: Any = None
            self._start = time.monotonic()
            self._best = 0.0

        def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
            self._bars.start()

        def on_train_end(self, logs: dict[str, float] | None = None) -> None:
            self._bars.stop()

        def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            self._start = time.monotonic()
            self._task = self._bars.add_task(f"epoch {epoch + 1}/{epochs}", total=steps, scores="")

        def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
            self._bars.update(self._task, completed=batch + 1)

        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            logs = logs or {}
            held_out = logs.get("val_accuracy", 0.0)
            self._best = max(self._best, held_out)
            scores = f"loss {logs.get('loss', 0.0):.4f}  held-out accuracy {held_out:.4f}"
            scores += f" (best {self._best:.4f})"
            self._bars.update(self._task, completed=steps, scores=scores)
            log_event(
                logger,
                "epoch",
                epoch=f"{epoch + 1}/{epochs}",
                seconds=round(time.monotonic() - self._start, 1),
                loss=round(logs.get("loss", 0.0), 4),
                accuracy=round(logs.get("accuracy", 0.0), 4),
                val_accuracy=round(held_out, 4),
            )

    return EpochProgress()


def time_budget(keras: Any, budget: float | None, started: float) -> Any:
    """A callback that stops training before an epoch that would likely end after
    `budget` seconds from `started` (judged by the slowest epoch so far).

    The learning-rate schedule still assumes all epochs, so a run cut short ends
    at a higher rate than planned; the best held-out epoch is kept either way.
    """

    class TimeBudget(keras.callbacks.Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self._epoch_start = started
            self._slowest = 0.0

        def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            self._epoch_start = time.monotonic()

        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            now = time.monotonic()
            self._slowest = max(self._slowest, now - self._epoch_start)
            if budget is not None and now - started + self._slowest > budget:
                log_event(
                    logger,
                    "time_budget_reached",
                    epochs_run=epoch + 1,
                    seconds=round(now - started, 1),
                    budget=budget,
                )
                self.model.stop_training = True

    return TimeBudget()
