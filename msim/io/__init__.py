"""Files: result files (`save_solution`, `load_solution`: checked ``.npz`` recording the grid,
mask, model, units and tracker results), labelled data (`to_xarray`, zarr stores written by
``msim.run(..., store=...)`` and read by `open_run`), VTK time series for ParaView
(`write_vtk`), run, calibration and ensemble configurations (`load_run_config`, `load_config`,
`load_ensemble_config`) and atomic writes."""

from .._atomic import atomic_write as atomic_write
from ._config import (
    CalibrationConfig as CalibrationConfig,
    ConfigError as ConfigError,
    build_problem as build_problem,
    load_config as load_config,
    load_data as load_data,
)
from ._ensemble_config import (
    EnsembleConfig as EnsembleConfig,
    build_ensemble as build_ensemble,
    load_ensemble_config as load_ensemble_config,
)
from ._results import load_solution as load_solution, save_solution as save_solution
from ._run_config import (
    RunConfig as RunConfig,
    build_run as build_run,
    load_run_config as load_run_config,
)
from ._store import open_run as open_run
from ._vtk import write_vtk as write_vtk
from ._xarray import to_xarray as to_xarray
