"""The examples' beat-tracking TCN as whole-network rows (group h): ictus.nn against torch.

The network is ictus.examples.beats.model.BeatTCN (CNN front end, 11-block TCN, beat, downbeat
and tempo heads) on x (N, 1, T + 4, 81), a log filtered spectrogram with two context frames at
each end; the torch side is its twin built from torch.nn modules (beats_twin.py) with the same
weights. Directions:
  fwd         inference: eval mode, (beats (N, 1, T), downbeats (N, 1, T), tempo logits (N, 300));
              torch under no_grad.
  train step  train mode with the model's dropout: forward, the examples' loss (BCE on beats and
              downbeats + cross-entropy on the tempo distribution), backward, gradients clipped to
              norm 0.5, one RAdam step (lr 0.005), as examples/beats/training.py trains:
              ictus.nn + ictus.optim against torch autograd + torch.optim.
  patch fwd   inference of the torch twin after ictus.torch.patch (its Conv1d, Conv2d, MaxPool2d and ELU
              on ictus' kernels; "ictus" rows) against the unpatched twin ("torch" rows).
Checks, once per row and thread count before timing, norm-wise (the largest ||ictus - torch|| /
||torch|| over the compared arrays): fwd outputs within 1e-4, patch fwd outputs within 1e-5; the
train step restarts both sides from the initial weights with fresh optimizers, sets every dropout
rate to 0 (so both are deterministic), compares one step's clipped gradients and updated weights,
then restores the rates: the timed steps run with the real dropout.
FLOPs: the convolutions' and the tempo Linear's of one forward (workloads.BeatTcnShape.fwd_flop);
train step = 3 x fwd (nominal: the first conv needs no input gradient; element-wise ops, the loss
and the optimizer are not counted).
"""
from __future__ import annotations

import contextlib
import copy
import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from .. import nn, optim
from ..examples.beats.model import BeatTCN
from ..examples.beats.training import CLIP_GRAD_NORM, LEARNING_RATE, MultiTaskLoss
from ..nn.dropout import Dropout
from .conv2d import kernel_names
from .harness import Case, Impl
from .workloads import BEAT_TCN_CONTEXT, BEAT_TCN_TEMPO_CLASSES, BeatTcnShape

OP = "beat TCN"
DIRECTIONS = ("fwd", "train step", "patch fwd")
DIRECTION_TITLES = {
    "fwd": "inference (eval mode)",
    "train step": "training step (forward, loss, backward, clip to norm 0.5, RAdam)",
    "patch fwd": "inference of the torch twin with ictus.torch.patch (ictus rows) vs unpatched (torch rows)",
}
# ictus' fp32 sums run in other orders than torch's: measured 1e-7 (outputs), 1e-6 (gradients).
TOLERANCES = {"fwd": 1e-4, "train step": 1e-4, "patch fwd": 1e-5}
_FWD_KERNELS = ("conv2d_fwd", "max_pool2d_fwd", "conv1d_fwd", "elu_fwd")
# the 1x10 layer's input gradient is the scatter kernel's (conv2d_bwd_data_scatter), the 3x3 one's not
_BWD_KERNELS = ("conv2d_bwd_data", "conv2d_bwd_data_scatter", "conv2d_bwd_weight", "max_pool2d_bwd", "conv1d_bwd_data",
                "conv1d_bwd_weight", "elu_bwd", "dropout")

Batch = tuple[np.ndarray, np.ndarray, np.ndarray]  # beat (N, 1, T), downbeat (N, 1, T), tempo (N, 300) targets


def flop(shape: BeatTcnShape, direction: str) -> int:
    return 3 * shape.fwd_flop if direction == "train step" else shape.fwd_flop


def norm_rel_diff(got: Sequence[Any], ref: Sequence[Any]) -> float:
    """max over pairs of ||got - ref|| / ||ref|| (NumPy arrays or CPU tensors), in float64."""
    errs = []
    for g, r in zip(got, ref, strict=True):
        g, r = _numpy(g).astype(np.float64), _numpy(r).astype(np.float64)
        errs.append(float(np.linalg.norm(g - r) / max(float(np.linalg.norm(r)), 1e-30)))
    return max(errs)


def _numpy(a: Any) -> np.ndarray:
    """A NumPy array or a CPU tensor's memory as a NumPy array."""
    return a.detach().numpy() if hasattr(a, "detach") else np.asarray(a)


