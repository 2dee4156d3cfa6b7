"""Files: result files (`save_solution`, `load_solution`), calibration configurations
(`load_config`), ensemble configurations (`load_ensemble_config`) and atomic writes."""

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
