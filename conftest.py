"""Repository-wide pytest settings: a per-cell timeout for nbval that plain ``pytest --nbval`` obeys.

nbval's own ``--nbval-cell-timeout`` exists only on the command line; this adds the ini option
``nbval_cell_timeout`` (set in pyproject.toml) and applies it when the command line does not give one,
so a stuck kernel fails its cell instead of hanging the run.
"""

from __future__ import annotations


def pytest_addoption(parser):
    parser.addini("nbval_cell_timeout", "seconds a notebook cell may run under nbval (unless "
                  "--nbval-cell-timeout is given)", default="")


def pytest_configure(config):
    timeout = config.getini("nbval_cell_timeout")
    given = any(arg.startswith("--nbval-cell-timeout") for arg in config.invocation_params.args)
    if timeout and not given and hasattr(config.option, "nbval_cell_timeout"):
        config.option.nbval_cell_timeout = float(timeout)
