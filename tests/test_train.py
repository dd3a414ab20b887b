"""ictus.train: fit's resumable checkpoints (a run resumed after epoch k is bit-identical to an
uninterrupted one), early stopping and its restored weights, the history, quiet progress, and the
errors for bad arguments. The model is a linear layer with a random output mask drawn from
ictus.nn.random, so the random state must travel with the checkpoint."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ictus import optim
from ictus.nn import Module, Parameter, manual_seed
from ictus.nn.random import generator
from ictus.serialization import load, save
from ictus.train import EarlyStopping, fit

KEEP = 0.8


class MaskedLinear(Module):
    """y = (x W^T + b) * mask: x (N, 3) -> y (N, 2); in training mode each output is kept with
    probability KEEP and scaled by 1 / KEEP (a dropout drawn from ictus.nn.random.generator())."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = Parameter(generator().standard_normal((2, 3)).astype(np.float32) * 0.5)
        self.bias = Parameter(np.zeros(2, np.float32))

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = x @ self.weight.data.T + self.bias.data
        mask = (generator().random(y.shape) < KEEP).astype(np.float32) / KEEP if self.training else None
        self._save(x, mask)
        return y if mask is None else y * mask

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        x, mask = self._saved()
        grad_y = grad_out * mask
        self.weight.accumulate(grad_y.T @ x)
        self.bias.accumulate(grad_y.sum(axis=0))
        return grad_y @ self.weight.data


