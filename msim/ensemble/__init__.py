"""Ensembles: one problem or cell model over thousands of members in one compiled program per
chunk, populations of models, and runs split over the devices of one host or several.

- Designs (`sample`, `grid`, `given`): values per member over bounded, optionally log-scaled
  ranges, through `scipy.stats.qmc` (Sobol', Latin hypercube) or NumPy's generator, seeded and
  recorded with the results.
- `simulate`: a tissue problem per member (`msim.simulate` under `jax.vmap`), returning probe
  traces, activation times, pseudo-ECGs and your own observables, with one result code per
  member; chunks sized to a memory budget, written to a folder as they finish and resumed.
- `population`: pace every candidate of a cell-model population and measure its biomarkers;
  `select` keeps those within experimental ranges.
- Devices: ``devices=`` splits members over a mesh (`jax.shard_map`); `shard_grid` splits one
  grid over devices, the halo exchange left to the compiler.

Several hosts: start one process per host (or per GPU) with the same script, and call
`jax.distributed.initialize` first; ``devices="all"`` then splits members over every device of
every process, and every process gets the whole result::

    # on each of N hosts (process i of N), or under SLURM with no arguments:
    python my_study.py  # calls jax.distributed.initialize(coordinator, N, i) before msim

See the "Several hosts" section of the README for the SLURM script.
"""

from ._chunks import StoreError as StoreError, member_mesh as member_mesh
from ._design import (
    METHODS as METHODS,
    Design as Design,
    Range as Range,
    given as given,
    grid as grid,
    sample as sample,
)
from ._population import population as population, select as select
from ._sharding import shard_grid as shard_grid, shard_members as shard_members
from ._simulate import EnsembleResult as EnsembleResult, load as load, simulate as simulate
