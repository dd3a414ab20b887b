"""The examples' beat tracker (ictus.examples.beats.model.BeatTCN) rebuilt from torch.nn modules.

The twin has the ictus model's module hierarchy and names, so its state_dict keys and layouts are
the same and ``from_ictus(model)`` copies the weights across:
    frontend   Sequential: three blocks of Conv2d -> ELU -> MaxPool2d((1, 3)) -> Dropout (3x3, 1x10,
               3x3, 'valid'), then Flatten(2): (N, 1, T + 4, 81) -> (N, 20, T)
    tcn        blocks.<i>: dilated.<j> (Conv1d k=5, dilations d and 2d, 'same'), ELU, Dropout1d (the
               spatial dropout), skip (1x1, 40 -> 20), residual (1x1); returns (ELU(last out), sum of
               the skips)
    beats, downbeats   Sequential(Dropout, Conv1d(20, 1, 1), Sigmoid): (N, 1, T)
    tempo      Sequential(TimeMean, Dropout, Linear(20, 300)): (N, 300) logits
``multitask_loss`` is the example's training loss (ictus.examples.beats.training.MultiTaskLoss):
BCE on beats and downbeats plus cross-entropy on the tempo distribution.

This module imports torch: the bench imports it only when torch is installed.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..examples.beats import model as ictus_model
from ..examples.beats.targets import NUM_TEMPO_CLASSES
from ..nn.dropout import Dropout

FILTERS = ictus_model.FILTERS
PARALLEL = (1, 2)  # TutorialTCN's parallel dilations: d and 2d per block


def _conv_block(in_channels: int, kernel_size: tuple[int, int], dropout: float) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, FILTERS, kernel_size), nn.ELU(inplace=True), nn.MaxPool2d((1, 3)),
            nn.Dropout(dropout)]


def _event_head(dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Dropout(dropout), nn.Conv1d(FILTERS, 1, 1), nn.Sigmoid())


class TimeMean(nn.Module):
    """x (N, C, T) -> its mean over time (N, C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=2)


class TCNBlock(nn.Module):
    """ictus.nn.TCNBlock: out = residual(x) + skip, skip = 1x1(dropout(ELU(concat of the dilated convs)))."""

    def __init__(self, dilation: int, dropout: float) -> None:
        super().__init__()
        self.dilated = nn.ModuleList(nn.Conv1d(FILTERS, FILTERS, ictus_model.KERNEL_SIZE, dilation=dilation * f,
                                               padding="same") for f in PARALLEL)
        self.activation = nn.ELU(inplace=True)  # as ictus.nn.TCNBlock's: h is the block's own array
        self.dropout = nn.Dropout1d(dropout)
        self.skip = nn.Conv1d(len(PARALLEL) * FILTERS, FILTERS, 1)
        self.residual = nn.Conv1d(FILTERS, FILTERS, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.cat([conv(x) for conv in self.dilated], dim=1)
        skip = self.skip(self.dropout(self.activation(h)))
        return self.residual(x) + skip, skip


class TutorialTCN(nn.Module):
    """The examples' TutorialTCN: (ELU of the last block's out, sum of the blocks' skips)."""

    def __init__(self, dropout: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(TCNBlock(2 ** i, dropout) for i in range(ictus_model.NUM_DILATIONS))
        self.activation = nn.ELU()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        total_skip = None
        for block in self.blocks:
            x, skip = block(x)
            total_skip = skip if total_skip is None else total_skip + skip
        return self.activation(x), total_skip


class BeatTCN(nn.Module):
    """forward(x (N, 1, T + 4, 81)) -> (beats (N, 1, T), downbeats (N, 1, T), tempo logits (N, 300))."""

    def __init__(self, dropout: float = ictus_model.DROPOUT) -> None:
        super().__init__()
        self.frontend = nn.Sequential(*_conv_block(1, (3, 3), dropout), *_conv_block(FILTERS, (1, 10), dropout),
                                      *_conv_block(FILTERS, (3, 3), dropout), nn.Flatten(2))
        self.tcn = TutorialTCN(dropout)
        self.beats = _event_head(dropout)
        self.downbeats = _event_head(dropout)
        self.tempo = nn.Sequential(TimeMean(), nn.Dropout(dropout), nn.Linear(FILTERS, NUM_TEMPO_CLASSES))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        output, skip = self.tcn(self.frontend(x))
        return self.beats(output), self.downbeats(output), self.tempo(skip)


def from_ictus(model: ictus_model.BeatTCN) -> BeatTCN:
    """A torch twin with copies of ``model``'s weights, its dropout rates and its mode."""
    twin = BeatTCN()
    twin.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.state_dict().items()})
    copy_dropout_rates(model, twin)
    return twin.train(model.training)


def copy_dropout_rates(model: ictus_model.BeatTCN, twin: BeatTCN) -> None:
    """Each of the twin's dropout layers gets the rate of the ictus layer of the same name."""
    rates = {name: m.p for name, m in model.named_modules() if isinstance(m, Dropout)}
    for name, m in twin.named_modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.p = rates[name]


def multitask_loss(outputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                   targets: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """BCE(beats) + BCE(downbeats) + cross-entropy(tempo logits, tempo distribution), each a mean."""
    (beats, downbeats, tempo), (beat_target, downbeat_target, tempo_target) = outputs, targets
    return (F.binary_cross_entropy(beats, beat_target) + F.binary_cross_entropy(downbeats, downbeat_target)
            + F.cross_entropy(tempo, tempo_target))
