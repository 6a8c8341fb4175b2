"""Every plot the notebooks show. Each function returns a matplotlib Figure with a title, labels and units."""

from melab.viz._style import is_photo, mark_photo, new_figure, setup_notebook  # noqa: F401
from melab.viz.confusion import *  # noqa: F403
from melab.viz.decode import *  # noqa: F403
from melab.viz.difficulty import *  # noqa: F403
from melab.viz.effects import *  # noqa: F403
from melab.viz.flow import *  # noqa: F403
from melab.viz.scan import *  # noqa: F403
from melab.viz.spot import *  # noqa: F403
from melab.viz.synthetic import *  # noqa: F403
from melab.viz.train import *  # noqa: F403
