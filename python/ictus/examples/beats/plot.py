"""The example's PNG: training curves, and one held-out track's activations against its annotations.

Rows: the loss curves per epoch (log scale); the beat and downbeat activations over the first
seconds of the track with the annotated beats and downbeats as vertical lines and the detected
ones as dots; the tempo distribution with the annotated tempo. Drawn on a bare matplotlib Figure
(no pyplot), so no GUI backend or global state is involved.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .spectrogram import FPS

EXCERPT_S = 10.0


def _events(axes, activation: np.ndarray, reference: np.ndarray, detected: np.ndarray, label: str) -> None:
    frames = min(len(activation), int(EXCERPT_S * FPS))
    axes.plot(np.arange(frames) / FPS, activation[:frames], color="tab:blue", label=f"{label} activation")
    for i, time in enumerate(reference[reference < frames / FPS]):
        axes.axvline(time, color="tab:green", alpha=0.6, label="annotated" if i == 0 else None)
    shown = detected[detected < frames / FPS]
    axes.plot(shown, np.full(len(shown), 1.05), "o", color="tab:red", markersize=4, label="detected")
    axes.set_ylim(0, 1.15)
    axes.set_xlabel("time (s)")
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")


def plot_run(path: Path, curves: dict[str, list[float]], beat_activation: np.ndarray,
             downbeat_activation: np.ndarray, tempo_distribution: np.ndarray,
             annotations: dict[str, np.ndarray], detections: dict[str, np.ndarray], tempo: float) -> None:
    """Writes the PNG to ``path``. ``curves``: name -> value per epoch; ``annotations`` and
    ``detections``: "beats" and "downbeats" -> times in seconds; ``tempo``: the annotated BPM."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 11), layout="constrained")
    loss_axes, beat_axes, downbeat_axes, tempo_axes = figure.subplots(4, 1)
    for name, values in curves.items():
        loss_axes.plot(np.arange(1, len(values) + 1), values, marker=".", label=name)
    loss_axes.set(xlabel="epoch", ylabel="loss", yscale="log", title="training")
    loss_axes.legend(fontsize="small")
    _events(beat_axes, beat_activation, annotations["beats"], detections["beats"], "beat")
    _events(downbeat_axes, downbeat_activation, annotations["downbeats"], detections["downbeats"], "downbeat")
    beat_axes.set_title("held-out track: beats")
    downbeat_axes.set_title("held-out track: downbeats")
    tempo_axes.plot(np.arange(len(tempo_distribution)), tempo_distribution, label="tempo distribution")
    tempo_axes.axvline(tempo, color="tab:green", label=f"annotated {tempo:.1f} BPM")
    tempo_axes.set(xlabel="tempo (BPM)", ylabel="probability", title="held-out track: tempo")
    tempo_axes.legend(fontsize="small")
    figure.savefig(path, dpi=90)
