"""Plots and movies of simulation results (matplotlib), in the units of the model and the grid
the solution carries. Nothing else in msim imports this package."""

from ._movie import FORMATS as FORMATS, animate as animate
from ._plots import (
    plot_activation_map as plot_activation_map,
    plot_snapshots as plot_snapshots,
    plot_traces as plot_traces,
)
