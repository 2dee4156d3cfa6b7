"""The coupling: problems, time-stepping schemes, `simulate` and its `Solution`."""

from ._bidomain import (
    Bidomain as Bidomain,
    BidomainDiffusion as BidomainDiffusion,
    ExtracellularStimulus as ExtracellularStimulus,
)
from ._diffusion import (
    AbstractDiffusion as AbstractDiffusion,
    AbstractPreparedDiffusion as AbstractPreparedDiffusion,
    ExplicitDiffusion as ExplicitDiffusion,
)
from ._driver import run as run
from ._generalized_rush_larsen import GeneralizedRushLarsen as GeneralizedRushLarsen
from ._gradient import (
    AbstractGradient as AbstractGradient,
    AutoMode as AutoMode,
    ForwardMode as ForwardMode,
    ReverseMode as ReverseMode,
)
from ._implicit import ImplicitDiffusion as ImplicitDiffusion
from ._linear import SolveStats as SolveStats
from ._problem import (
    AbstractProblem as AbstractProblem,
    Monodomain as Monodomain,
    ReactionDiffusion as ReactionDiffusion,
)
from ._reaction import (
    AbstractReaction as AbstractReaction,
    AutoReaction as AutoReaction,
    ForwardEuler as ForwardEuler,
    Heun as Heun,
    RosenbrockEuler as RosenbrockEuler,
    RushLarsen as RushLarsen,
    States as States,
)
from ._results import RESULTS as RESULTS, SimulationError as SimulationError
from ._simulate import simulate as simulate
from ._solution import Save as Save, Solution as Solution
from ._splitting import (
    AbstractSplitting as AbstractSplitting,
    Godunov as Godunov,
    Strang as Strang,
)
