"""A training loop for ictus.nn models: epochs of batches, validation, LR schedule, early stopping,
gradient clipping, progress bars and resumable checkpoints.

    history = fit(model, nn.BCELoss(), optim.Adam(model.parameters()), train_batches, val_batches,
                  epochs=100, scheduler=..., early_stopping=EarlyStopping(patience=20),
                  checkpoint="run.safetensors")

A batch is ``(x, target)`` or ``(x, target, mask)``; the loss is called as ``loss(pred, target)``
or ``loss(pred, target, mask)`` and returns a number, ``loss.backward()`` its gradient with respect
to pred. Epoch losses are the means of the batch losses. The metric given to the scheduler and to
early stopping is the validation loss, or the training loss when there is no validation data.

A checkpoint (one safetensors file, rewritten atomically after every epoch) holds the model, the
optimizer, the scheduler, early stopping, ictus.nn's random state, the epoch count and the history;
``fit`` resumes from it when the file exists, and the resumed run continues exactly as an
uninterrupted one (same shuffles, same dropout masks, bit-identical losses).
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from typing import Any

from .nn.module import Module
from .nn.random import generator, get_rng_state, set_rng_state
from .optim import clip_grad_norm_
from .serialization import load, save

__all__ = ["EarlyStopping", "fit"]


class EarlyStopping:
    """Says stop once ``patience`` epochs in a row have not improved the metric by more than
    ``min_delta``; keeps a copy of the best weights and, if ``restore_best``, loads them back into
    the model when it says stop."""

    def __init__(self, patience: int = 10, min_delta: float = 0.0, mode: str = "min",
                 restore_best: bool = True) -> None:
        self._configure({"patience": patience, "min_delta": min_delta, "mode": mode, "restore_best": restore_best})
        self.best = math.inf if mode == "min" else -math.inf
        self.bad_epochs = 0
        self.best_epoch = -1
        self.epochs = 0
        self.best_state: dict[str, Any] | None = None

    def _configure(self, config: dict[str, Any]) -> None:
        patience, min_delta, mode = config["patience"], config["min_delta"], config["mode"]
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be an int >= 0, got {patience!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float)) or not min_delta >= 0:
            raise ValueError(f"EarlyStopping: min_delta must be a number >= 0, got {min_delta!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min' or 'max', got {mode!r}")
        self.patience, self.min_delta, self.mode = patience, float(min_delta), mode
        self.restore_best = bool(config["restore_best"])

    def _improves(self, metric: float) -> bool:
        if self.mode == "min":
            return metric < self.best - self.min_delta
        return metric > self.best + self.min_delta

    def step(self, metric: float, model: Module) -> bool:
        """Records one epoch's metric; True means stop (the best weights are back in ``model`` if
        ``restore_best``)."""
        metric = float(metric)
        self.epochs += 1
        if self._improves(metric):  # NaN never improves
            self.best, self.best_epoch, self.bad_epochs = metric, self.epochs - 1, 0
            self.best_state = {name: array.copy() for name, array in model.state_dict().items()}
            return False
        self.bad_epochs += 1
        stop = self.bad_epochs >= self.patience
        if stop and self.restore_best and self.best_state is not None:
            model.load_state_dict(self.best_state)
        return stop

    _STATE = ("patience", "min_delta", "mode", "restore_best", "best", "bad_epochs", "best_epoch", "epochs",
              "best_state")

    def state_dict(self) -> dict[str, Any]:
        """Settings, counters and the best weights (references; :func:`ictus.save` copies them out)."""
        return {name: getattr(self, name) for name in self._STATE}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        missing = [name for name in self._STATE if name not in state_dict]
        if missing:
            raise ValueError(f"EarlyStopping.load_state_dict: the state lacks {missing}")
        self._configure(state_dict)
        self.best = float(state_dict["best"])
        self.bad_epochs, self.best_epoch = int(state_dict["bad_epochs"]), int(state_dict["best_epoch"])
        self.epochs = int(state_dict["epochs"])
        best_state = state_dict["best_state"]
        self.best_state = None if best_state is None else {name: a.copy() for name, a in best_state.items()}


# ---------------------------------------------------------------------------------------------- fit
def _as_batches(batches: Any, name: str) -> Sequence[tuple[Any, ...]]:
    """The batches as an indexable sequence, each checked to be (x, target) or (x, target, mask)."""
    if not (hasattr(batches, "__len__") and hasattr(batches, "__getitem__")):
        batches = list(batches)
    if len(batches) == 0:
        raise ValueError(f"fit: {name} is empty; pass a sequence of (x, target) or (x, target, mask) tuples")
    for i in range(len(batches)):
        batch = batches[i]
        if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
            size = f"a {type(batch).__name__} of {len(batch)}" if isinstance(batch, (tuple, list)) else \
                f"a {type(batch).__name__}"
            raise ValueError(f"fit: {name}[{i}] must be (x, target) or (x, target, mask), got {size}")
    return batches


def _check_fit_options(epochs: int, clip_grad_norm: float | None) -> None:
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"fit: epochs must be an int >= 0, got {epochs!r}")
    if clip_grad_norm is not None and (isinstance(clip_grad_norm, bool) or not isinstance(clip_grad_norm, (int, float))
                                       or not clip_grad_norm > 0):
        raise ValueError(f"fit: clip_grad_norm must be a number > 0 or None, got {clip_grad_norm!r}")


def _train_epoch(model: Module, loss: Any, optimizer: Any, batches: Sequence[tuple[Any, ...]], shuffle: bool,
                 clip_grad_norm: float | None, bar: Any) -> float:
    model.train()
    order = generator().permutation(len(batches)) if shuffle else range(len(batches))
    total = 0.0
    for i in order:
        x, *targets = batches[i]
        value = float(loss(model(x), *targets))
        model.zero_grad()
        model.backward(loss.backward())
        if clip_grad_norm is not None:
            clip_grad_norm_(model.parameters(), clip_grad_norm)
        optimizer.step()
        total += value
        bar.update()
        bar.set_postfix(loss=f"{value:.4g}", refresh=False)
    return total / len(batches)


def _evaluate(model: Module, loss: Any, batches: Sequence[tuple[Any, ...]]) -> float:
    model.eval()
    total = 0.0
    for i in range(len(batches)):
        x, *targets = batches[i]
        total += float(loss(model(x), *targets))
    return total / len(batches)


def _checkpoint_parts(model: Module, optimizer: Any, scheduler: Any, early_stopping: Any) -> dict[str, Any]:
    return {"model": model, "optimizer": optimizer, "scheduler": scheduler, "early_stopping": early_stopping}


def _resume(path: str, parts: dict[str, Any]) -> tuple[int, dict[str, list[Any]], bool]:
    """Loads every part's state from the checkpoint at ``path``; returns (epochs done, history, stopped)."""
    saved = load(path)
    if not isinstance(saved, dict) or not {"epoch", "history", "rng_state", "stopped", *parts} <= saved.keys():
        raise ValueError(f"fit: {path} is not a checkpoint written by ictus.train.fit; delete it or pass another "
                         "checkpoint= path")
    for name, part in parts.items():
        if (part is None) != (saved[name] is None):
            state = "has no" if saved[name] is None else "has a"
            raise ValueError(f"fit: the checkpoint {path} {state} {name} state; resume with the same {name}= "
                             "argument as the run that wrote it, or delete the file to start over")
        if part is not None:
            part.load_state_dict(saved[name])
    set_rng_state(saved["rng_state"])
    return int(saved["epoch"]), saved["history"], bool(saved["stopped"])


