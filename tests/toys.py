"""Toy training data shared by the training tests: small, seeded, with a signal a tiny model can learn."""

from __future__ import annotations

import numpy as np
import pandas as pd

from melab.data.splits import str3_classes, to_str3

STR3 = str3_classes("synthetic")  # negative, positive, surprise, others


def toy_corpus(n_subjects: int = 3, n_frames: int = 120, seed: int = 0):
    """ROI series with a bump on channel 0 (and a class-specific sign on channel 1) during each ME."""
    rng = np.random.default_rng(seed)
    series, rows, videos = {}, [], []
    emotions = ["happiness", "anger", "surprise", "contempt"]
    for s in range(n_subjects):
        video = f"s{s}_v0"
        x = rng.normal(0, 0.3, size=(n_frames, 4)).astype(np.float32)
        for j, onset in enumerate(range(15 + 7 * s, n_frames - 20, 35)):
            emotion = emotions[(s + j) % len(emotions)]
            x[onset:onset + 10, 0] += 2.0
            x[onset:onset + 10, 1] += (STR3.index(to_str3(emotion, dataset="synthetic")) - 1.5)
            rows.append(dict(subject=f"s{s}", video=video, onset=onset, apex=onset + 4, offset=onset + 9,
                             emotion=emotion, kind="micro", fps=30.0))
        series[video] = x
        videos.append(dict(subject=f"s{s}", video=video, n_frames=n_frames, fps=30.0))
    return series, pd.DataFrame(rows), pd.DataFrame(videos)
