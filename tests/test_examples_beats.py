"""Tests of the beats example (python -m ictus.examples.beats): synthesis, spectrogram, targets,
peak picking and scores, the model's shapes and gradients, and a --quick run end to end."""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ictus import nn
from ictus.examples.beats import __main__ as cli
from ictus.examples.beats import evaluate, model, spectrogram, synth, targets, training
from ictus.serialization import load

needs_mir_eval = pytest.mark.skipif(importlib.util.find_spec("mir_eval") is None,
                                    reason='mir_eval is missing: pip install "ictus[examples]"')
needs_matplotlib = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                                      reason='matplotlib is missing: pip install "ictus[examples]"')


# ------------------------------------------------------------------------------------- synthesis
@pytest.fixture(scope="module")
def tracks() -> list[synth.Track]:
    return synth.synthesize_tracks(12, seed=3, duration=12.0)


def test_tracks_are_reproducible(tracks: list[synth.Track]) -> None:
    again = synth.synthesize_tracks(2, seed=3, duration=12.0)
    np.testing.assert_array_equal(again[1].audio, tracks[1].audio)
    np.testing.assert_array_equal(again[1].beats, tracks[1].beats)


def test_annotations_are_consistent(tracks: list[synth.Track]) -> None:
    for track in tracks:
        assert track.audio.dtype == np.float32 and track.audio.ndim == 1
        assert 0 < np.max(np.abs(track.audio)) < 1
        assert np.all(np.diff(track.beats) > 0) and 0 < track.beats[0] and track.beats[-1] < track.duration
        assert np.all(np.isin(track.downbeats, track.beats)), "downbeats must be a subset of the beats"
        bar_lengths = np.diff(np.searchsorted(track.beats, track.downbeats))
        assert np.all(bar_lengths == track.meter)
        assert track.meter in (3, 4)
        assert track.tempo == pytest.approx(60 / np.median(np.diff(track.beats)))
        assert synth.MIN_BPM * (1 - synth.MAX_DRIFT) <= track.tempo <= synth.MAX_BPM
        intervals = np.diff(track.beats)
        assert intervals.max() / intervals.min() <= 1 + 1.1 * synth.MAX_DRIFT, "the drift must be slow"
    assert {t.meter for t in tracks} == {3, 4} and {t.swing for t in tracks} == {False, True}


def test_short_tracks_are_refused() -> None:
    with pytest.raises(ValueError, match="duration"):
        synth.synthesize_track(np.random.default_rng(0), 2.0)


# ------------------------------------------------------------------------------------- spectrogram
def _madmom_filterbank() -> np.ndarray:
    """madmom 0.16's LogarithmicFilterbank(12 per octave, 30 Hz-17 kHz, norm, unique) in float64,
    written after its code: nearest bins by searchsorted, filters from linspace."""
    lowest, highest = np.floor(np.log2(30 / 440) * 12), np.ceil(np.log2(17000 / 440) * 12)
    frequencies = 440 * 2.0 ** (np.arange(lowest, highest) / 12)
    frequencies = frequencies[np.searchsorted(frequencies, 30):]
    frequencies = frequencies[:np.searchsorted(frequencies, 17000, "right")]
    bin_frequencies = np.fft.fftfreq(2048, 1 / 44100)[:1024]
    indices = np.clip(bin_frequencies.searchsorted(frequencies), 1, 1023)
    indices -= frequencies - bin_frequencies[indices - 1] < bin_frequencies[indices] - frequencies
    bins = np.unique(indices)
    bank = np.zeros((1024, len(bins) - 2))
    for band, (start, centre, stop) in enumerate(zip(bins, bins[1:], bins[2:])):
        bank[start:centre, band] = np.linspace(0, 1, centre - start, endpoint=False)
        bank[centre:stop, band] = np.linspace(1, 0, stop - centre, endpoint=False)
    return bank / bank.sum(axis=0)


def test_filterbank_matches_madmom() -> None:
    bank = spectrogram.log_filterbank()
    assert bank.shape == (1024, 81) and bank.dtype == np.float32
    np.testing.assert_allclose(bank, _madmom_filterbank(), rtol=1e-6, atol=1e-7)
    # the centres of madmom's last two filters for these settings
    centres = np.argmax(bank, axis=0)
    np.testing.assert_array_equal(centres[-2:], [693, 734])


