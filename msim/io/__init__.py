"""Files: result files (`save_solution`, `load_solution`) and atomic writes."""

from ._atomic import atomic_write as atomic_write
from ._results import load_solution as load_solution, save_solution as save_solution
