"""What is measured, computed online inside the time loop: activation times (probes and
snapshots are recorded by `msim.simulate` through `msim.Save`)."""

from ._activation import first_crossing as first_crossing