def fit(model: Module, loss: Any, optimizer: Any, train_batches: Sequence[tuple[Any, ...]],
        val_batches: Sequence[tuple[Any, ...]] | None = None, *, epochs: int = 1, scheduler: Any = None,
        early_stopping: EarlyStopping | None = None, clip_grad_norm: float | None = None, shuffle: bool = False,
        progress: bool = True, checkpoint: str | os.PathLike[str] | None = None) -> dict[str, list[Any]]:
    """Trains ``model`` for ``epochs`` epochs (counting those a resumed checkpoint already ran).

    Each step: train mode, ``pred = model(x)``, ``loss(pred, target[, mask])``, zero_grad,
    ``model.backward(loss.backward())``, optional clipping to a global norm of ``clip_grad_norm``,
    ``optimizer.step()``. ``shuffle`` draws the batch order from ictus.nn.random.generator().
    After each epoch: the validation loss in eval mode, ``scheduler.step(metric)``,
    ``early_stopping.step(metric, model)``, and the checkpoint. Returns the history: "loss",
    "val_loss" (empty without validation data), "lr" (group 0's lr during the epoch) and
    "epoch_time" (seconds), one entry per epoch.
    """
    # Imported here, not at the top: 40 ms that `import ictus` need not pay.
    from tqdm.auto import tqdm

    _check_fit_options(epochs, clip_grad_norm)
    train = _as_batches(train_batches, "train_batches")
    val = None if val_batches is None else _as_batches(val_batches, "val_batches")
    parts = _checkpoint_parts(model, optimizer, scheduler, early_stopping)
    history: dict[str, list[Any]] = {"loss": [], "val_loss": [], "lr": [], "epoch_time": []}
    done, stopped = 0, False
    if checkpoint is not None and os.path.exists(checkpoint):
        done, history, stopped = _resume(os.fspath(checkpoint), parts)
    if stopped:
        return history
    with tqdm(total=epochs, initial=min(done, epochs), desc="fit", unit="epoch", disable=not progress) as epoch_bar, \
            tqdm(total=len(train), desc="batches", unit="batch", leave=False, disable=not progress) as batch_bar:
        for epoch in range(done, epochs):
            start = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            batch_bar.reset()
            train_loss = _train_epoch(model, loss, optimizer, train, shuffle, clip_grad_norm, batch_bar)
            val_loss = None if val is None else _evaluate(model, loss, val)
            metric = train_loss if val_loss is None else val_loss
            if scheduler is not None:
                scheduler.step(metric)
            stopped = early_stopping is not None and early_stopping.step(metric, model)
            for key, value in (("loss", train_loss), ("val_loss", val_loss), ("lr", lr),
                               ("epoch_time", time.perf_counter() - start)):
                if value is not None:
                    history[key].append(value)
            postfix = {"loss": f"{train_loss:.4g}", "lr": f"{lr:.3g}"}
            epoch_bar.set_postfix(postfix if val_loss is None else {**postfix, "val": f"{val_loss:.4g}"}, refresh=False)
            epoch_bar.update()
            if checkpoint is not None:
                save({**parts, "rng_state": get_rng_state(), "epoch": epoch + 1, "history": history,
                      "stopped": stopped}, checkpoint)
            if stopped:
                break
    return history
