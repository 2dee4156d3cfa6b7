"""Single-cell protocols and analysis: pacing at a basic cycle length with prepacing,
steady state, S1-S2 restitution, and measurements of action potentials (resting potential,
peak, maximum upstroke velocity, APD at any percentage), all pure JAX: jit-compiled,
vectorised over cells with per-cell parameters, vmappable over batches and differentiable.
"""

from ._adaptive import Adaptive as Adaptive
from ._measure import Measurements as Measurements, measure as measure
from ._pacing import (
    PacingResult as PacingResult,
    SteadyState as SteadyState,
    pace as pace,
    steady_state as steady_state,
)
from ._restitution import Restitution as Restitution, restitution as restitution
from ._rosenbrock import Rosenbrock23 as Rosenbrock23
