"""Models: the SlowFast Mamba spotter and MERba (with its DGCM head)."""

from melab.models.merba import MERba, MERbaConfig, dgcm_alpha, dgcm_loss, dgcm_predict
from melab.models.spotter import Spotter, SpotterConfig, SpotterOutput, spotter_loss

__all__ = [
    "MERba",
    "MERbaConfig",
    "Spotter",
    "SpotterConfig",
    "SpotterOutput",
    "dgcm_alpha",
    "dgcm_loss",
    "dgcm_predict",
    "spotter_loss",
]
