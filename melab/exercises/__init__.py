"""Checkers for the notebooks' exercises: each says *what* is wrong, not just "wrong".

Every ``check_*`` function takes the student's answer first, then the inputs the answer was computed
from, recomputes the reference answer from those inputs with melab (or scikit-learn), and prints one
line:

- ``not answered yet: ...`` when the answer is ``None`` (the committed notebooks leave it so; the line
  is fixed, so nbval passes on unanswered notebooks);
- ``correct: ...`` when the answer matches;
- ``not quite: ...`` with feedback on the typical mistake it recognises (which token, which sign,
  which unit), or a generic hint.

Each returns a :class:`Feedback` (status and message) so tests and autograders can read the verdict
without parsing text. End the notebook cell with ``;`` or assign the result so that it is not
displayed twice.

Exercises by notebook, one module each over the shared feedback core (:mod:`melab.exercises._feedback`);
every checker is importable from ``melab.exercises`` itself:

- 00 (:mod:`~melab.exercises.synthetic_data`): :func:`check_au_for_landmark`, :func:`check_landmark_motion`
- 01 (:mod:`~melab.exercises.flow_extraction`): :func:`check_au_roi`, :func:`check_epe`, :func:`check_speed_ratio`
- 02 (:mod:`~melab.exercises.scan_order`): :func:`check_scan_order`, :func:`check_memory`,
  :func:`check_redundancy`
- 03 (:mod:`~melab.exercises.training`): :func:`check_epoch_windows`, :func:`check_ratio_effect`,
  :func:`check_loso_split`
- 04 (:mod:`~melab.exercises.interval_decoding`): :func:`check_iou`, :func:`check_losing_k`
  (and :func:`fixed_window_iou`, which notebook 04's figure uses)
- 05 (:mod:`~melab.exercises.dgcm_confusion`): :func:`check_uar`, :func:`check_most_confused`
"""

from melab.exercises._feedback import Feedback
from melab.exercises.dgcm_confusion import check_most_confused, check_uar
from melab.exercises.flow_extraction import check_au_roi, check_epe, check_speed_ratio
from melab.exercises.interval_decoding import check_iou, check_losing_k, fixed_window_iou
from melab.exercises.scan_order import check_memory, check_redundancy, check_scan_order
from melab.exercises.synthetic_data import check_au_for_landmark, check_landmark_motion
from melab.exercises.training import check_epoch_windows, check_loso_split, check_ratio_effect

__all__ = [
    "Feedback",
    "check_au_for_landmark",
    "check_au_roi",
    "check_epe",
    "check_epoch_windows",
    "check_iou",
    "check_landmark_motion",
    "check_loso_split",
    "check_losing_k",
    "check_memory",
    "check_most_confused",
    "check_ratio_effect",
    "check_redundancy",
    "check_scan_order",
    "check_speed_ratio",
    "check_uar",
    "fixed_window_iou",
]
