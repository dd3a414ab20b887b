"""From activations to beats, downbeats and tempo, and the scores of the tutorial.

Peak picking: a frame is an event if its activation reaches ``threshold`` and is the largest
within ``min_distance`` frames either side (the first frame of a flat top wins). Beats use a
quarter of a second as minimum distance (200 BPM, the fastest tempo, has 0.3 s between beats),
downbeats half a second (a 3/4 bar at 200 BPM lasts 0.9 s). The tempo is the arg max of the
network's tempo distribution, refined by a parabola through it and its neighbours.

Scores: beat and downbeat F-measure with a +-70 ms window (mir_eval.beat.f_measure, no trimming
of the first 5 s since the synthetic tracks start on the grid) and tempo Acc1, the estimate
within 4% of the annotation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .spectrogram import FPS

BEAT_THRESHOLD, BEAT_MIN_DISTANCE_S = 0.3, 0.25
DOWNBEAT_THRESHOLD, DOWNBEAT_MIN_DISTANCE_S = 0.3, 0.5
F_MEASURE_WINDOW_S = 0.07
ACC1_TOLERANCE = 0.04


def pick_peaks(activation: np.ndarray, threshold: float, min_distance: int) -> np.ndarray:
    """Frame indices of the local maxima of a (T,) activation at or above ``threshold``, at least
    ``min_distance`` + 1 frames apart."""
    if activation.ndim != 1 or min_distance < 1:
        raise ValueError(f"pick_peaks: activation must be (T,) and min_distance >= 1, got shape "
                         f"{activation.shape} and min_distance {min_distance}")
    padded = np.pad(activation, min_distance, mode="constant", constant_values=-np.inf)
    window_max = np.lib.stride_tricks.sliding_window_view(padded, 2 * min_distance + 1).max(axis=1)
    candidates = np.flatnonzero((activation >= threshold) & (activation == window_max))
    peaks: list[int] = []
    for frame in candidates:  # equal maxima in one window: keep the first
        if not peaks or frame - peaks[-1] > min_distance:
            peaks.append(int(frame))
    return np.asarray(peaks, dtype=np.int64)


def detect_events(activation: np.ndarray, threshold: float, min_distance_s: float, fps: float = FPS) -> np.ndarray:
    """Event times in seconds from a (T,) activation at ``fps`` frames per second."""
    return pick_peaks(activation, threshold, max(1, round(min_distance_s * fps))) / fps


def detect_beats_and_downbeats(beat_activation: np.ndarray, downbeat_activation: np.ndarray) -> dict[str, np.ndarray]:
    """{"beats": times, "downbeats": times} in seconds, peak-picked with the example's settings."""
    return {"beats": detect_events(beat_activation, BEAT_THRESHOLD, BEAT_MIN_DISTANCE_S),
            "downbeats": detect_events(downbeat_activation, DOWNBEAT_THRESHOLD, DOWNBEAT_MIN_DISTANCE_S)}


def estimate_tempo(distribution: np.ndarray) -> float:
    """BPM from a distribution over integer BPM classes: arg max with parabolic interpolation."""
    best = int(np.argmax(distribution))
    if not 0 < best < len(distribution) - 1:
        return float(best)
    left, centre, right = distribution[best - 1:best + 2].astype(np.float64)
    curvature = left - 2 * centre + right
    return best + (0.5 * (left - right) / curvature if curvature < 0 else 0.0)


def tempo_acc1(estimated: float, reference: float, tolerance: float = ACC1_TOLERANCE) -> bool:
    """Whether ``estimated`` lies within ``tolerance`` (relative) of ``reference``."""
    return abs(estimated - reference) <= tolerance * reference


@dataclass(frozen=True)
class TrackScores:
    beat_f: float
    downbeat_f: float
    tempo_correct: bool
    estimated_tempo: float


def score_track(beat_activation: np.ndarray, downbeat_activation: np.ndarray, tempo_distribution: np.ndarray,
                beats: np.ndarray, downbeats: np.ndarray, tempo: float) -> TrackScores:
    """Scores of one track's network outputs against its annotations."""
    import mir_eval

    detected = detect_beats_and_downbeats(beat_activation, downbeat_activation)
    estimated_tempo = estimate_tempo(tempo_distribution)
    return TrackScores(mir_eval.beat.f_measure(beats, detected["beats"], F_MEASURE_WINDOW_S),
                       mir_eval.beat.f_measure(downbeats, detected["downbeats"], F_MEASURE_WINDOW_S),
                       tempo_acc1(estimated_tempo, tempo), estimated_tempo)


def mean_scores(scores: list[TrackScores]) -> dict[str, float]:
    """Beat F, downbeat F and tempo Acc1 averaged over tracks."""
    return {"beat_f": float(np.mean([s.beat_f for s in scores])),
            "downbeat_f": float(np.mean([s.downbeat_f for s in scores])),
            "tempo_acc1": float(np.mean([s.tempo_correct for s in scores]))}
