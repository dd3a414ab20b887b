"""Examples that train ictus models end to end: ``python -m ictus.examples.<name> --help``.

``beats``: the ISMIR 2021 tutorial's multi-task tempo, beat and downbeat TCN on synthesized music.
The examples need the ``examples`` extra (``pip install "ictus[examples]"``).
"""
