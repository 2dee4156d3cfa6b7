"""Configuration files for `msim calibrate`: TOML, checked against a schema before any compute.

A configuration names a problem (cell model, grid, diffusivity, stimuli), how to simulate it,
the data to fit (an ``.npz`` file beside the configuration) and what to fit. Every key is
checked: an unknown key, a wrong type or a missing required key is a `ConfigError` naming the
file, the table and the key, raised before anything is compiled. See
``msim calibrate --example FOLDER`` for a complete, working example.
"""

import pathlib
import tomllib
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
        "noise": (_NUMBER, False),
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


def load_config(path: str | pathlib.Path) -> CalibrationConfig:
    """Read and check a TOML calibration configuration (no compute, no data loaded)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such configuration file.")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e}).") from None
    for key in raw:
        if key not in _TOP:
            raise ConfigError(f"{path}: unknown table [{key}]; allowed tables: {', '.join(_TOP)}.")
    for key, required in _TOP.items():
        if required and key not in raw:
            raise ConfigError(f"{path}: the required table [{key}] is missing.")
    tables = {key: _check_table(raw.get(key, {}), key, f"[{key}]", path) for key in _TOP}
    for i, stim in enumerate(tables["problem"].get("stimulus", [])):
        where = f"[[problem.stimulus]] #{i + 1}"
        _check_table(stim, "stimulus", where, path)
        if ("box" in stim) == ("ball" in stim):
            raise ConfigError(f"{path}: {where} needs exactly one region, box or ball.")
    for i, param in enumerate(tables["fit"]["parameters"]):
        where = f"[fit].parameters #{i + 1}"
        _check_table(param, "parameter", where, path)
        if param.get("transform", "identity") not in TRANSFORMS:
            raise ConfigError(
                f"{path}: {where}.transform must be one of {TRANSFORMS}, got "
                f"{param['transform']!r}."
            )
        if "bounds" in param and len(param["bounds"]) != 2:
            raise ConfigError(f"{path}: {where}.bounds must be [lo, hi].")
    if not tables["fit"]["parameters"]:
        raise ConfigError(f"{path}: [fit].parameters is empty: select at least one.")
    if tables["data"]["kind"] not in DATA_KINDS:
        raise ConfigError(
            f"{path}: [data].kind must be one of {DATA_KINDS}, got {tables['data']['kind']!r}."
        )
    if tables["data"]["kind"] == "traces" and not tables["simulate"].get("probes"):
        raise ConfigError(f"{path}: [data].kind = 'traces' needs [simulate].probes.")
    if tables["fit"].get("optimizer", "adam") not in OPTIMIZERS:
        raise ConfigError(
            f"{path}: [fit].optimizer must be one of {OPTIMIZERS}, got "
            f"{tables['fit']['optimizer']!r}."
        )
    for key in ("t_end", "dt", "save_every"):
        if not tables["simulate"][key] > 0:
            raise ConfigError(f"{path}: [simulate].{key} must be positive.")
    return CalibrationConfig(path=path, **tables)


def load_data(config: CalibrationConfig, expected_shape: tuple[int, ...]) -> np.ndarray:
    """The data array named by the configuration, checked against the simulation's shape."""
    file = config.data_file
    if not file.is_file():
        raise ConfigError(f"{config.path}: [data].file {file} does not exist.")
    try:
        with np.load(file, allow_pickle=False) as archive:
            kind = config.data["kind"]
            if kind not in archive.files:
                raise ConfigError(
                    f"{config.path}: {file} has no array {kind!r} (it has {archive.files})."
                )
            data = np.asarray(archive[kind], dtype=float)
    except (OSError, ValueError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{config.path}: cannot read {file} as .npz ({e}).") from None
    if data.shape != expected_shape:
        axis = "(probes, frames)" if config.data["kind"] == "traces" else "the grid's shape"
        raise ConfigError(
            f"{config.path}: {file}:{config.data['kind']} has shape {data.shape}, but the "
            f"simulation gives {expected_shape} {axis}: check [simulate].t_end, save_every and "
            "probes, or [problem].shape."
        )
    return data


def build_problem(config: CalibrationConfig):
    """The `msim.Monodomain` problem a configuration describes (start values not yet applied)."""
    from .. import cells, stimulus, tissue
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
        stimuli = []
        for s in p.get("stimulus", []):
            if "box" in s:
                region = stimulus.box(s["box"]["lo"], s["box"]["hi"])
            else:
                region = stimulus.ball(s["ball"]["centre"], s["ball"]["radius"])
            timing = {
                k: s[k] for k in ("start", "duration", "amplitude", "period", "count") if k in s
            }
            stimuli.append(stimulus.Stimulus(region, **timing))
        return Monodomain(cell, grid, float(p["diffusivity"]), stimulus=stimuli)
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"{config.path}: [problem]: {e}") from None
