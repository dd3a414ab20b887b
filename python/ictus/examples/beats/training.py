"""Training the tutorial's way: one track per step, masked binary cross-entropy on the widened
beat and downbeat targets plus cross-entropy on the tempo distribution, RAdam inside Lookahead,
gradients clipped to norm 0.5, the learning rate divided by 5 after 10 epochs without a better
validation loss and training stopped after 20 (the best weights restored), via ictus.train.fit.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ... import nn, optim
from ...train import EarlyStopping, fit
from .model import BeatTCN, Outputs
from .spectrogram import log_filterbank, log_filtered_spectrogram, network_input
from .synth import Track
from .targets import Targets, track_targets

LEARNING_RATE = 0.005
CLIP_GRAD_NORM = 0.5
LR_FACTOR, LR_PATIENCE = 0.2, 10
EARLY_STOPPING_PATIENCE = 20

Example = tuple[np.ndarray, Targets]  # network input (1, 1, T + 4, 81), the track's targets


class MultiTaskLoss:
    """beat BCE + downbeat BCE + tempo cross-entropy for ``fit``: called on the model's outputs and
    a Targets, ``backward`` returns the three gradients ``BeatTCN.backward`` takes. Frames whose
    target is negative (unknown, as for datasets without downbeat annotations) are masked out."""

    def __init__(self) -> None:
        self.beats, self.downbeats, self.tempo = nn.BCELoss(), nn.BCELoss(), nn.CrossEntropyLoss()

    @staticmethod
    def _masked(loss: Any, pred: Any, target: np.ndarray) -> float:
        target = target.reshape(pred.shape)
        known = target >= 0
        return loss(pred, np.where(known, target, 0.0).astype(np.float32), known if not known.all() else None)

    def __call__(self, outputs: Outputs, targets: Targets) -> float:
        beats, downbeats, tempo = outputs
        return (self._masked(self.beats, beats, targets.beats) + self._masked(self.downbeats, downbeats, targets.downbeats)
                + self.tempo(tempo, targets.tempo[None]))

    def backward(self) -> Outputs:
        return self.beats.backward(), self.downbeats.backward(), self.tempo.backward()


def make_examples(tracks: list[Track]) -> list[Example]:
    """Each track's network input and targets."""
    filterbank = log_filterbank()
    examples = []
    for track in tracks:
        spectrogram = log_filtered_spectrogram(track.audio, filterbank)
        examples.append((network_input(spectrogram),
                         track_targets(track.beats, track.downbeats, track.tempo, len(spectrogram))))
    return examples


def train(model: BeatTCN, train_examples: list[Example], val_examples: list[Example], epochs: int,
          progress: bool = True) -> dict[str, list[Any]]:
    """Trains ``model`` in place; returns fit's history ("loss", "val_loss", "lr", "epoch_time")."""
    model.frontend[0].input_grad = False  # the spectrogram needs no gradient
    optimizer = optim.Lookahead(optim.RAdam(model.parameters(), lr=LEARNING_RATE))
    scheduler = optim.ReduceLROnPlateau(optimizer, factor=LR_FACTOR, patience=LR_PATIENCE)
    return fit(model, MultiTaskLoss(), optimizer, train_examples, val_examples, epochs=epochs, scheduler=scheduler,
               early_stopping=EarlyStopping(patience=EARLY_STOPPING_PATIENCE), clip_grad_norm=CLIP_GRAD_NORM,
               shuffle=True, progress=progress)
