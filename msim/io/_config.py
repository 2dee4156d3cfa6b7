"""Configuration files for `msim calibrate`: TOML, checked against a schema before any compute.

A configuration names a problem (cell model, grid, diffusivity, stimuli), how to simulate it,
the data to fit (an ``.npz`` file beside the configuration) and what to fit. Every key is
checked: an unknown key, a wrong type, a value out of range (every number finite; times
positive and whole multiples of ``dt``; probes inside the grid; a positive learning rate and
iteration count) or a missing required key is a `ConfigError` naming the file, the table and
the key, raised before anything is compiled. A key that would be silently ignored (a
``learning_rate`` with L-BFGS, ``patience`` without ``tol``, a ``transform`` beside
``bounds``) is refused too. See
``msim calibrate --example FOLDER`` for a complete, working example.
"""

import math
import pathlib
import tomllib
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np


class ConfigError(ValueError):
    """A configuration file that cannot be used as it is; the message says what to change."""


# Schema: key -> (types, required). Nested tables are checked by their own schema.
_NUMBER = (int, float)
_SCHEMA: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "problem": {
        "model": ((str,), True),
        "model_parameters": ((dict,), False),
        "shape": ((list,), True),
        "spacing": ((int, float, list), True),
        "diffusivity": (_NUMBER, True),
        "stimulus": ((list,), False),
    },
    "box": {
        "lo": ((list,), True),
        "hi": ((list,), True),
    },
    "ball": {
        "centre": ((list,), True),
        "radius": (_NUMBER, True),
    },
    "stimulus": {
        "box": ((dict,), False),
        "ball": ((dict,), False),
        "start": (_NUMBER, False),
        "duration": (_NUMBER, False),
        "amplitude": (_NUMBER, False),
        "period": (_NUMBER, False),
        "count": ((int,), False),
    },
    "simulate": {
        "t_end": (_NUMBER, True),
        "dt": (_NUMBER, True),
        "save_every": (_NUMBER, True),
        "probes": ((list,), False),
    },
    "data": {
        "file": ((str,), True),
        "kind": ((str,), True),
    },
    "fit": {
        "parameters": ((list,), True),
        "optimizer": ((str,), False),
        "learning_rate": (_NUMBER, False),
        "max_iterations": ((int,), False),
        "tol": (_NUMBER, False),
        "patience": ((int,), False),
        "checkpoint_every": ((int,), False),
    },
    "parameter": {
        "path": ((str,), True),
        "transform": ((str,), False),
        "bounds": ((list,), False),
        "start": (_NUMBER, False),
    },
    "output": {
        "folder": ((str,), False),
    },
}
_TOP = {"problem": True, "simulate": True, "data": True, "fit": True, "output": False}
DATA_KINDS = ("traces", "activation_times")
TRANSFORMS = ("identity", "log", "softplus")
OPTIMIZERS = ("adam", "lbfgs")


def _check_table(table: Any, schema_name: str, where: str, path: pathlib.Path) -> dict:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {where} must be a table, got {type(table).__name__}.")
    schema = _SCHEMA[schema_name]
    for key, value in table.items():
        if key not in schema:
            raise ConfigError(
                f"{path}: unknown key {key!r} in {where}; allowed keys: {', '.join(schema)}."
            )
        types, _ = schema[key]
        # bool is an int in Python; a true/false where a number is wanted is a mistake.
        if isinstance(value, bool) or not isinstance(value, types):
            names = " or ".join(t.__name__ for t in types)
            raise ConfigError(
                f"{path}: {where}.{key} must be {names}, got {type(value).__name__} ({value!r})."
            )
    for key, (_, required) in schema.items():
        if required and key not in table:
            raise ConfigError(f"{path}: {where} is missing the required key {key!r}.")
    return table


