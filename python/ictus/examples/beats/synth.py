"""Synthetic music with known beats, downbeats and tempo: the data of the beats example.

A track is a drum pattern (kick on the downbeat and, in 4/4, often on beat 3; snare on the
backbeats; hi-hats on the eighth notes, swung on some tracks) over a bass note per bar and a chord
per bar, at 60-200 BPM in 3/4 or 4/4, with a slow linear tempo drift, small timing jitter and
random instrument levels. Drums are one-shots (noise bursts and decaying sines) rendered once per
track and added at their onsets; bass and chords are decaying sines with a few harmonics.

Times are in seconds; the audio is 44.1 kHz mono float32 with its peak at a random level below 1.
The annotated tempo is 60 / the median beat interval, as annotators of drifting tracks do.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 44100
MIN_BPM, MAX_BPM = 60.0, 200.0
MAX_DRIFT = 0.06          # the tempo moves by at most 6% over a track
SWING_OFFBEAT = 2.0 / 3.0  # a swung eighth note falls two thirds into the beat (triplet feel)
TIMING_JITTER_S = 0.002   # a player's onsets scatter by a few ms around the metrical grid


@dataclass(frozen=True)
class Track:
    """One synthesized track and its annotations."""

    audio: np.ndarray       # (samples,) float32
    beats: np.ndarray       # (num_beats,) beat times in seconds, increasing
    downbeats: np.ndarray   # the beats that start a bar (a subset of ``beats``)
    tempo: float            # BPM, 60 / the median beat interval
    meter: int              # beats per bar: 3 or 4
    swing: bool             # offbeat eighths at 2/3 of the beat instead of 1/2

    @property
    def duration(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def beat_grid(rng: np.random.Generator, duration: float, start_bpm: float, end_bpm: float) -> np.ndarray:
    """Beat times from a random first beat to the end, the tempo moving linearly from start to end."""
    times = [rng.uniform(0.1, 1.0)]
    while True:
        bpm = start_bpm + (end_bpm - start_bpm) * times[-1] / duration
        following = times[-1] + 60.0 / bpm
        if following > duration - 0.2:
            return np.asarray(times)
        times.append(following)


def tempo_of(beats: np.ndarray) -> float:
    """The annotated tempo (BPM) of a beat sequence: 60 / its median interval."""
    return float(60.0 / np.median(np.diff(beats)))


def _decay(length_s: float, time_constant_s: float) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(int(length_s * SAMPLE_RATE)) / SAMPLE_RATE
    return t, np.exp(-t / time_constant_s)


def kick(rng: np.random.Generator) -> np.ndarray:
    """A sine sweeping down from ~130 Hz to ~50 Hz with a short noise click."""
    t, envelope = _decay(0.35, rng.uniform(0.08, 0.2))
    f_start, f_end = rng.uniform(100, 160), rng.uniform(45, 60)
    frequency = f_end + (f_start - f_end) * np.exp(-t / 0.03)
    body = np.sin(2 * np.pi * np.cumsum(frequency) / SAMPLE_RATE) * envelope
    click = rng.standard_normal(len(t)) * np.exp(-t / 0.002) * 0.3
    return body + click


def snare(rng: np.random.Generator) -> np.ndarray:
    """A noise burst over a short ~200 Hz tone."""
    t, rattle = _decay(0.3, rng.uniform(0.05, 0.15))
    tone = np.sin(2 * np.pi * rng.uniform(160, 240) * t) * np.exp(-t / 0.04)
    return rng.standard_normal(len(t)) * rattle * 0.6 + tone * 0.5


def hihat(rng: np.random.Generator) -> np.ndarray:
    """High-passed noise (a first difference) with a 10-40 ms decay."""
    _, envelope = _decay(0.12, rng.uniform(0.01, 0.04))
    return np.diff(rng.standard_normal(len(envelope) + 1)) * envelope * 0.4


# one period of a tone with three harmonics, read at each note's phase (a wavetable: one table
# lookup per sample and note instead of three sines)
_WAVETABLE_SIZE = 4096
_WAVETABLE = sum(weight * np.sin(2 * np.pi * harmonic * np.arange(_WAVETABLE_SIZE) / _WAVETABLE_SIZE)
                 for harmonic, weight in ((1, 1.0), (2, 0.4), (3, 0.15)))


def tone(midi_notes: np.ndarray, length_s: float, decay_s: float) -> np.ndarray:
    """Notes with three decaying harmonics, a 5 ms attack and a 20 ms release, mixed at equal level."""
    t, envelope = _decay(length_s, decay_s)
    envelope = envelope * np.minimum(1.0, t / 0.005) * np.minimum(1.0, (length_s - t) / 0.02)
    frequencies = 440.0 * 2.0 ** ((np.asarray(midi_notes, dtype=np.float64) - 69) / 12)
    mix = np.zeros(len(t))
    for frequency in frequencies:
        positions = np.arange(len(t)) * (frequency * _WAVETABLE_SIZE / SAMPLE_RATE)
        mix += _WAVETABLE[positions.astype(np.int64) % _WAVETABLE_SIZE]
    return mix * envelope / len(frequencies)


def _add(audio: np.ndarray, time: float, sound: np.ndarray, gain: float) -> None:
    start = round(float(time) * SAMPLE_RATE)
    if 0 <= start < len(audio):
        stop = min(len(audio), start + len(sound))
        audio[start:stop] += gain * sound[:stop - start]


def _offbeats(beats: np.ndarray, swing: bool) -> np.ndarray:
    intervals = np.diff(beats, append=2 * beats[-1] - beats[-2])
    return beats + intervals * (SWING_OFFBEAT if swing else 0.5)


def _drums(rng: np.random.Generator, audio: np.ndarray, beats: np.ndarray, positions: np.ndarray,
           meter: int, swing: bool) -> None:
    """Kick on the downbeat (and on beat 3 of 4/4 bars when the track says so), snare on the other
    strong beats, hi-hats on every eighth note; levels and one-shots drawn per track."""
    kick_on_three = meter == 4 and rng.random() < 0.6
    snare_positions = [1, 3] if meter == 4 else [1, 2]
    kicks = (positions == 0) | (kick_on_three & (positions == 2))
    offbeats = _offbeats(beats, swing)
    hits = [(kick(rng), beats[kicks], np.where(positions[kicks] == 0, 1.0, 0.7)),
            (snare(rng), beats[np.isin(positions, snare_positions)], 1.0),
            (hihat(rng), np.concatenate([beats, offbeats]),
             np.concatenate([np.ones(len(beats)), rng.uniform(0.4, 0.8, len(offbeats))]))]
    for sound, times, accents in hits:
        gains = rng.uniform(0.3, 1.0) * np.broadcast_to(accents, times.shape)
        for time, gain in zip(times + rng.normal(0.0, TIMING_JITTER_S, len(times)), gains):
            _add(audio, time, sound, gain)


# chord roots in semitones above the key, from a I-IV-V-vi vocabulary; minor where the degree is
_PROGRESSION_ROOTS = np.array([0, 5, 7, 9, 2, 4])
_PROGRESSION_MINOR = np.array([False, False, False, True, True, True])


def _harmony(rng: np.random.Generator, audio: np.ndarray, downbeats: np.ndarray, bar_length: float) -> None:
    """A new chord and a bass note on every downbeat, held until the next one (the last for one
    ``bar_length`` or to the end)."""
    key = rng.integers(0, 12)
    chord_level, bass_level = rng.uniform(0.2, 0.6), rng.uniform(0.3, 1.0)
    bar_ends = np.append(downbeats[1:], min(downbeats[-1] + bar_length, len(audio) / SAMPLE_RATE))
    for start, end in zip(downbeats, bar_ends):
        degree = rng.integers(0, len(_PROGRESSION_ROOTS))
        root = 48 + key + _PROGRESSION_ROOTS[degree]
        third = 3 if _PROGRESSION_MINOR[degree] else 4
        length = end - start
        _add(audio, start, tone(np.array([root, root + third, root + 7]) + 12, length, length), chord_level)
        _add(audio, start, tone(np.array([root - 12]), min(length, 0.6), 0.25), bass_level)


def synthesize_track(rng: np.random.Generator, duration: float) -> Track:
    """A random track of ``duration`` seconds (at least 5) with its annotations."""
    if duration < 5.0:
        raise ValueError(f"synthesize_track: duration must be at least 5 s (a few bars), got {duration}")
    start_bpm = rng.uniform(MIN_BPM, MAX_BPM)
    end_bpm = float(np.clip(start_bpm * rng.uniform(1 - MAX_DRIFT, 1 + MAX_DRIFT), MIN_BPM, MAX_BPM))
    beats = beat_grid(rng, duration, start_bpm, end_bpm)
    meter = int(rng.choice([3, 4]))
    positions = (np.arange(len(beats)) + rng.integers(0, meter)) % meter
    swing = bool(rng.random() < 0.3)
    audio = np.zeros(int(duration * SAMPLE_RATE))
    _drums(rng, audio, beats, positions, meter, swing)
    downbeats = beats[positions == 0]
    tempo = tempo_of(beats)
    _harmony(rng, audio, downbeats, meter * 60.0 / tempo)
    audio += rng.standard_normal(len(audio)) * 1e-4  # a noise floor, as recordings have
    audio *= rng.uniform(0.3, 0.95) / np.max(np.abs(audio))
    return Track(audio.astype(np.float32), beats, downbeats, tempo, meter, swing)


def synthesize_tracks(count: int, seed: int, duration: float) -> list[Track]:
    """``count`` tracks from a generator seeded with ``seed`` (the same seed gives the same tracks)."""
    rng = np.random.default_rng(seed)
    return [synthesize_track(rng, duration) for _ in range(count)]
