"""msim: a differentiable multiscale simulator for biomedical tissue, in JAX.

Cell-scale ODE models (`msim.cells`) coupled to finite-difference reaction-diffusion on
structured grids (`msim.tissue`), with stimulus protocols (`msim.stimulus`), solved by
`msim.simulate`, differentiable end to end.
"""

from ._units import Units as Units
from . import (
    calibrate as calibrate,
    cells as cells,
    ensemble as ensemble,
    observe as observe,
    protocols as protocols,
    solve as solve,
    stimulus as stimulus,
    tissue as tissue,
)
from .solve import (
    RESULTS as RESULTS,
    AutoMode as AutoMode,
    AutoReaction as AutoReaction,
    ExplicitDiffusion as ExplicitDiffusion,
    ForwardEuler as ForwardEuler,
    ForwardMode as ForwardMode,
    Godunov as Godunov,
    Heun as Heun,
    Monodomain as Monodomain,
    ReactionDiffusion as ReactionDiffusion,
    ReverseMode as ReverseMode,
    RosenbrockEuler as RosenbrockEuler,
    RushLarsen as RushLarsen,
    Save as Save,
    SimulationError as SimulationError,
    Solution as Solution,
    Strang as Strang,
    run as run,
    simulate as simulate,
)
from .stimulus import Stimulus as Stimulus
from .tissue import Grid as Grid

regions = stimulus  # `msim.regions.box(...)` reads well in user code

__version__ = "0.1.0"
