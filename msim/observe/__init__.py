"""What is measured: activation times computed online inside the time loop (probes and
snapshots are recorded by `msim.simulate` through `msim.Save`), and differentiable
observables for calibration losses (APD, conduction velocity, pseudo-ECG)."""

from ._activation import first_crossing as first_crossing
from ._apd import apd as apd
from ._ecg import pseudo_ecg as pseudo_ecg, pseudo_ecg_weights as pseudo_ecg_weights
from ._trackers import (
    AbstractTracker as AbstractTracker,
    Beats as Beats,
    BeatTimes as BeatTimes,
    Tips as Tips,
    TipTrack as TipTrack,
    dominant_frequency as dominant_frequency,
    phase as phase,
    topological_charge as topological_charge,
)
from ._velocity import (
    VelocitySummary as VelocitySummary,
    conduction_velocity as conduction_velocity,
    mean_conduction_velocity as mean_conduction_velocity,
    stimulated_cells as stimulated_cells,
    velocity_summary as velocity_summary,
)

# isort: split
# Last: it imports msim.solve, which imports the names above.
from ._extracellular import (
    electrograms as electrograms,
    extracellular_potential as extracellular_potential,
)
