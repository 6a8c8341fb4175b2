"""Data: the synthetic corpus, video reading, annotation readers, datasets and splits."""

from melab.data.annotations import (  # noqa: F401
    EMOTIONS,
    EVENT_COLUMNS,
    AnnotationWarning,
    Rejection,
    normalize_emotion,
    read_casme2,
    read_casme3,
    read_dfme,
    read_events_csv,
    read_megc_csv,
    read_samm,
    read_samm_lv,
    read_smic,
    validate_events,
    write_megc_csv,
)
from melab.data.dataset import Dataset, DatasetWarning, VideoItem  # noqa: F401
from melab.data.splits import (  # noqa: F401
    COARSE_CLASSES,
    FINE_CLASSES,
    SEVEN_CLASSES,
    STR3_CLASSES,
    class_weights,
    composite_3db,
    dfme_public_split,
    encode_labels,
    loso_folds,
    protocol_labels,
)