@dataclass(frozen=True)
class CheckedCase(Case):
    """A Case whose check is its own comparison (None: nothing to compare with)."""

    compare: Callable[[], float | None] = lambda: None

    def check(self) -> float | None:
        return self.compare()


def network_input(shape: BeatTcnShape, rng: np.random.Generator) -> np.ndarray:
    """(N, 1, T + 4, bins) float32 in [0, 3): the range of a log filtered spectrogram."""
    return 3 * rng.random((shape.n, 1, shape.t + 2 * BEAT_TCN_CONTEXT, shape.bins), dtype=np.float32)


def training_targets(shape: BeatTcnShape, rng: np.random.Generator) -> Batch:
    """A beat on about one frame in 20, a downbeat on one in 80, random tempo distributions."""
    frames = (shape.n, 1, shape.t)
    tempo = rng.random((shape.n, BEAT_TCN_TEMPO_CLASSES), dtype=np.float32)
    return ((rng.random(frames) < 0.05).astype(np.float32), (rng.random(frames) < 0.0125).astype(np.float32),
            tempo / tempo.sum(axis=1, keepdims=True))


def build_model(seed: int) -> BeatTCN:
    """BeatTCN with torch's default initialisation drawn after ictus.nn.manual_seed(seed)."""
    nn.manual_seed(seed)
    return BeatTCN()


def _copied_outputs(run: Callable[[], Sequence[Any]]) -> list[np.ndarray]:
    return [_numpy(a).copy() for a in run()]


def _compare_runs(ictus_run: Callable[[], Sequence[Any]], torch_run: Callable[[], Sequence[Any]]) -> float:
    return norm_rel_diff(_copied_outputs(ictus_run), torch_run())


def _inference(model: Any, xt: Any, torch: ModuleType) -> Callable[[], Sequence[Any]]:
    def run() -> Sequence[Any]:
        with torch.no_grad():
            return model(xt)
    return run


def _inference_case(shape: BeatTcnShape, model: BeatTCN, x: np.ndarray, torch: ModuleType | None) -> CheckedCase:
    model.eval()

    def run() -> Sequence[Any]:
        return model(x)
    impls = [Impl("ictus", kernel_names(_FWD_KERNELS) + " + NumPy (the other element-wise layers)", run)]
    compare: Callable[[], float | None] = lambda: None
    if torch is not None:
        from . import beats_twin

        run_torch = _inference(beats_twin.from_ictus(model), torch.from_numpy(x.copy()), torch)
        impls.append(Impl("torch", "ATen", run_torch))
        compare = functools.partial(_compare_runs, run, run_torch)
    return CheckedCase(OP, shape.group, shape.label, "fwd", tuple(impls), flop=flop(shape, "fwd"),
                       heavy=shape.heavy, tolerance=TOLERANCES["fwd"], compare=compare)


def _patch_case(shape: BeatTcnShape, model: BeatTCN, x: np.ndarray, torch: ModuleType | None) -> CheckedCase:
    """Without torch there is nothing to patch: the case has no implementations (no rows)."""
    impls: tuple[Impl, ...] = ()
    compare: Callable[[], float | None] = lambda: None
    if torch is not None:
        from .. import torch as ictus_torch
        from . import beats_twin

        twin = beats_twin.from_ictus(model.eval())
        patched = copy.deepcopy(twin)
        swapped = len(ictus_torch.patch(patched).swapped)
        xt = torch.from_numpy(x.copy())
        run_patched, run_torch = _inference(patched, xt, torch), _inference(twin, xt, torch)
        kernel = f"torch + ictus.torch.patch ({swapped} modules swapped): {kernel_names(_FWD_KERNELS)}"
        impls = (Impl("ictus", kernel, run_patched), Impl("torch", "ATen", run_torch))
        compare = functools.partial(_compare_runs, run_patched, run_torch)
    return CheckedCase(OP, shape.group, shape.label, "patch fwd", impls, flop=flop(shape, "fwd"),
                       heavy=shape.heavy, tolerance=TOLERANCES["patch fwd"], compare=compare)


