"""Synthetic micro-expression videos with exact ground truth: melab's embedded default corpus.

A synthetic *subject* is a procedurally textured face with its own geometry, tone and lighting, described
by a neutral 68-point landmark set in the iBUG layout. Facial *action units* (FACS AUs) are smooth
displacement fields anchored on those landmarks (sums of Gaussians). An expression is an EMFACS-style AU
combination whose intensity rises smoothly from onset to apex and falls to offset. Every frame is the
neutral face warped by

    M_t(x) = A_t (x + D_t(x)),      D_t(x) = sum_j s_tj B_j(x)

where ``B_j`` is the displacement field of AU ``j`` (pixels per unit intensity), ``s_tj`` its intensity at
frame ``t`` and ``A_t`` a small similarity transform for head motion. Because ``M_t`` is known, so is the
exact displacement of every pixel between any two frames (:meth:`SyntheticVideo.true_flow`) and the
landmarks of every frame. Nuisances (blinks, head drift and jerks, illumination drift, sensor noise, JPEG
compression) are layered on top, and micro-expressions (MEs) are rare, tiny and short next to
macro-expressions (MaEs), as in CAS(ME)^3 and SAMM-LV.

Two difficulties (:data:`DIFFICULTIES`):

- ``"easy"`` is generator version 1, byte for byte: MEs (0.3-1.5 px) never overlap MaEs (2-6 px) in amplitude,
  about 10 MEs a minute, every emotion one fixed AU set, balanced classes, exact labels, rigid in-plane head motion.
  Everything separates by size, so models land at the ceiling.
- ``"realistic"`` (:class:`Realism`) is as hard as CAS(ME)^3 / SAMM-LV in the ways the papers' claims depend on:
  3 MEs a minute (still above the real datasets' rate, for CPU training budgets) with a third of the videos
  ME-free, more than two MaEs per ME, unlabelled subtle movements (gaze shifts, swallows, lip presses, sniffs,
  speech-like mouth motion, small nods) and talking, ME and MaE amplitudes that overlap (what separates them is
  duration and AU pattern, as in FACS), skewed and asymmetric ME durations, annotation jitter, AU sets that vary
  from event to event and subject to subject, asymmetric events, label noise among the negative emotions, skewed
  class shares, out-of-plane head rotation, illumination flicker and JPEG quality 75-90.
  The exact values of every event (and the unlabelled movements) are in the truth files, never in ``events.csv``.

Units: pixels of the rendered frame, frames are 0-based and intervals inclusive, time in seconds.
Amplitudes are stated for a 128-px face and scale with ``size``.

The package, one idea per module, in reading order:

- :mod:`~melab.data.synthetic.facs`: the action units, the emotions' AU prototypes, laterality;
- :mod:`~melab.data.synthetic.face`: subjects, the neutral face and the dense AU displacement fields;
- :mod:`~melab.data.synthetic.timeline`: the easy and realistic planners (:class:`Realism`) of events,
  unlabelled movements, head pose and lighting;
- :mod:`~melab.data.synthetic.render`: :class:`SyntheticVideo` (frames, landmarks, exact flow), head motion and
  out-of-plane rotation, :func:`generate_video` and :func:`generate_clip`;
- :mod:`~melab.data.synthetic.corpus`: presets, :func:`make_corpus` (cache, manifest), the recognition clips,
  :func:`plan_corpus` and :func:`load_video`.

Every public name is importable from ``melab.data.synthetic`` itself.
"""

from melab.data.annotations import EVENT_COLUMNS
from melab.data.labels import SEVEN_CLASSES
from melab.data.synthetic.corpus import (
    CLIPS,
    GENERATOR_VERSION,
    PRESET_NAMES,
    PRESETS,
    ClipsPreset,
    CorpusPlan,
    Preset,
    check_corpus,
    clips_split,
    corpus_dir,
    default_root,
    load_video,
    make_corpus,
    plan_corpus,
    read_split,
    recognition_samples,
    summarize,
)
from melab.data.synthetic.face import (
    SubjectStyle,
    au_basis,
    au_displacement,
    lateral_basis,
    lateral_displacement,
    make_subject,
    render_neutral,
)
from melab.data.synthetic.facs import (
    ALL_AU_CODES,
    AU_CODES,
    AU_PRESENCE,
    AU_TABLE,
    EMOTION_AUS,
    EXTRA_AU_TABLE,
    LATERAL_CODES,
    NEGATIVE_EMOTIONS,
    ActionUnit,
)
from melab.data.synthetic.render import FACE_DISTANCE_FACES, SyntheticVideo, generate_clip, generate_video
from melab.data.synthetic.timeline import (
    DEFAULT_DIFFICULTY,
    DIFFICULTIES,
    MAE_AMPLITUDE_PX,
    MAE_DURATION_S,
    ME_AMPLITUDE_PX,
    ME_DURATION_S,
    REALISM,
    SUBTLE_KINDS,
    TRUTH_COLUMNS,
    Realism,
    Timeline,
    clip_timeline,
    me_amplitude,
    me_length,
    plan_realistic_video,
    plan_video,
    subject_au_gains,
)

__all__ = [
    # facs
    "ActionUnit", "AU_TABLE", "AU_CODES", "EMOTION_AUS", "EXTRA_AU_TABLE", "ALL_AU_CODES", "LATERAL_CODES",
    "NEGATIVE_EMOTIONS", "AU_PRESENCE",
    # face
    "SubjectStyle", "make_subject", "render_neutral", "au_displacement", "au_basis", "lateral_displacement",
    "lateral_basis",
    # timeline
    "DIFFICULTIES", "DEFAULT_DIFFICULTY", "ME_DURATION_S", "ME_AMPLITUDE_PX", "MAE_DURATION_S", "MAE_AMPLITUDE_PX",
    "Timeline", "plan_video", "SUBTLE_KINDS", "Realism", "REALISM", "subject_au_gains", "me_length", "me_amplitude",
    "plan_realistic_video", "TRUTH_COLUMNS", "clip_timeline",
    # render
    "FACE_DISTANCE_FACES", "SyntheticVideo", "generate_video", "generate_clip",
    # corpus
    "GENERATOR_VERSION", "Preset", "PRESETS", "default_root", "corpus_dir", "check_corpus", "ClipsPreset", "CLIPS",
    "PRESET_NAMES",
    "clips_split", "read_split", "make_corpus", "CorpusPlan", "plan_corpus", "load_video", "recognition_samples",
    "summarize",
    # the shared vocabularies the generator uses (melab.data.labels, melab.data.annotations)
    "SEVEN_CLASSES", "EVENT_COLUMNS",
]
