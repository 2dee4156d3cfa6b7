"""Plots of simulation results (matplotlib). Nothing else in msim imports this package."""

from ._plots import (
    plot_activation_map as plot_activation_map,
    plot_snapshots as plot_snapshots,
    plot_traces as plot_traces,
)
