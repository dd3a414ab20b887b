"""python -m ictus.examples.beats: trains the tutorial's tempo/beat/downbeat TCN on synthetic music.

Synthesizes training, validation and test tracks (seeds S, S + 1, S + 2), trains with
ictus.train.fit, scores the held-out test tracks (beat and downbeat F-measure, tempo Acc1), and
writes the model (``beats_tcn.safetensors``, loadable with ictus.serialization.load or safetensors) and a PNG of
the training curves and one test track's activations to ``--out``. ``--quick`` is the smoke test
(under a minute); the default run (192 tracks of 12 s, 40 epochs) took 8 minutes on two busy
cores and scored beat F 0.94, downbeat F 0.96, tempo Acc1 0.96 on its 48 test tracks.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

from ... import nn
from ...serialization import save
from .evaluate import detect_beats_and_downbeats, mean_scores, score_track
from .model import BeatTCN
from .synth import synthesize_tracks
from .training import make_examples, train

# (training tracks, epochs, seconds per track) of each mode; validation and test get a quarter
# of the training tracks each (at least 2)
DEFAULTS = {"default": (192, 40, 12.0), "quick": (8, 2, 8.0)}
MODEL_FILE, PLOT_FILE = "beats_tcn.safetensors", "beats_tcn.png"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ictus.examples.beats", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run to check the pipeline (under a minute)")
    parser.add_argument("--tracks", type=int, help="training tracks (default 192, quick 8)")
    parser.add_argument("--epochs", type=int, help="most epochs; early stopping may end sooner (default 40, quick 2)")
    parser.add_argument("--out", type=Path, default=Path("beats_example"), help="output folder (default beats_example)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data, the weights and the dropout masks")
    args = parser.parse_args(argv)
    tracks, epochs, args.duration = DEFAULTS["quick" if args.quick else "default"]
    args.tracks = tracks if args.tracks is None else args.tracks
    args.epochs = epochs if args.epochs is None else args.epochs
    if args.tracks < 1 or args.epochs < 1 or args.seed < 0:
        parser.error("--tracks and --epochs must be at least 1 and --seed at least 0")
    return args


def _require_extras() -> None:
    missing = [name for name in ("matplotlib", "mir_eval") if importlib.util.find_spec(name) is None]
    if missing:
        sys.exit(f"python -m ictus.examples.beats needs {' and '.join(missing)}: pip install \"ictus[examples]\"")


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    _require_extras()
    from .plot import plot_run

    start = time.perf_counter()
    held_out = max(2, args.tracks // 4)
    train_set, val_set, test_set = (synthesize_tracks(count, args.seed + i, args.duration)
                                    for i, count in enumerate((args.tracks, held_out, held_out)))
    train_examples, val_examples, test_examples = map(make_examples, (train_set, val_set, test_set))
    print(f"data: {len(train_set)} training, {len(val_set)} validation, {len(test_set)} test tracks of "
          f"{args.duration:g} s ({time.perf_counter() - start:.1f} s)")

    nn.manual_seed(args.seed)
    model = BeatTCN()
    history = train(model, train_examples, val_examples, args.epochs)

    outputs = [model.predict(x) for x, _ in test_examples]
    scores = mean_scores([score_track(*output, track.beats, track.downbeats, track.tempo)
                          for output, track in zip(outputs, test_set)])
    args.out.mkdir(parents=True, exist_ok=True)
    save(model, args.out / MODEL_FILE)
    beats, downbeats, tempo = outputs[0]
    plot_run(args.out / PLOT_FILE, {"training": history["loss"], "validation": history["val_loss"]},
             beats, downbeats, tempo, {"beats": test_set[0].beats, "downbeats": test_set[0].downbeats},
             detect_beats_and_downbeats(beats, downbeats),
             test_set[0].tempo)
    print(f"trained {len(history['loss'])} epochs; wrote {args.out / MODEL_FILE} and {args.out / PLOT_FILE}")
    print(f"test ({len(test_set)} tracks): beat F {scores['beat_f']:.3f}  downbeat F {scores['downbeat_f']:.3f}  "
          f"tempo Acc1 {scores['tempo_acc1']:.3f}  ({time.perf_counter() - start:.0f} s in all)")


if __name__ == "__main__":
    main()
