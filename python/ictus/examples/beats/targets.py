"""Training targets of the tutorial: per-frame beat and downbeat targets and a tempo distribution.

Beats and downbeats become (T,) float32 arrays at 100 frames per second with 1 at the frame
nearest each annotation; ``widen`` sets the frames either side to 0.5 (unless already higher),
so a network firing one frame early or late is not punished as hard as one firing at random. The
tempo becomes a (300,) distribution over integer BPM classes 0..299: weight 1 at the rounded
tempo, 0.5 and 0.25 one and two classes away, scaled to sum to one. A negative target value marks
an unknown annotation, which the loss masks out.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .spectrogram import FPS

NUM_TEMPO_CLASSES = 300
WIDEN_VALUE = 0.5
TEMPO_NEIGHBOUR_WEIGHTS = (1.0, 0.5, 0.25)  # weight of the class at distance 0, 1, 2 from the tempo


@dataclass(frozen=True)
class Targets:
    """What the network learns for one track."""

    beats: np.ndarray       # (T,) float32 in [0, 1]
    downbeats: np.ndarray   # (T,) float32 in [0, 1]
    tempo: np.ndarray       # (NUM_TEMPO_CLASSES,) float32 summing to 1


def frame_targets(times: np.ndarray, num_frames: int, fps: float = FPS) -> np.ndarray:
    """(num_frames,) float32 with 1 at the frame nearest each time (times beyond the end dropped)."""
    targets = np.zeros(num_frames, dtype=np.float32)
    frames = np.round(np.asarray(times) * fps).astype(np.int64)
    targets[frames[(frames >= 0) & (frames < num_frames)]] = 1.0
    return targets


def widen(targets: np.ndarray, value: float = WIDEN_VALUE) -> np.ndarray:
    """The targets with each frame next to a positive one raised to ``value`` (if lower)."""
    neighbours = np.zeros_like(targets)
    neighbours[1:] = np.maximum(neighbours[1:], targets[:-1])
    neighbours[:-1] = np.maximum(neighbours[:-1], targets[1:])
    return np.maximum(targets, value * (neighbours > 0)).astype(np.float32)


def tempo_target(bpm: float, num_classes: int = NUM_TEMPO_CLASSES) -> np.ndarray:
    """(num_classes,) float32 distribution centred on the rounded ``bpm``."""
    if not 0 <= round(bpm) < num_classes:
        raise ValueError(f"tempo_target: bpm must round to a class in [0, {num_classes}), got {bpm}")
    target = np.zeros(num_classes, dtype=np.float32)
    for distance, weight in enumerate(TEMPO_NEIGHBOUR_WEIGHTS):
        for cls in {round(bpm) - distance, round(bpm) + distance}:
            if 0 <= cls < num_classes:
                target[cls] = weight
    return target / target.sum()


def track_targets(beats: np.ndarray, downbeats: np.ndarray, tempo: float, num_frames: int) -> Targets:
    """Widened beat and downbeat targets and the tempo distribution of one track."""
    return Targets(widen(frame_targets(beats, num_frames)), widen(frame_targets(downbeats, num_frames)),
                   tempo_target(tempo))
