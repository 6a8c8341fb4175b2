"""Checkers for the notebooks' exercises: each says *what* is wrong, not just "wrong".

Every ``check_*`` function takes the student's answer first (then, for a value, the inputs it was computed from)
and prints one line:

- ``not answered yet: ...`` when the answer is ``None`` (or a function stub that returns None): a fixed hint that
  says where to look and what to compute, never the code or the value, so the committed notebooks pass nbval
  unanswered;
- ``correct: ...`` when the answer matches melab's own reference;
- ``not quite: ...`` with the typical mistake it recognises (which sign, which unit, which side), or a hint.

Answers are read forgivingly (:mod:`melab.exercises._feedback`): a number to the precision the student gave (at
least one significant digit), words in any case and with natural synonyms, lists from any container. A checker
never raises on a student's answer; only the inputs the notebook passes along are validated.

A *coding* exercise's checker takes the student's function, runs it on hidden cases against melab's own
implementation and names the first case it gets wrong (its inputs, the expected and the returned value).

Each returns a :class:`Feedback` (status and message) so tests and autograders can read the verdict without
parsing text. End the notebook cell with ``;`` or assign the result so that it is not displayed twice.

Exercises by notebook, one module each over the shared feedback core; every checker is importable from
``melab.exercises`` itself:

- 00 (:mod:`~melab.exercises.synthetic_data`): :func:`check_au_for_landmark`, :func:`check_landmark_motion`,
  :func:`check_expression_frames` (coding)
- 01 (:mod:`~melab.exercises.flow_extraction`): :func:`check_epe_function` (coding), :func:`check_epe`,
  :func:`check_speed_ratio`, :func:`check_au_roi`
- 02 (:mod:`~melab.exercises.scan_order`): :func:`check_scan_order`, :func:`check_scan_function` (coding),
  :func:`check_redundancy`, :func:`check_memory`
- 03 (:mod:`~melab.exercises.training`): :func:`check_epoch_windows`, :func:`check_loso_function` (coding),
  :func:`check_loso_split`, :func:`check_ratio_effect`
- 04 (:mod:`~melab.exercises.interval_decoding`): :func:`check_iou_function` (coding), :func:`check_iou`,
  :func:`check_losing_k`, :func:`check_paired_bootstrap` (coding), with :func:`claim_counts` (the per-video
  counts of the shipped claims report) and :func:`fixed_window_iou` (which notebook 04's figure uses)
- 05 (:mod:`~melab.exercises.dgcm_confusion`): :func:`check_recognition_function` (coding), :func:`check_uar`,
  :func:`check_most_confused`
"""

from melab.exercises._feedback import Feedback
from melab.exercises.dgcm_confusion import check_most_confused, check_recognition_function, check_uar
from melab.exercises.flow_extraction import check_au_roi, check_epe, check_epe_function, check_speed_ratio
from melab.exercises.interval_decoding import (
    check_iou,
    check_iou_function,
    check_losing_k,
    check_paired_bootstrap,
    claim_counts,
    fixed_window_iou,
)
from melab.exercises.scan_order import check_memory, check_redundancy, check_scan_function, check_scan_order
from melab.exercises.synthetic_data import check_au_for_landmark, check_expression_frames, check_landmark_motion
from melab.exercises.training import check_epoch_windows, check_loso_function, check_loso_split, check_ratio_effect

__all__ = [
    "Feedback",
    "check_au_for_landmark",
    "check_au_roi",
    "check_epe",
    "check_epe_function",
    "check_epoch_windows",
    "check_expression_frames",
    "check_iou",
    "check_iou_function",
    "check_landmark_motion",
    "check_loso_function",
    "check_loso_split",
    "check_losing_k",
    "check_memory",
    "check_most_confused",
    "check_paired_bootstrap",
    "check_ratio_effect",
    "check_recognition_function",
    "check_redundancy",
    "check_scan_function",
    "check_scan_order",
    "check_speed_ratio",
    "check_uar",
    "claim_counts",
    "fixed_window_iou",
]