def test_spectrogram_has_81_bands_at_100_fps() -> None:
    seconds = 3.3
    t = np.arange(int(seconds * synth.SAMPLE_RATE)) / synth.SAMPLE_RATE
    audio = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    spec = spectrogram.log_filtered_spectrogram(audio)
    assert spec.shape == (330, 81) and spec.dtype == np.float32
    loudest_band = int(np.argmax(spec[100]))
    centre_bin = int(np.argmax(spectrogram.log_filterbank()[:, loudest_band]))
    assert abs(spectrogram.fft_bin_frequencies()[centre_bin] - 440) < 22, "a 440 Hz sine peaks in the 440 Hz band"


def test_frames_are_centred() -> None:
    audio = np.zeros(synth.SAMPLE_RATE, dtype=np.float32)
    audio[round(0.42 * synth.SAMPLE_RATE)] = 1.0  # a click at 0.42 s
    energy = np.exp(spectrogram.log_filtered_spectrogram(audio)).sum(axis=1)
    assert int(np.argmax(energy)) == 42


def test_network_input_repeats_edge_frames() -> None:
    spec = np.random.default_rng(0).standard_normal((7, 81)).astype(np.float32)
    x = spectrogram.network_input(spec)
    assert x.shape == (1, 1, 11, 81)
    np.testing.assert_array_equal(x[0, 0, 2:-2], spec)
    np.testing.assert_array_equal(x[0, 0, :2], spec[[0, 0]])
    np.testing.assert_array_equal(x[0, 0, -2:], spec[[-1, -1]])


def test_spectrogram_refuses_stereo() -> None:
    with pytest.raises(ValueError, match="mono"):
        spectrogram.log_filtered_spectrogram(np.zeros((2, 4410), dtype=np.float32))


# ------------------------------------------------------------------------------------- targets
def test_frame_targets_and_widening() -> None:
    frames = targets.frame_targets(np.array([0.0, 0.104, 0.5, 9.0]), 60)
    assert np.flatnonzero(frames).tolist() == [0, 10, 50]
    wide = targets.widen(frames)
    expected = np.zeros(60, dtype=np.float32)
    expected[[0, 10, 50]] = 1.0
    expected[[1, 9, 11, 49, 51]] = 0.5
    np.testing.assert_array_equal(wide, expected)
    # neighbouring annotations keep their 1
    np.testing.assert_array_equal(targets.widen(np.array([0, 1, 1, 0], dtype=np.float32)), [0.5, 1, 1, 0.5])


def test_tempo_target() -> None:
    target = targets.tempo_target(120.4)
    assert target.shape == (300,) and target.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(target[118:123] / target[120], [0.25, 0.5, 1, 0.5, 0.25])
    assert evaluate.estimate_tempo(target) == pytest.approx(120.0)
    assert targets.tempo_target(0.2)[0] == targets.tempo_target(0.2).max()
    with pytest.raises(ValueError, match="bpm"):
        targets.tempo_target(300.0)


# ------------------------------------------------------------------------------------- evaluation
def test_pick_peaks_finds_known_peaks() -> None:
    activation = np.zeros(100, dtype=np.float32)
    activation[[10, 12, 40, 70, 71, 95]] = [0.9, 0.6, 0.8, 0.7, 0.7, 0.2]
    peaks = evaluate.pick_peaks(activation, threshold=0.3, min_distance=5)
    assert peaks.tolist() == [10, 40, 70]  # 12 is near a higher peak, 71 ties with 70, 95 is too low
    assert evaluate.pick_peaks(activation, threshold=0.3, min_distance=1).tolist() == [10, 12, 40, 70]
    with pytest.raises(ValueError, match="min_distance"):
        evaluate.pick_peaks(activation, 0.3, 0)


def test_estimate_tempo_interpolates() -> None:
    distribution = np.zeros(300)
    distribution[[99, 100, 101]] = [0.5, 1.0, 0.75]
    assert 100 < evaluate.estimate_tempo(distribution) < 100.5
    assert evaluate.tempo_acc1(104.0, 100.0) and not evaluate.tempo_acc1(104.1, 100.0)


@needs_mir_eval
def test_perfect_activations_score_one(tracks: list[synth.Track]) -> None:
    track = tracks[0]
    num_frames = int(track.duration * spectrogram.FPS)
    wanted = targets.track_targets(track.beats, track.downbeats, track.tempo, num_frames)
    scores = evaluate.score_track(wanted.beats, wanted.downbeats, wanted.tempo, track.beats, track.downbeats,
                                  track.tempo)
    assert scores.beat_f == 1.0 and scores.downbeat_f == 1.0 and scores.tempo_correct
    late = evaluate.score_track(np.roll(wanted.beats, 10), wanted.downbeats, np.roll(wanted.tempo, 10),
                                track.beats, track.downbeats, track.tempo)
    assert late.beat_f == 0.0 and not late.tempo_correct, "100 ms late is outside the 70 ms window"


