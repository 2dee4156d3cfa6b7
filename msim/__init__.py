"""msim: a differentiable multiscale simulator for biomedical tissue, in JAX.

Cell-scale ODE models (`msim.cells`) coupled to finite-difference reaction-diffusion on
structured grids (`msim.tissue`), with stimulus protocols (`msim.stimulus`), solved by
`msim.simulate`, differentiable end to end. Result files, configurations and labelled datasets
are in `msim.io`; plots and movies in `msim.viz` (imported on first use, with matplotlib).
"""

from . import (
    calibrate as calibrate,
    cells as cells,
    ensemble as ensemble,
    io as io,
    observe as observe,
    protocols as protocols,
    solve as solve,
    stimulus as stimulus,
    tissue as tissue,
)
from ._units import Units as Units
from .protocols import Adaptive as Adaptive
from .solve import (
    RESULTS as RESULTS,
    AutoMode as AutoMode,
    AutoReaction as AutoReaction,
    Bidomain as Bidomain,
    BidomainDiffusion as BidomainDiffusion,
    ExplicitDiffusion as ExplicitDiffusion,
    ExtracellularStimulus as ExtracellularStimulus,
    ForwardEuler as ForwardEuler,
    ForwardMode as ForwardMode,
    GeneralizedRushLarsen as GeneralizedRushLarsen,
    Godunov as Godunov,
    Heun as Heun,
    ImplicitDiffusion as ImplicitDiffusion,
    Monodomain as Monodomain,
    ReactionDiffusion as ReactionDiffusion,
    ReverseMode as ReverseMode,
    RosenbrockEuler as RosenbrockEuler,
    RushLarsen as RushLarsen,
    Save as Save,
    SimulationError as SimulationError,
    Solution as Solution,
    SolveStats as SolveStats,
    Strang as Strang,
    run as run,
    simulate as simulate,
)
from .stimulus import Stimulus as Stimulus
from .tissue import Grid as Grid

regions = stimulus  # `msim.regions.box(...)` reads well in user code

__version__ = "0.1.0"


def __getattr__(name: str):
    # `msim.viz` is imported on first use: it brings matplotlib, which `import msim` should not.
    if name == "viz":
        import importlib

        return importlib.import_module(".viz", __name__)
    raise AttributeError(f"module 'msim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "viz"])
