"""melab: a teaching and exploration suite for micro-expression analysis.

``ARTEFACTS`` is the repository's ``data/`` folder: the shipped checkpoints, ROI series, LOSO scores and
decoding defaults (``make artefacts`` rebuilds them).
"""

from pathlib import Path

ARTEFACTS = Path(__file__).resolve().parents[1] / "data"