class TrainingStep:
    """One training step of each side on the same batch; ``restart`` puts both back on the initial
    weights with fresh optimizers. Without torch there is only the ictus side."""

    def __init__(self, model: BeatTCN, x: np.ndarray, targets: Batch, torch: ModuleType | None) -> None:
        self.model, self.x, self.targets, self.torch = model.train(), x, targets, torch
        model.frontend[0].input_grad = False  # as torch's x, which does not require grad
        self.initial = {k: v.copy() for k, v in model.state_dict().items()}
        self.loss = MultiTaskLoss()
        if torch is not None:
            from . import beats_twin

            self.twin = beats_twin.from_ictus(model)
            self.torch_loss = beats_twin.multitask_loss
            self.xt = torch.from_numpy(x.copy())
            self.targets_t = tuple(torch.from_numpy(a.copy()) for a in targets)
        self.restart()

    def restart(self) -> None:
        self.model.load_state_dict(self.initial)
        self.optimizer = optim.RAdam(self.model.parameters(), lr=LEARNING_RATE)
        if self.torch is not None:
            self.twin.load_state_dict({k: self.torch.from_numpy(v.copy()) for k, v in self.initial.items()})
            self.torch_optimizer = self.torch.optim.RAdam(self.twin.parameters(), lr=LEARNING_RATE)

    def ictus_step(self) -> list[np.ndarray]:
        """The step; returns the clipped gradients (in named_parameters order)."""
        beats, downbeats, tempo = self.model(self.x)
        # MultiTaskLoss's terms on a batch (its __call__ takes one track's Targets)
        self.loss.beats(beats, self.targets[0])
        self.loss.downbeats(downbeats, self.targets[1])
        self.loss.tempo(tempo, self.targets[2])
        self.model.zero_grad()
        self.model.backward(self.loss.backward())
        optim.clip_grad_norm_(self.model.parameters(), CLIP_GRAD_NORM)
        self.optimizer.step()
        return [p.grad for p in self.model.parameters()]

    def torch_step(self) -> list[Any]:
        """The step; returns the clipped gradients in the ictus model's named_parameters order."""
        self.torch_optimizer.zero_grad()
        self.torch_loss(self.twin(self.xt), self.targets_t).backward()
        self.torch.nn.utils.clip_grad_norm_(self.twin.parameters(), CLIP_GRAD_NORM)
        self.torch_optimizer.step()
        return [p.grad for p in self._torch_params()]

    def _torch_params(self) -> list[Any]:
        params = dict(self.twin.named_parameters())
        return [params[name] for name, _ in self.model.named_parameters()]

    @contextlib.contextmanager
    def _without_dropout(self) -> Iterator[None]:
        from . import beats_twin

        layers = [m for m in self.model.modules() if isinstance(m, Dropout)]
        rates = [m.p for m in layers]
        for m in layers:
            m.p = 0.0
        beats_twin.copy_dropout_rates(self.model, self.twin)
        try:
            yield
        finally:
            for m, p in zip(layers, rates, strict=True):
                m.p = p
            beats_twin.copy_dropout_rates(self.model, self.twin)

    def compare(self) -> float | None:
        """norm_rel_diff of one dropout-free step's gradients and updated weights, from the initial
        weights (None without torch)."""
        if self.torch is None:
            return None
        self.restart()
        with self._without_dropout():
            grads = [g.copy() for g in self.ictus_step()]
            torch_grads = self.torch_step()
        weights = [p.data for p in self.model.parameters()]
        return norm_rel_diff(grads + weights, torch_grads + self._torch_params())


def _training_case(shape: BeatTcnShape, model: BeatTCN, x: np.ndarray, targets: Batch,
                   torch: ModuleType | None) -> CheckedCase:
    step = TrainingStep(model, x, targets, torch)
    impls = [Impl("ictus", kernel_names(_FWD_KERNELS + _BWD_KERNELS) + " + NumPy, ictus.optim.RAdam",
                  step.ictus_step)]
    if torch is not None:
        impls.append(Impl("torch", "ATen, autograd, torch.optim.RAdam", step.torch_step))
    return CheckedCase(OP, shape.group, shape.label, "train step", tuple(impls), flop=flop(shape, "train step"),
                       heavy=shape.heavy, tolerance=TOLERANCES["train step"], compare=step.compare)


def make_case(shape: BeatTcnShape, direction: str, torch: ModuleType | None, seed: int = 0) -> CheckedCase:
    """The row's implementations on one model (ictus' and torch's inputs are copies of the same data)."""
    rng = np.random.default_rng(seed)
    model, x = build_model(seed), network_input(shape, rng)
    if direction == "fwd":
        return _inference_case(shape, model, x, torch)
    if direction == "patch fwd":
        return _patch_case(shape, model, x, torch)
    if direction == "train step":
        return _training_case(shape, model, x, training_targets(shape, rng), torch)
    raise ValueError(f"beats.make_case: direction must be one of {DIRECTIONS}, got {direction!r}")
