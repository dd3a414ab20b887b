"""Log filtered spectrograms, the network input of the tutorial (madmom's LogarithmicFilteredSpectrogram).

Audio (samples,) float32 at 44.1 kHz -> frames of 2048 samples centred on every 441st sample
(100 frames per second; ceil(samples / 441) frames, zero-padded at the ends as madmom's
FramedSignal does) -> Hann window -> magnitudes of the 1024 FFT bins below Nyquist -> triangular
filters on a log scale, 12 per octave from 30 Hz to 17 kHz, each normalised to unit area -> log(S
+ 1e-6), a (T, 81) float32 array. At low frequencies several semitones map to the same FFT bin;
those duplicates are merged (madmom's unique_filters), which is why 12 bands per octave over 9
octaves give 81 bands. ``network_input`` repeats the first and last frames twice so the two valid
3x3 convolutions of the model return one output per frame.
"""
from __future__ import annotations

import numpy as np

from .synth import SAMPLE_RATE

FRAME_SIZE = 2048
FPS = 100
HOP_SIZE = SAMPLE_RATE // FPS
BANDS_PER_OCTAVE, FMIN, FMAX, FREF = 12, 30.0, 17000.0, 440.0
LOG_OFFSET = 1e-6
CONTEXT_FRAMES = 2  # frames the model's two valid 3x3 convolutions consume at each end


def log_frequencies(bands_per_octave: int = BANDS_PER_OCTAVE, fmin: float = FMIN, fmax: float = FMAX,
                    fref: float = FREF) -> np.ndarray:
    """Frequencies ``fref * 2**(k / bands_per_octave)`` between fmin and fmax (semitones for 12)."""
    lowest = np.floor(np.log2(fmin / fref) * bands_per_octave)
    highest = np.ceil(np.log2(fmax / fref) * bands_per_octave)
    frequencies = fref * 2.0 ** (np.arange(lowest, highest + 1) / bands_per_octave)
    return frequencies[(frequencies >= fmin) & (frequencies <= fmax)]


def fft_bin_frequencies(frame_size: int = FRAME_SIZE, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Centre frequencies of the frame_size // 2 FFT bins below Nyquist."""
    return np.arange(frame_size // 2) * sample_rate / frame_size


def nearest_bins(frequencies: np.ndarray, bin_frequencies: np.ndarray) -> np.ndarray:
    """Index of the FFT bin closest to each frequency (ties to the lower bin), duplicates removed."""
    distance = np.abs(frequencies[:, None] - bin_frequencies[None, :])
    return np.unique(np.argmin(distance, axis=1))


def triangular_filterbank(centres: np.ndarray, num_bins: int) -> np.ndarray:
    """(num_bins, len(centres) - 2) filters, band b rising from bin centres[b] to its peak at
    centres[b + 1] and falling to centres[b + 2] (both ends at zero), each summing to one."""
    bank = np.zeros((num_bins, len(centres) - 2))
    for band, (start, peak, stop) in enumerate(zip(centres[:-2], centres[1:-1], centres[2:])):
        rising = np.arange(start, peak)
        falling = np.arange(peak, stop)
        bank[rising, band] = (rising - start) / (peak - start)
        bank[falling, band] = 1.0 - (falling - peak) / (stop - peak)
    return bank / bank.sum(axis=0, keepdims=True)


def log_filterbank(frame_size: int = FRAME_SIZE, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The (frame_size // 2, 81) float32 filterbank of the tutorial's spectrogram."""
    bin_frequencies = fft_bin_frequencies(frame_size, sample_rate)
    centres = nearest_bins(log_frequencies(), bin_frequencies)
    return triangular_filterbank(centres, len(bin_frequencies)).astype(np.float32)


def frames(audio: np.ndarray, frame_size: int = FRAME_SIZE, hop_size: int = HOP_SIZE) -> np.ndarray:
    """(ceil(samples / hop_size), frame_size) frames, frame i centred on sample i * hop_size."""
    num_frames = -(-len(audio) // hop_size)
    padded = np.pad(audio, (frame_size // 2, frame_size // 2 + num_frames * hop_size - len(audio)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, frame_size)
    return windows[::hop_size][:num_frames]


def log_filtered_spectrogram(audio: np.ndarray, filterbank: np.ndarray | None = None) -> np.ndarray:
    """(T, 81) float32 log filtered magnitude spectrogram at 100 frames per second."""
    if audio.ndim != 1:
        raise ValueError(f"log_filtered_spectrogram: audio must be mono, shape (samples,), got {audio.shape}")
    filterbank = log_filterbank() if filterbank is None else filterbank
    windowed = frames(audio.astype(np.float32)) * np.hanning(FRAME_SIZE).astype(np.float32)
    magnitudes = np.abs(np.fft.rfft(windowed, axis=1)[:, :FRAME_SIZE // 2]).astype(np.float32)
    return np.log(magnitudes @ filterbank + LOG_OFFSET).astype(np.float32)


def network_input(spectrogram: np.ndarray) -> np.ndarray:
    """(1, 1, T + 4, 81) float32: the spectrogram with its edge frames repeated twice at each end."""
    padded = np.pad(spectrogram, ((CONTEXT_FRAMES, CONTEXT_FRAMES), (0, 0)), mode="edge")
    return np.ascontiguousarray(padded[None, None], dtype=np.float32)
