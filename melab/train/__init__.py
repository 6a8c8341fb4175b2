"""Training: a resumable loop, the spotter and MERba, one LOSO driver (local or Ray), the shipped artefacts.

Modules, in the order a lesson meets them:

- :mod:`melab.train.loop`: :func:`fit`, checkpoints (:func:`save_model`), resume;
- :mod:`melab.train.loso`: :func:`run_folds`, the one LOSO driver, and its executors (local, Ray);
- :mod:`melab.train.spotting`: windows, targets, :func:`train_spotter`, :func:`loso`;
- :mod:`melab.train.recognition`: MERba data, :func:`train_merba`, BatchNorm recalibration, :func:`loso_merba`;
- :mod:`melab.train.artefacts`: ``melab train`` (:func:`run`) and :func:`build_artefacts`.

Features of whole corpora (ROI series, onset-apex flow images) come from :mod:`melab.features`; reading a
trained model back (:func:`load_model`, :func:`read_checkpoint`) and scoring whole videos (:func:`predict_video`)
from :mod:`melab.inference`, which imports nothing from here; and the ``device`` option (:func:`resolve_device`:
cpu, cuda, auto) that every training and prediction function takes, with what CUDA does and does not reproduce,
from :mod:`melab.device`. Their names are re-exported here, like every name above, so ``from melab import train``
reaches them all.
"""

from melab import ARTEFACTS
from melab.device import DEVICES, resolve_device
from melab.features import (
    RoiCorpus,
    dataset_roi_corpus,
    default_cache,
    load_roi_corpus,
    merba_corpus,
    roi_corpus,
    save_roi_corpus,
)
from melab.flow import default_k
from melab.inference import (
    CHECKPOINT_FORMAT,
    MODELS,
    SpotScores,
    load_model,
    load_state,
    predict_video,
    read_checkpoint,
)
from melab.models.merba import MERbaConfig
from melab.models.spotter import SpotterConfig
from melab.train.artefacts import ARTEFACT_PARTS, build_artefacts, resolve_data, run
from melab.train.loop import fit, save_model
from melab.train.loso import (
    FoldRun,
    LocalExecutor,
    RayExecutor,
    fold_checkpoint,
    fold_device,
    loso_subjects,
    make_executor,
    run_folds,
)
from melab.train.recognition import (
    MERbaData,
    MERbaTrainConfig,
    hflip_flow,
    loso_merba,
    merba_fold,
    predict_merba,
    recalibrate_batchnorm,
    split_merba,
    train_merba,
    warmup_cosine,
)
from melab.train.spotting import (
    IGNORE,
    LosoResult,
    SpotterData,
    SpotterTrainConfig,
    SpotterWindows,
    frame_targets,
    load_scores,
    loso,
    save_scores,
    spotter_fold,
    spotter_windows,
    train_spotter,
)

__all__ = [
    "ARTEFACTS", "ARTEFACT_PARTS", "CHECKPOINT_FORMAT", "DEVICES", "IGNORE", "MODELS", "FoldRun", "LocalExecutor",
    "LosoResult", "MERbaConfig", "MERbaData", "MERbaTrainConfig", "RayExecutor", "RoiCorpus", "SpotScores",
    "SpotterConfig", "SpotterData", "SpotterTrainConfig", "SpotterWindows", "build_artefacts", "dataset_roi_corpus",
    "default_cache", "default_k", "fit", "fold_checkpoint", "fold_device", "frame_targets", "hflip_flow",
    "load_model", "load_roi_corpus", "load_scores", "load_state", "loso", "loso_merba", "loso_subjects",
    "make_executor", "merba_corpus", "merba_fold", "predict_merba", "predict_video",
    "read_checkpoint", "recalibrate_batchnorm", "resolve_data", "resolve_device", "roi_corpus", "run", "run_folds",
    "save_model", "save_roi_corpus", "save_scores", "split_merba", "spotter_fold", "spotter_windows", "train_merba",
    "train_spotter", "warmup_cosine",
]