class MaskedMSE:
    """mean((pred - target)^2 * mask) over the mask's weight; backward gives d/d pred."""

    def __call__(self, pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> float:
        weights = np.ones_like(pred) if mask is None else np.broadcast_to(mask, pred.shape).astype(np.float32)
        self._last = (pred - target, weights)
        return float(((pred - target) ** 2 * weights).sum() / weights.sum())

    def backward(self) -> np.ndarray:
        diff, weights = self._last
        return 2 * diff * weights / weights.sum()


def make_batches(rng: np.random.Generator, count: int, masked: bool = False) -> list[tuple[np.ndarray, ...]]:
    truth = np.array([[1.0, -2.0, 0.5], [0.3, 0.0, -1.0]], np.float32)
    batches = []
    for i in range(count):
        x = rng.standard_normal((8, 3)).astype(np.float32)
        target = x @ truth.T + 0.1 * rng.standard_normal((8, 2)).astype(np.float32)
        mask = (rng.random((8, 1)) < 0.7).astype(np.float32)
        batches.append((x, target, mask) if masked and i % 2 else (x, target))
    return batches


def training_run(seed: int, rng: np.random.Generator) -> dict[str, Any]:
    """Model, optimizer (Lookahead around Adam), scheduler and early stopping from ictus.nn's seed."""
    manual_seed(seed)
    model = MaskedLinear()
    optimizer = optim.Lookahead(optim.Adam(model.parameters(), lr=0.05), k=3)
    return {"model": model, "loss": MaskedMSE(), "optimizer": optimizer,
            "scheduler": optim.ReduceLROnPlateau(optimizer, factor=0.5, patience=0, threshold=0.3),
            "early_stopping": EarlyStopping(patience=100)}


@pytest.mark.parametrize("interrupt_after", [1, 3])
def test_resumed_run_is_bit_identical(interrupt_after: int, rng: np.random.Generator, tmp_path: Path) -> None:
    train, val = make_batches(rng, 5, masked=True), make_batches(rng, 2)
    options = {"shuffle": True, "clip_grad_norm": 0.5, "progress": False}
    whole = training_run(7, rng)
    history = fit(**whole, train_batches=train, val_batches=val, epochs=5, **options)

    checkpoint = tmp_path / "run.safetensors"
    first = training_run(7, rng)
    fit(**first, train_batches=train, val_batches=val, epochs=interrupt_after, checkpoint=checkpoint, **options)
    assert load(checkpoint)["epoch"] == interrupt_after
    second = training_run(1234, rng)  # other initial weights and random state: all must come from the file
    resumed = fit(**second, train_batches=train, val_batches=val, epochs=5, checkpoint=checkpoint, **options)

    for key in ("loss", "val_loss", "lr"):
        assert resumed[key] == history[key], key
    assert len(set(history["lr"])) > 1, "the scheduler must have lowered the lr"
    for got, expected in zip(second["model"].parameters(), whole["model"].parameters()):
        np.testing.assert_array_equal(got.data, expected.data)


def test_history_lengths_and_lr(rng: np.random.Generator) -> None:
    run = training_run(0, rng)
    history = fit(**run, train_batches=make_batches(rng, 3), val_batches=make_batches(rng, 2), epochs=4,
                  progress=False)
    assert {key: len(values) for key, values in history.items()} == {"loss": 4, "val_loss": 4, "lr": 4,
                                                                      "epoch_time": 4}
    assert history["lr"][0] == 0.05 and all(t > 0 for t in history["epoch_time"])

    manual_seed(0)
    model = MaskedLinear()
    history = fit(model, MaskedMSE(), optim.SGD(model.parameters(), lr=0.05), make_batches(rng, 3), epochs=3,
                  progress=False)
    assert [len(history[key]) for key in ("loss", "val_loss", "lr", "epoch_time")] == [3, 0, 3, 3]
    assert history["loss"][-1] < history["loss"][0]


def test_early_stopping_stops_and_restores_the_best_weights(rng: np.random.Generator) -> None:
    manual_seed(0)
    model = MaskedLinear()
    loss, val = MaskedMSE(), make_batches(rng, 2)
    # SGD with too large a step: the loss shrinks once or twice, then grows without bound.
    history = fit(model, loss, optim.SGD(model.parameters(), lr=0.6), make_batches(rng, 4), val, epochs=30,
                  early_stopping=EarlyStopping(patience=2), progress=False)
    best = int(np.argmin(history["val_loss"]))
    assert len(history["val_loss"]) == best + 3, "stops after patience = 2 epochs without improvement"
    model.eval()
    restored = np.mean([loss(model(x), target) for x, target in val])
    assert restored == pytest.approx(history["val_loss"][best], rel=1e-6)


def test_early_stopping_by_hand_and_its_state(tmp_path: Path) -> None:
    manual_seed(0)
    model = MaskedLinear()
    stopper = EarlyStopping(patience=2, min_delta=0.1)
    decisions = []
    for epoch, metric in enumerate([3.0, 2.0, 1.95, float("nan"), 1.0]):
        model.weight.data[...] = epoch
        decisions.append(stopper.step(metric, model))
        if epoch == 2:
            save(stopper, tmp_path / "stopper.safetensors")
    assert decisions == [False, False, False, True, False]
    np.testing.assert_array_equal(model.weight.data, 4.0)  # the improvement at epoch 4 was kept
    restored = EarlyStopping()
    restored.load_state_dict(load(tmp_path / "stopper.safetensors"))
    model.weight.data[...] = 9.0
    assert restored.step(2.5, model) is True
    np.testing.assert_array_equal(model.weight.data, 1.0)  # the best at epoch 1, 2.0
    assert restored.best_epoch == 1


def test_progress_false_prints_nothing(rng: np.random.Generator, capfd: pytest.CaptureFixture[str]) -> None:
    batches = make_batches(rng, 2)
    fit(**training_run(0, rng), train_batches=batches, val_batches=batches, epochs=2, progress=False)
    assert capfd.readouterr() == ("", "")
    fit(**training_run(0, rng), train_batches=batches, val_batches=batches, epochs=2, progress=True)
    assert "val=" in capfd.readouterr().err


def test_a_stopped_checkpoint_trains_no_more(rng: np.random.Generator, tmp_path: Path) -> None:
    manual_seed(0)
    model = MaskedLinear()
    checkpoint, batches = tmp_path / "stopped.safetensors", make_batches(rng, 2)
    history = fit(model, MaskedMSE(), optim.SGD(model.parameters(), lr=0.6), batches, batches, epochs=30,
                  early_stopping=EarlyStopping(patience=0), checkpoint=checkpoint, progress=False)
    weights = model.weight.data.copy()
    again = fit(model, MaskedMSE(), optim.SGD(model.parameters(), lr=0.6), batches, batches, epochs=30,
                early_stopping=EarlyStopping(patience=0), checkpoint=checkpoint, progress=False)
    assert again == history and len(history["loss"]) < 30
    np.testing.assert_array_equal(model.weight.data, weights)


def test_resuming_with_other_parts_raises(rng: np.random.Generator, tmp_path: Path) -> None:
    checkpoint, batches = tmp_path / "run.safetensors", make_batches(rng, 2)
    fit(**training_run(0, rng), train_batches=batches, epochs=1, checkpoint=checkpoint, progress=False)
    run = training_run(0, rng)
    run["scheduler"] = None
    with pytest.raises(ValueError, match="has a scheduler state"):
        fit(**run, train_batches=batches, epochs=2, checkpoint=checkpoint, progress=False)
    save({"weights": np.ones(3)}, tmp_path / "other.safetensors")
    with pytest.raises(ValueError, match="not a checkpoint written by ictus.train.fit"):
        fit(**training_run(0, rng), train_batches=batches, checkpoint=tmp_path / "other.safetensors", progress=False)


BAD_ARGUMENTS: dict[str, tuple[dict[str, Any], str]] = {
    "empty-batches": ({"train_batches": []}, "train_batches is empty"),
    "long-tuple": ({"train_batches": [(1, 2, 3, 4)]}, r"train_batches\[0\] must be \(x, target\)"),
    "not-a-tuple": ({"val_batches": [np.ones(3)]}, r"val_batches\[0\]"),
    "epochs": ({"epochs": -1}, "epochs must be an int >= 0"),
    "clip": ({"clip_grad_norm": 0.0}, "clip_grad_norm must be a number > 0"),
}


@pytest.mark.parametrize("case", BAD_ARGUMENTS)
def test_bad_fit_arguments_raise(case: str, rng: np.random.Generator) -> None:
    override, message = BAD_ARGUMENTS[case]
    arguments = {**training_run(0, rng), "train_batches": make_batches(rng, 1), "progress": False, **override}
    with pytest.raises(ValueError, match=message):
        fit(**arguments)


@pytest.mark.parametrize("kwargs, message", [({"patience": -1}, "patience"), ({"min_delta": -0.1}, "min_delta"),
                                             ({"mode": "lowest"}, "mode")])
def test_bad_early_stopping_arguments_raise(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=f"EarlyStopping: {message}"):
        EarlyStopping(**kwargs)
