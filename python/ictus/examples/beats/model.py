"""The tutorial's multi-task TCN (Böck & Davies, ISMIR 2021) on ictus.nn: beats, downbeats, tempo.

    x (N, 1, T + 4, 81) log filtered spectrogram, its first and last frames repeated twice
    front end, three blocks of conv -> ELU -> max-pool (1, 3) over frequency -> dropout:
        conv 3x3 valid:  (N, 20, T + 2, 79) -> pool (N, 20, T + 2, 26)
        conv 1x10 valid: (N, 20, T + 2, 17) -> pool (N, 20, T + 2, 5)
        conv 3x3 valid:  (N, 20, T, 3)      -> pool (N, 20, T, 1) -> reshape (N, 20, T)
    TCN, 11 residual blocks with dilations 1, 2, ..., 1024, each two parallel convolutions (kernel
    5, dilations d and 2d) -> ELU -> spatial dropout -> 1x1 (ictus.nn.TCNBlock); two outputs, as
    in the tutorial: ELU of the last block's output and the sum of the blocks' skip outputs, both
    (N, 20, T). ictus.nn.TCN returns one of them, so TutorialTCN reuses its blocks for both.
    heads: beats and downbeats, dropout -> 1x1 conv (a Linear per frame) -> sigmoid, (N, 1, T);
    tempo: mean of the skip sum over time -> dropout -> Linear 20 -> 300, (N, 300) logits.

The two valid 3x3 convolutions consume two frames at each end, hence the padded input. The
tutorial ends the tempo head with a softmax and trains it with categorical cross-entropy; here
the head returns logits, the loss is ictus.nn.CrossEntropyLoss (the same function, computed
stably from logits), and :meth:`BeatTCN.predict` applies the softmax.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ... import nn
from ...nn.module import Module, Sequential, array_module
from .spectrogram import CONTEXT_FRAMES
from .targets import NUM_TEMPO_CLASSES

NUM_BANDS = 81
FILTERS = 20
KERNEL_SIZE = 5
NUM_DILATIONS = 11
DROPOUT = 0.15

Outputs = tuple[Any, Any, Any]  # beat activations (N, 1, T), downbeat activations (N, 1, T), tempo logits (N, 300)


class TutorialTCN(nn.TCN):
    """ictus.nn.TCN returning both of the tutorial's outputs: (activation(the last block's out), the
    sum of the blocks' skips), each (N, C, T); backward takes both gradients."""

    def __init__(self, channels: int, dropout: float) -> None:
        super().__init__(channels, channels, kernel_size=KERNEL_SIZE, dilations=tuple(2 ** i for i in range(NUM_DILATIONS)),
                         parallel=(1, 2), dropout=dropout, skip_connections=False, activation="elu")

    def forward(self, x: Any) -> tuple[Any, Any]:
        total_skip = None
        for block in self.blocks:
            x, skip = block(x)
            total_skip = skip if total_skip is None else total_skip + skip
        return self.activation(x), total_skip

    def backward(self, grad_out: tuple[Any, Any]) -> Any:
        grad_output, grad_skip = grad_out
        grad_x = self.activation.backward(grad_output)
        for block in reversed(list(self.blocks)):
            grad_x = block.backward(grad_x, grad_skip)
        return grad_x


class TimeMean(Module):
    """x (N, C, T) -> its mean over time (N, C), the tutorial's global average pooling."""

    def forward(self, x: Any) -> Any:
        if x.ndim != 3:
            raise ValueError(f"TimeMean: x must have shape (N, C, T), got {tuple(x.shape)}")
        self._save(x.shape)
        return x.mean(axis=2)

    def backward(self, grad_out: Any) -> Any:
        (shape,) = self._saved()
        xp = array_module(grad_out)
        return xp.ascontiguousarray(xp.broadcast_to((grad_out / shape[2])[:, :, None], shape))


def _conv_block(in_channels: int, kernel_size: tuple[int, int], dropout: float) -> list[Module]:
    # in place: the convolution's output is needed by nothing else (saves a 19 MB array at T=3000)
    return [nn.Conv2d(in_channels, FILTERS, kernel_size), nn.ELU(inplace=True), nn.MaxPool2d((1, 3)),
            nn.Dropout(dropout)]


def _event_head(dropout: float) -> Sequential:
    return Sequential(nn.Dropout(dropout), nn.Conv1d(FILTERS, 1, 1), nn.Sigmoid())


class BeatTCN(Module):
    """The tutorial's network; ``forward`` returns (beats, downbeats, tempo logits), ``backward``
    takes their three gradients."""

    def __init__(self, dropout: float = DROPOUT) -> None:
        super().__init__()
        self.frontend = Sequential(*_conv_block(1, (3, 3), dropout), *_conv_block(FILTERS, (1, 10), dropout),
                                   *_conv_block(FILTERS, (3, 3), dropout), nn.Reshape(FILTERS, -1))
        self.tcn = TutorialTCN(FILTERS, dropout)
        self.beats = _event_head(dropout)
        self.downbeats = _event_head(dropout)
        self.tempo = Sequential(TimeMean(), nn.Dropout(dropout), nn.Linear(FILTERS, NUM_TEMPO_CLASSES))

    def forward(self, x: Any) -> Outputs:
        if x.ndim != 4 or x.shape[1] != 1 or x.shape[3] != NUM_BANDS or x.shape[2] <= 2 * CONTEXT_FRAMES:
            raise ValueError(f"BeatTCN: x must have shape (N, 1, T + {2 * CONTEXT_FRAMES}, {NUM_BANDS}) with T >= 1 "
                             f"(spectrogram.network_input makes it), got {tuple(x.shape)}")
        output, skip = self.tcn(self.frontend(x))
        return self.beats(output), self.downbeats(output), self.tempo(skip)

    def backward(self, grad_out: Outputs) -> Any:
        grad_beats, grad_downbeats, grad_tempo = grad_out
        grad_output = self.beats.backward(grad_beats) + self.downbeats.backward(grad_downbeats)
        grad_skip = self.tempo.backward(grad_tempo)
        return self.frontend.backward(self.tcn.backward((grad_output, grad_skip)))

    def predict(self, x: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Eval-mode outputs of one track x (1, 1, T + 4, 81) as NumPy: beat and downbeat
        activations (T,) and the tempo distribution (300,)."""
        self.eval()
        beats, downbeats, logits = (np.asarray(a.get() if hasattr(a, "get") else a) for a in self(x))
        logits = logits[0].astype(np.float64)
        tempo = np.exp(logits - logits.max())
        return beats[0, 0], downbeats[0, 0], (tempo / tempo.sum()).astype(np.float32)
