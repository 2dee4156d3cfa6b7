"""The coupling: problems, time-stepping schemes, `simulate` and its `Solution`."""

from ._driver import run as run
from ._problem import (
    AbstractProblem as AbstractProblem,
    Monodomain as Monodomain,
    ReactionDiffusion as ReactionDiffusion,
)
from ._schemes import (
    AbstractReaction as AbstractReaction,
    AbstractSplitting as AbstractSplitting,
    ExplicitDiffusion as ExplicitDiffusion,
    ForwardEuler as ForwardEuler,
    Godunov as Godunov,
    Heun as Heun,
    RosenbrockEuler as RosenbrockEuler,
    RushLarsen as RushLarsen,
    Strang as Strang,
)
from ._simulate import simulate as simulate
from ._solution import Save as Save, Solution as Solution