# ------------------------------------------------------------------------------------- model and loss
def _example(num_frames: int, seed: int) -> training.Example:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, 1, num_frames + 4, 81)).astype(np.float32)
    beats = np.sort(rng.choice(num_frames, min(4, num_frames), replace=False)) / spectrogram.FPS
    return x, targets.track_targets(beats, beats[::2], 97.0, num_frames)


@pytest.mark.parametrize("num_frames", [1, 13, 200])
def test_model_shapes(num_frames: int) -> None:
    nn.manual_seed(0)
    net = model.BeatTCN()
    beats, downbeats, tempo = net(_example(num_frames, 0)[0])
    assert beats.shape == downbeats.shape == (1, 1, num_frames) and tempo.shape == (1, 300)
    assert 0 < beats.min() and beats.max() < 1
    beat_activation, _, distribution = net.predict(_example(num_frames, 0)[0])
    assert beat_activation.shape == (num_frames,) and distribution.sum() == pytest.approx(1.0, abs=1e-5)


def test_model_refuses_unpadded_input() -> None:
    with pytest.raises(ValueError, match="network_input"):
        model.BeatTCN()(np.zeros((1, 1, 4, 81), dtype=np.float32))
    with pytest.raises(ValueError, match="81"):
        model.BeatTCN()(np.zeros((1, 1, 50, 80), dtype=np.float32))


def test_gradients_match_finite_differences() -> None:
    """Directional derivative of the multi-task loss along a random direction in parameter space
    (dropout off, float32 forward: central differences agree to about 1e-3)."""
    nn.manual_seed(1)
    net = model.BeatTCN(dropout=0.0)
    x, wanted = _example(60, 1)
    loss = training.MultiTaskLoss()
    loss(net(x), wanted)
    net.zero_grad()
    net.backward(loss.backward())
    rng = np.random.default_rng(2)
    directions = [rng.standard_normal(p.shape).astype(np.float32) for p in net.parameters()]
    analytic = sum(float(np.sum(p.grad.astype(np.float64) * d)) for p, d in zip(net.parameters(), directions))
    step = 1e-3
    values = []
    for sign in (1, -1):
        for p, d in zip(net.parameters(), directions):
            p.data += sign * step * d
        values.append(loss(net(x), wanted))
        for p, d in zip(net.parameters(), directions):
            p.data -= sign * step * d
    numeric = (values[0] - values[1]) / (2 * step)
    assert numeric == pytest.approx(analytic, rel=2e-2)


def test_loss_masks_unknown_frames() -> None:
    nn.manual_seed(3)
    net = model.BeatTCN(dropout=0.0)
    x, wanted = _example(40, 3)
    unknown_downbeats = targets.Targets(wanted.beats, np.full_like(wanted.downbeats, -1.0), wanted.tempo)
    loss = training.MultiTaskLoss()
    beats, downbeats, tempo = net(x)
    with_unknown = loss((beats, downbeats, tempo), unknown_downbeats)
    assert loss.backward()[1].max() == 0.0, "unknown downbeats give no gradient"
    assert with_unknown == pytest.approx(loss((beats, downbeats * 0.5, tempo), unknown_downbeats))
    assert with_unknown < loss((beats, downbeats, tempo), wanted)


# ------------------------------------------------------------------------------------- command line
def test_missing_extras_name_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SystemExit, match=r'pip install "ictus\[examples\]"'):
        cli.main(["--quick"])


@needs_mir_eval
@needs_matplotlib
def test_quick_run_end_to_end(tmp_path: Path) -> None:
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "ictus.examples.beats", "--quick", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=120, check=False)
    seconds = time.perf_counter() - start
    assert run.returncode == 0, run.stderr[-2000:]
    assert re.search(r"beat F \d\.\d{3}\s+downbeat F \d\.\d{3}\s+tempo Acc1 \d\.\d{3}", run.stdout), run.stdout
    assert (tmp_path / cli.MODEL_FILE).stat().st_size > 100_000 and (tmp_path / cli.PLOT_FILE).stat().st_size > 10_000
    saved = load(tmp_path / cli.MODEL_FILE)
    assert set(saved) == set(model.BeatTCN().state_dict())
    assert seconds < 60, f"--quick took {seconds:.0f} s"
