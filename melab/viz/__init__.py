"""Every plot the notebooks show. Each function returns a matplotlib Figure with a title, labels and units."""

from melab.viz.synthetic import *  # noqa: F403