@dataclass(frozen=True)
class CalibrationConfig:
    """A checked `msim calibrate` configuration (plain data; see `load_config`)."""

    path: pathlib.Path
    problem: dict
    simulate: dict
    data: dict
    fit: dict
    output: dict

    @property
    def data_file(self) -> pathlib.Path:
        return (self.path.parent / self.data["file"]).resolve()


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _check_finite(value: Any, where: str, path: pathlib.Path) -> None:
    """Every number anywhere in the configuration is finite (TOML allows ``inf`` and ``nan``)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{path}: {where} must be finite, got {value}.")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_finite(item, f"{where}.{key}" if where else f"[{key}]", path)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_finite(item, f"{where} #{i + 1}" if isinstance(item, dict) else where, path)


def _check_numbers(value: list, where: str, path: pathlib.Path, n: int | None = None) -> None:
    if not all(_is_number(x) for x in value) or (n is not None and len(value) != n):
        size = "" if n is None else f"{n} "
        raise ConfigError(f"{path}: {where} must be a list of {size}numbers, got {value!r}.")


def _whole_steps(x: float, unit: float) -> int | None:
    """``x / unit`` when it is a positive whole number (to 1e-6 relative, as `msim.simulate`
    counts steps), else None."""
    n = round(x / unit)
    return n if n >= 1 and abs(n * unit - x) <= 1e-6 * max(abs(x), unit) else None


def _check_problem(problem: dict, path: pathlib.Path) -> None:
    shape = problem["shape"]
    if not shape or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shape
    ):
        raise ConfigError(
            f"{path}: [problem].shape must be a list of positive whole numbers of cells, one "
            f"per axis, got {shape!r}."
        )
    if isinstance(problem["spacing"], list):
        _check_numbers(problem["spacing"], "[problem].spacing", path)
    for name, value in problem.get("model_parameters", {}).items():
        flat = np.ravel(np.asarray(value, dtype=object)) if isinstance(value, list) else [value]
        if not all(_is_number(x) for x in flat):
            raise ConfigError(
                f"{path}: [problem].model_parameters.{name} must be a number (or a nested list "
                f"of numbers, one per cell), got {value!r}."
            )
    for i, stim in enumerate(problem.get("stimulus", [])):
        where = f"[[problem.stimulus]] #{i + 1}"
        _check_table(stim, "stimulus", where, path)
        if ("box" in stim) == ("ball" in stim):
            raise ConfigError(f"{path}: {where} needs exactly one region, box or ball.")
        if "box" in stim:
            box = _check_table(stim["box"], "box", f"{where}.box", path)
            _check_numbers(box["lo"], f"{where}.box.lo", path, len(shape))
            _check_numbers(box["hi"], f"{where}.box.hi", path, len(shape))
        else:
            ball = _check_table(stim["ball"], "ball", f"{where}.ball", path)
            _check_numbers(ball["centre"], f"{where}.ball.centre", path, len(shape))


def _check_simulate(
    simulate: dict, shape: list, path: pathlib.Path, shape_key: str = "[problem].shape"
) -> None:
    """A ``[simulate]`` table's times (positive, whole numbers of dt and save intervals) and
    probes (integer cells of the grid of ``shape``, named ``shape_key`` in messages)."""
    for key in ("t_end", "dt", "save_every"):
        if not simulate[key] > 0:
            raise ConfigError(f"{path}: [simulate].{key} must be positive.")
    t_end, dt, every = simulate["t_end"], simulate["dt"], simulate["save_every"]
    steps, per_frame = _whole_steps(t_end, dt), _whole_steps(every, dt)
    if per_frame is None:
        raise ConfigError(
            f"{path}: [simulate].save_every ({every}) must be a whole multiple of dt ({dt})."
        )
    if steps is None or steps % per_frame:
        raise ConfigError(
            f"{path}: [simulate].t_end ({t_end}) must be a whole multiple of save_every ({every})."
        )
    for i, probe in enumerate(simulate.get("probes", [])):
        where = f"[simulate].probes #{i + 1}"
        if not (
            isinstance(probe, list)
            and all(isinstance(k, int) and not isinstance(k, bool) for k in probe)
        ):
            raise ConfigError(
                f"{path}: {where} must be a list of integer cell indices, one per axis (like "
                f"{[n // 2 for n in shape]}), got {probe!r}."
            )
        if len(probe) != len(shape):
            raise ConfigError(
                f"{path}: {where} = {probe} has {len(probe)} "
                f"{'index' if len(probe) == 1 else 'indices'}, but the grid "
                f"({shape_key} = {shape}) has {len(shape)} axes."
            )
        if not all(0 <= k < n for k, n in zip(probe, shape, strict=True)):
            raise ConfigError(
                f"{path}: {where} = {probe} is outside the grid: indices run from 0 to "
                f"{[n - 1 for n in shape]} ({shape_key} = {shape})."
            )


def _check_fit(fit: dict, path: pathlib.Path) -> None:
    for i, param in enumerate(fit["parameters"]):
        where = f"[fit].parameters #{i + 1}"
        _check_table(param, "parameter", where, path)
        if param.get("transform", "identity") not in TRANSFORMS:
            raise ConfigError(
                f"{path}: {where}.transform must be one of {TRANSFORMS}, got "
                f"{param['transform']!r}."
            )
        if "bounds" in param:
            bounds = param["bounds"]
            _check_numbers(bounds, f"{where}.bounds", path, 2)
            if not bounds[0] < bounds[1]:
                raise ConfigError(f"{path}: {where}.bounds must be [lo, hi] with lo < hi.")
            if "transform" in param:
                raise ConfigError(
                    f"{path}: {where} has both bounds and a transform: bounds are a transform "
                    "of their own (a sigmoid onto (lo, hi)); keep one of them."
                )
    if not fit["parameters"]:
        raise ConfigError(f"{path}: [fit].parameters is empty: select at least one.")
    optimizer = fit.get("optimizer", "adam")
    if optimizer not in OPTIMIZERS:
        raise ConfigError(
            f"{path}: [fit].optimizer must be one of {OPTIMIZERS}, got {optimizer!r}."
        )
    if "learning_rate" in fit:
        if optimizer != "adam":
            raise ConfigError(
                f"{path}: [fit].learning_rate is for optimizer = 'adam'; {optimizer!r} chooses "
                "its steps by a line search. Remove learning_rate."
            )
        if not fit["learning_rate"] > 0:
            raise ConfigError(
                f"{path}: [fit].learning_rate must be positive, got {fit['learning_rate']}."
            )
    for key in ("max_iterations", "patience", "checkpoint_every"):
        if key in fit and fit[key] < 1:
            raise ConfigError(f"{path}: [fit].{key} must be at least 1, got {fit[key]}.")
    if "tol" in fit and fit["tol"] < 0:
        raise ConfigError(f"{path}: [fit].tol must be zero or positive, got {fit['tol']}.")
    if "patience" in fit and "tol" not in fit:
        raise ConfigError(
            f"{path}: [fit].patience has no effect without [fit].tol (the fit stops early when "
            "the loss changed by at most tol over the last patience iterations). Set tol or "
            "remove patience."
        )


def load_config(path: str | pathlib.Path) -> CalibrationConfig:
    """Read and check a TOML calibration configuration (no compute, no data loaded)."""
    path = pathlib.Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; give the configuration file (a .toml) in it.")
    if not path.is_file():
        raise ConfigError(f"{path}: no such configuration file.")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e}).") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (TOML is UTF-8 text).") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read it ({e.strerror}).") from None
    for key in raw:
        if key not in _TOP:
            raise ConfigError(f"{path}: unknown table [{key}]; allowed tables: {', '.join(_TOP)}.")
    for key, required in _TOP.items():
        if required and key not in raw:
            raise ConfigError(f"{path}: the required table [{key}] is missing.")
    tables = {key: _check_table(raw.get(key, {}), key, f"[{key}]", path) for key in _TOP}
    _check_finite(raw, "", path)
    _check_problem(tables["problem"], path)
    _check_simulate(tables["simulate"], tables["problem"]["shape"], path)
    _check_fit(tables["fit"], path)
    if tables["data"]["kind"] not in DATA_KINDS:
        raise ConfigError(
            f"{path}: [data].kind must be one of {DATA_KINDS}, got {tables['data']['kind']!r}."
        )
    if tables["data"]["kind"] == "traces" and not tables["simulate"].get("probes"):
        raise ConfigError(f"{path}: [data].kind = 'traces' needs [simulate].probes.")
    if not tables["data"]["file"].endswith(".npz"):
        raise ConfigError(
            f"{path}: [data].file must be an .npz archive holding an array named "
            f"{tables['data']['kind']!r} (write it with numpy.savez(file, "
            f"{tables['data']['kind']}=array)), got {tables['data']['file']!r}."
        )
    if tables["output"].get("folder") == "":
        raise ConfigError(f"{path}: [output].folder is empty; name a folder or remove the key.")
    return CalibrationConfig(path=path, **tables)


def load_data(config: CalibrationConfig, expected_shape: tuple[int, ...]) -> np.ndarray:
    """The data array named by the configuration, checked against the simulation's shape.

    Non-finite values mark missing samples (`msim.calibrate.trace_loss` and
    `activation_loss` leave them out); an array with no finite value is refused.
    """
    file = config.data_file
    kind = config.data["kind"]
    if not file.is_file():
        what = "is not a file" if file.exists() else "does not exist"
        raise ConfigError(f"{config.path}: [data].file {file} {what}.")
    try:
        loaded = np.load(file, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ConfigError(
                f"{config.path}: {file} holds a single .npy array, not an .npz archive: "
                f"write it with numpy.savez(file, {kind}=array)."
            )
        with loaded as archive:
            if kind not in archive.files:
                raise ConfigError(
                    f"{config.path}: {file} has no array {kind!r} (it has {archive.files})."
                )
            data = np.asarray(archive[kind], dtype=float)
    except ConfigError:
        raise
    except (OSError, ValueError, TypeError, zipfile.BadZipFile) as e:
        raise ConfigError(f"{config.path}: cannot read {file} as .npz ({e}).") from None
    if data.shape != expected_shape:
        axis = "(probes, frames)" if kind == "traces" else "the grid's shape"
        raise ConfigError(
            f"{config.path}: {file}:{kind} has shape {data.shape}, but the "
            f"simulation gives {expected_shape} {axis}: check [simulate].t_end, save_every and "
            "probes, or [problem].shape."
        )
    if not np.isfinite(data).any():
        raise ConfigError(
            f"{config.path}: {file}:{kind} has no finite value (NaN marks a missing sample); "
            "there is nothing to fit."
        )
    return data


def build_stimuli(tables: list[dict]) -> list:
    """The `msim.Stimulus` of each checked ``[[stimulus]]`` table (a box or ball region and its
    timing: start, duration, amplitude, period, count)."""
    from .. import stimulus

    stimuli = []
    for s in tables:
        if "box" in s:
            region = stimulus.box(s["box"]["lo"], s["box"]["hi"])
        else:
            region = stimulus.ball(s["ball"]["centre"], s["ball"]["radius"])
        timing = {k: s[k] for k in ("start", "duration", "amplitude", "period", "count") if k in s}
        stimuli.append(stimulus.Stimulus(region, **timing))
    return stimuli


def build_problem(config: CalibrationConfig):
    """The `msim.Monodomain` problem a configuration describes (start values not yet applied)."""
    from .. import cells, tissue
    from ..solve import Monodomain

    p = config.problem
    model = getattr(cells, p["model"], None)
    if not (isinstance(model, type) and issubclass(model, cells.AbstractCellModel)):
        names = sorted(
            n
            for n in dir(cells)
            if isinstance(getattr(cells, n), type)
            and issubclass(getattr(cells, n), cells.AbstractCellModel)
            and not n.startswith("Abstract")
        )
        raise ConfigError(
            f"{config.path}: [problem].model {p['model']!r} is not an msim cell model; "
            f"available: {', '.join(names)}."
        )
    try:
        cell = model(**p.get("model_parameters", {}))
    except TypeError as e:
        raise ConfigError(f"{config.path}: [problem].model_parameters: {e}.") from None
    try:
        grid = tissue.Grid(tuple(p["shape"]), p["spacing"])
        stimuli = build_stimuli(p.get("stimulus", []))
        return Monodomain(cell, grid, float(p["diffusivity"]), stimulus=stimuli)
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"{config.path}: [problem]: {e}") from None
