"""Configuration files for `msim run`: any simulation, as TOML, checked before any compute.

A run configuration has six tables:

- ``[model]``: a built-in cell model by ``name`` (``msim models`` lists them) or a CellML file
  (``cellml = "file.cellml"``, read by `msim.cells.from_cellml`, with optional ``voltage`` and
  ``stimulus_current`` variable names), and ``[model.parameters]`` overriding the model's
  defaults: a number, a nested list (one value per cell) or an ``.npy`` file of the grid's
  shape for a parameter; a string for a static option such as TP06's ``cell_type``.
- ``[grid]``: ``shape`` (cells per axis), ``spacing`` (the model's length unit: mm for ionic
  models), ``periodic`` (true/false, or one per axis) and ``mask`` (an ``.npy`` file of
  booleans of the grid's shape; False cells are not tissue).
- ``[conductivity]``: ``diffusivity`` (length^2/time: a number or an ``.npy`` field), or fibres:
  ``longitudinal`` and ``transverse`` diffusivities with a fibre ``direction`` (a vector, or an
  ``.npy`` field of shape ``(ndim, *grid)``) or, in 2D, an ``angle`` in degrees from the first
  axis (a number or an ``.npy`` field).
- ``[[stimulus]]`` (any number): a ``box`` (``lo``, ``hi``) or ``ball`` (``centre``, ``radius``)
  in physical coordinates, ``start``, ``duration``, ``amplitude`` (the model's units of dV/dt),
  and ``period`` with ``count`` for a pulse train. An S1-S2 protocol is two entries.
- ``[simulate]``: ``t_end``, ``dt``, ``save_every``, ``trace_every`` (time unit; whole
  multiples of ``dt``; probe traces every ``trace_every``, which divides ``save_every``;
  default ``save_every``),
  ``probes`` (cell indices) and ``probe_points`` (physical coordinates: the cell holding each
  point), ``states`` (saved state names), ``activation_threshold``, ``float64``, ``reaction``
  (`REACTIONS`) and ``splitting`` (`SPLITTINGS`).
- ``[output]``: ``folder``, ``figures`` (`FIGURES`), ``snapshot_times``, ``snapshot_range``
  (colour limits) and ``solution`` (write ``solution.npz``).

Files are named relative to the configuration's folder. Every key is checked as in
`load_config`: an unknown key is a `ConfigError` naming the nearest valid one, every value has
its type and range, a missing required table or key is named, and a key that would be ignored
is refused; the files a configuration names are read and checked against the grid (shapes
named both ways) when the run is built (`build_run`), still before any compute.
`RunSetup.config` is the configuration with every default filled in, and `RunConfig.to_toml`
writes it back as a file that `load_run_config` reads to the same run. See
``msim run --example FOLDER``.
"""

import dataclasses
import difflib
import math
import pathlib
from typing import Any

import numpy as np

from ._config import ConfigError, _check_finite, _check_simulate, build_stimuli
from ._ensemble_config import _check_stimuli, _emit, _read

REACTIONS = ("auto", "rush_larsen", "forward_euler", "heun", "rosenbrock_euler")
"""The ``[simulate].reaction`` schemes: `msim.AutoReaction` (Rush-Larsen for models with gates,
forward Euler otherwise), `msim.RushLarsen`, `msim.ForwardEuler`, `msim.Heun`,
`msim.RosenbrockEuler`."""

SPLITTINGS = ("godunov", "strang")
"""The ``[simulate].splitting`` schemes: `msim.Godunov` and `msim.Strang`."""

FIGURES = ("snapshots", "activation_map", "trace")
"""The figures ``[output].figures`` may list: ``snapshots.png`` (`msim.viz.plot_snapshots`),
``activation_map.png`` (`msim.viz.plot_activation_map`) and ``trace.png``
(`msim.viz.plot_traces`, which needs probes)."""

_NUMBER = (int, float)
_Schema = dict[str, tuple[tuple[type, ...], bool]]
_TOP: _Schema = {
    "model": ((dict,), True),
    "grid": ((dict,), True),
    "conductivity": ((dict,), True),
    "stimulus": ((list,), False),
    "simulate": ((dict,), True),
    "output": ((dict,), False),
}
_SCHEMA: dict[str, _Schema] = {
    "model": {
        "name": ((str,), False),
        "cellml": ((str,), False),
        "parameters": ((dict,), False),
        "voltage": ((str,), False),
        "stimulus_current": ((str,), False),
    },
    "grid": {
        "shape": ((list,), True),
        "spacing": ((int, float, list), True),
        "periodic": ((bool, list), False),
        "mask": ((str,), False),
    },
    "conductivity": {
        "diffusivity": ((int, float, str), False),
        "longitudinal": ((int, float, str), False),
        "transverse": ((int, float, str), False),
        "direction": ((list, str), False),
        "angle": ((int, float, str), False),
    },
    "simulate": {
        "t_end": (_NUMBER, True),
        "dt": (_NUMBER, True),
        "save_every": (_NUMBER, True),
        "trace_every": (_NUMBER, False),
        "probes": ((list,), False),
        "probe_points": ((list,), False),
        "states": ((list, str), False),
        "activation_threshold": (_NUMBER, False),
        "float64": ((bool,), False),
        "reaction": ((str,), False),
        "splitting": ((str,), False),
    },
    "output": {
        "folder": ((str,), False),
        "figures": ((list,), False),
        "snapshot_times": ((list,), False),
        "snapshot_range": ((list,), False),
        "solution": ((bool,), False),
    },
}
_TYPE_NAMES = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "a table",
}


def _nearest(key: str, allowed) -> str:
    """`` (did you mean 'x'?)`` for the allowed name closest to ``key`` (case aside), or ''."""
    allowed = list(allowed)
    lower = {a.lower(): a for a in allowed}
    close = difflib.get_close_matches(key.lower(), list(lower), n=1, cutoff=0.6)
    return f" (did you mean {lower[close[0]]!r}?)" if close else ""


def _type_names(types: tuple[type, ...]) -> str:
    names = []
    for t in types:
        name = _TYPE_NAMES[t]
        if t is float and "an integer" in names:  # int or float: a number
            names[names.index("an integer")] = "a number"
        elif name not in names:
            names.append(name)
    return " or ".join(names)


def _check_table(table: Any, schema: _Schema, where: str, path: pathlib.Path) -> dict:
    """Every key known (an unknown one named with the nearest valid key), of its type (true and
    false only where a flag is meant), and the required ones present."""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {where} must be a table, got {type(table).__name__}.")
    for key, value in table.items():
        if key not in schema:
            raise ConfigError(
                f"{path}: unknown key {key!r} in {where}{_nearest(key, schema)}; allowed keys: "
                f"{', '.join(schema)}."
            )
        types, _ = schema[key]
        # bool is an int in Python; a true/false where a number is wanted is a mistake.
        wrong = isinstance(value, bool) and bool not in types
        if wrong or not isinstance(value, types):
            raise ConfigError(
                f"{path}: {where}.{key} must be {_type_names(types)}, got "
                f"{type(value).__name__} ({value!r})."
            )
    for key, (_, required) in schema.items():
        if required and key not in table:
            raise ConfigError(f"{path}: {where} is missing the required key {key!r}.")
    return table


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _numbers(value: Any, where: str, path: pathlib.Path, n: int | None = None) -> list:
    if (
        not isinstance(value, list)
        or not all(_is_number(x) for x in value)
        or (n is not None and len(value) != n)
    ):
        size = "" if n is None else f"{n} "
        raise ConfigError(f"{path}: {where} must be a list of {size}numbers, got {value!r}.")
    return value


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """A checked `msim run` configuration (plain tables; see `load_run_config`).

    File names in it are as written in the file, relative to ``path``'s folder; the
    configuration in `RunSetup.config` has every default filled in and every file name made
    absolute, so that its `to_toml` text runs the same simulation from any folder.
    """

    path: pathlib.Path
    model: dict
    grid: dict
    conductivity: dict
    stimulus: list
    simulate: dict
    output: dict

    def file(self, name: str) -> pathlib.Path:
        """A file the configuration names, resolved against the configuration's folder."""
        return (self.path.parent / name).resolve()

    def resolved(self) -> dict:
        """The configuration as plain tables (what `to_toml` writes), without
        ``[output].folder``: a rerun writes where its own command says."""
        out: dict[str, Any] = {
            "model": self.model,
            "grid": self.grid,
            "conductivity": self.conductivity,
        }
        if self.stimulus:
            out["stimulus"] = self.stimulus
        out["simulate"] = self.simulate
        out["output"] = {k: v for k, v in self.output.items() if k != "folder"}
        return out

    def to_toml(self, comment: str = "") -> str:
        """The configuration as TOML text that `load_run_config` reads back to the same
        configuration, each line of ``comment`` as a ``#`` comment at the top."""
        lines = [f"# {line}" for line in comment.splitlines()]
        _emit(self.resolved(), "", lines)
        return "\n".join(lines).lstrip("\n") + "\n"


def _check_model(model: dict, path: pathlib.Path) -> None:
    if ("name" in model) == ("cellml" in model):
        raise ConfigError(
            f"{path}: [model] needs exactly one of name (a built-in model, e.g. "
            "'TenTusscherPanfilov2006'; msim models lists them) or cellml (a CellML file)."
        )
    if "name" in model:
        for key in ("voltage", "stimulus_current"):
            if key in model:
                raise ConfigError(
                    f"{path}: [model].{key} names a variable of a CellML file (with cellml = "
                    f"...); a built-in model knows its own. Remove it."
                )
    for key, value in model.get("parameters", {}).items():
        where = f"[model].parameters.{key}"
        if isinstance(value, list):
            flat = np.ravel(np.asarray(value, dtype=object))
            if not flat.size or not all(_is_number(x) for x in flat):
                raise ConfigError(
                    f"{path}: {where} must be a number, a nested list of numbers (one per "
                    f"cell), an .npy file or a string option, got {value!r}."
                )
        elif not (_is_number(value) or isinstance(value, str)):
            raise ConfigError(
                f"{path}: {where} must be a number, a nested list of numbers (one per cell), an "
                f".npy file or a string option, got {type(value).__name__} ({value!r})."
            )


def _check_grid(grid: dict, path: pathlib.Path) -> int:
    shape = grid["shape"]
    if not 1 <= len(shape) <= 3 or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shape
    ):
        raise ConfigError(
            f"{path}: [grid].shape must be a list of 1 to 3 positive whole numbers of cells, one "
            f"per axis, got {shape!r}."
        )
    ndim = len(shape)
    spacing = grid["spacing"]
    each = (
        _numbers(spacing, "[grid].spacing", path, ndim) if isinstance(spacing, list) else [spacing]
    )
    if not all(h > 0 for h in each):
        raise ConfigError(f"{path}: [grid].spacing must be positive, got {spacing!r}.")
    periodic = grid.get("periodic", False)
    if isinstance(periodic, list) and (
        len(periodic) != ndim or not all(isinstance(p, bool) for p in periodic)
    ):
        raise ConfigError(
            f"{path}: [grid].periodic must be true, false or a list of {ndim} of them (one per "
            f"axis), got {periodic!r}."
        )
    if "mask" in grid and not grid["mask"].endswith(".npy"):
        raise ConfigError(
            f"{path}: [grid].mask must be an .npy file of booleans (numpy.save(file, mask)), got "
            f"{grid['mask']!r}."
        )
    return ndim


def _check_file_name(value: Any, where: str, path: pathlib.Path) -> None:
    if isinstance(value, str) and not value.endswith(".npy"):
        raise ConfigError(
            f"{path}: {where} must be a number or an .npy file (one value per cell, "
            f"numpy.save(file, array)), got {value!r}."
        )


def _check_conductivity(c: dict, ndim: int, path: pathlib.Path) -> None:
    fibres = [k for k in ("longitudinal", "transverse", "direction", "angle") if k in c]
    if "diffusivity" in c:
        if fibres:
            raise ConfigError(
                f"{path}: [conductivity] has diffusivity and {', '.join(fibres)}: give either "
                "one isotropic diffusivity, or fibres (longitudinal, transverse and a direction "
                "or angle)."
            )
        _check_file_name(c["diffusivity"], "[conductivity].diffusivity", path)
        if _is_number(c["diffusivity"]) and not c["diffusivity"] > 0:
            raise ConfigError(
                f"{path}: [conductivity].diffusivity must be positive, got {c['diffusivity']} "
                "(to remove tissue, use a [grid].mask)."
            )
        return
    if not fibres:
        raise ConfigError(
            f"{path}: [conductivity] needs a diffusivity (length^2/time, e.g. 0.154 mm^2/ms), or "
            "fibres: longitudinal, transverse and a direction or angle."
        )
    for key in ("longitudinal", "transverse"):
        if key not in c:
            raise ConfigError(f"{path}: [conductivity] has fibres but no {key} diffusivity.")
        _check_file_name(c[key], f"[conductivity].{key}", path)
        if _is_number(c[key]) and not c[key] > 0:
            raise ConfigError(f"{path}: [conductivity].{key} must be positive, got {c[key]}.")
    if ndim < 2:
        raise ConfigError(
            f"{path}: [conductivity] fibres need a 2D or 3D grid; in 1D give one diffusivity."
        )
    if ("direction" in c) == ("angle" in c):
        raise ConfigError(
            f"{path}: [conductivity] fibres need exactly one of direction (a vector of {ndim} "
            "numbers, or an .npy field) or angle (degrees from the first axis, 2D)."
        )
    if "angle" in c:
        if ndim != 2:
            raise ConfigError(
                f"{path}: [conductivity].angle is for 2D grids; in 3D give a direction."
            )
        _check_file_name(c["angle"], "[conductivity].angle", path)
    elif isinstance(c["direction"], list):
        d = _numbers(c["direction"], "[conductivity].direction", path, ndim)
        if not any(d):
            raise ConfigError(f"{path}: [conductivity].direction is the zero vector.")
    else:
        _check_file_name(c["direction"], "[conductivity].direction", path)


def _check_more_simulate(sim: dict, ndim: int, path: pathlib.Path) -> None:
    for i, point in enumerate(sim.get("probe_points", [])):
        _numbers(point, f"[simulate].probe_points #{i + 1}", path, ndim)
    states = sim.get("states")
    if states is not None:
        names = [states] if isinstance(states, str) else states
        if not names or not all(isinstance(n, str) for n in names):
            raise ConfigError(
                f"{path}: [simulate].states must be state names such as ['V'], got {states!r}."
            )
    for key, allowed in (("reaction", REACTIONS), ("splitting", SPLITTINGS)):
        if key in sim and sim[key] not in allowed:
            raise ConfigError(
                f"{path}: [simulate].{key} must be one of {allowed}, got {sim[key]!r}"
                f"{_nearest(sim[key], allowed)}."
            )


def _check_output(output: dict, sim: dict, ndim: int, path: pathlib.Path) -> None:
    if output.get("folder") == "":
        raise ConfigError(f"{path}: [output].folder is empty; name a folder or remove the key.")
    for name in output.get("figures", []):
        if name not in FIGURES:
            raise ConfigError(
                f"{path}: [output].figures: {name!r} is not a figure msim run draws"
                f"{_nearest(str(name), FIGURES)}; choose from {', '.join(FIGURES)}."
            )
        if name != "trace" and ndim == 3:
            raise ConfigError(
                f"{path}: [output].figures: {name!r} draws 1D and 2D grids only, and this grid "
                "is 3D; keep 'trace' (probe traces) or none."
            )
    if "trace" in output.get("figures", []) and not (sim.get("probes") or sim.get("probe_points")):
        raise ConfigError(
            f"{path}: [output].figures lists 'trace', but there are no probes: add "
            "[simulate].probes or probe_points, or remove 'trace'."
        )
    times = output.get("snapshot_times")
    if times is not None:
        _numbers(times, "[output].snapshot_times", path)
        if not times:
            raise ConfigError(f"{path}: [output].snapshot_times is empty; remove it or list times.")
        outside = [t for t in times if not 0 <= t <= sim["t_end"]]
        if outside:
            raise ConfigError(
                f"{path}: [output].snapshot_times {outside} lie outside the run, t = 0 to "
                f"[simulate].t_end = {sim['t_end']}."
            )
    if "snapshot_range" in output:
        lo, hi = _numbers(output["snapshot_range"], "[output].snapshot_range", path, 2)
        if not lo < hi:
            raise ConfigError(
                f"{path}: [output].snapshot_range must be [lo, hi] with lo < hi, got "
                f"{output['snapshot_range']!r} (reversed?)."
            )


def load_run_config(path: str | pathlib.Path) -> RunConfig:
    """Read and check a TOML run configuration (no file it names is read yet, no compute).

    Raises:
        ConfigError: the file is missing or not TOML, or a table or key is unknown (the nearest
            valid name is suggested), of the wrong type, out of range, or missing; one line
            naming the file, the table and the key.
    """
    path = pathlib.Path(path)
    raw = _read(path)
    for key in raw:
        if key not in _TOP:
            raise ConfigError(
                f"{path}: unknown table {key!r}{_nearest(key, _TOP)}; allowed tables: "
                f"{', '.join(_TOP)}."
            )
    for key, (_, required) in _TOP.items():
        if required and key not in raw:
            raise ConfigError(f"{path}: the required table [{key}] is missing.")
    if isinstance(raw.get("stimulus"), dict):
        raise ConfigError(
            f"{path}: [stimulus] must be an array of tables, one per stimulus: write "
            "[[stimulus]] (double brackets) above each one."
        )
    _check_table(raw, _TOP, "the top level", path)
    _check_finite(raw, "", path)
    tables = {
        key: _check_table(raw.get(key, {}), _SCHEMA[key], f"[{key}]", path)
        for key in ("model", "grid", "conductivity", "simulate", "output")
    }
    _check_model(tables["model"], path)
    ndim = _check_grid(tables["grid"], path)
    _check_conductivity(tables["conductivity"], ndim, path)
    stimuli = _check_stimuli(raw.get("stimulus", []), ndim, path)
    sim = tables["simulate"]
    _check_simulate(sim, tables["grid"]["shape"], path, "[grid].shape")
    _check_more_simulate(sim, ndim, path)
    for i, s in enumerate(stimuli):
        if s["start"] >= sim["t_end"]:
            raise ConfigError(
                f"{path}: [[stimulus]] #{i + 1} starts at {s['start']}, not before "
                f"[simulate].t_end = {sim['t_end']}: it would never be applied."
            )
        if s.get("count", 1) > 1 and "period" not in s:
            raise ConfigError(
                f"{path}: [[stimulus]] #{i + 1} has count = {s['count']} but no period: a pulse "
                "train needs the time between its pulses."
            )
        if "period" in s and s.get("count", 1) == 1:
            raise ConfigError(
                f"{path}: [[stimulus]] #{i + 1} has a period but count = 1 (one pulse), so the "
                "period has no effect: set count (the number of pulses) or remove period."
            )
        if "period" in s and s["duration"] > s["period"]:
            raise ConfigError(
                f"{path}: [[stimulus]] #{i + 1} has duration {s['duration']} longer than its "
                f"period {s['period']}."
            )
    _check_output(tables["output"], sim, ndim, path)
    return RunConfig(path=path, stimulus=stimuli, **tables)


@dataclasses.dataclass(frozen=True)
class RunSetup:
    """What a run configuration describes, ready for `msim.run`:
    ``msim.run(setup.problem, setup.t_end, setup.dt, setup.save, reaction=setup.reaction,
    splitting=setup.splitting)``.

    Attributes:
        config: the configuration with every default filled in (the saved states, the
            activation threshold, the reaction scheme chosen for the model, the figures and
            snapshot times) and every file name absolute.
        problem: the `msim.Monodomain` problem.
        t_end, dt: the run's end time and step (the model's time unit).
        save: the `msim.Save` (``every = [simulate].save_every``, the probes' cell indices).
        reaction, splitting: the scheme objects.
    """

    config: RunConfig
    problem: Any
    t_end: float
    dt: float
    save: Any
    reaction: Any
    splitting: Any


def _load_npy(config: RunConfig, name: str, where: str) -> np.ndarray:
    file = config.file(name)
    if not file.is_file():
        what = "is not a file" if file.exists() else "does not exist"
        raise ConfigError(f"{config.path}: {where}: {file} {what}.")
    try:
        value = np.load(file, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise ConfigError(f"{config.path}: {where}: cannot read {file} as .npy ({e}).") from None
    if not isinstance(value, np.ndarray):  # an .npz archive under an .npy name
        value.close()
        raise ConfigError(
            f"{config.path}: {where}: {file} is an .npz archive, not one array; write it with "
            "numpy.save(file, array)."
        )
    return value


def _field(config: RunConfig, value: Any, where: str, shape: tuple[int, ...]) -> Any:
    """A number as it is, or the per-cell field an ``.npy`` file holds (of ``shape``, finite)."""
    if _is_number(value):
        return float(value)
    array = _load_npy(config, value, where)
    if array.shape != shape:
        raise ConfigError(
            f"{config.path}: {where}: {value} has shape {array.shape}, but the grid needs "
            f"{shape} ([grid].shape = {list(config.grid['shape'])})."
        )
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise ConfigError(
            f"{config.path}: {where}: {value} holds {array.dtype} values; it needs real numbers."
        )
    if not np.isfinite(array).all():
        raise ConfigError(f"{config.path}: {where}: {value} holds NaN or infinite values.")
    return array.astype(float)


def _grid(config: RunConfig):
    from .. import tissue

    g = config.grid
    shape = tuple(g["shape"])
    mask = None
    if "mask" in g:
        mask = _load_npy(config, g["mask"], "[grid].mask")
        if mask.shape != shape:
            raise ConfigError(
                f"{config.path}: [grid].mask: {g['mask']} has shape {mask.shape}, but "
                f"[grid].shape is {list(shape)}: the mask needs one boolean per cell, shape "
                f"{shape}."
            )
        if mask.dtype != np.bool_:
            raise ConfigError(
                f"{config.path}: [grid].mask: {g['mask']} holds {mask.dtype} values; a mask is "
                "booleans (True: tissue); save it with numpy.save(file, mask.astype(bool))."
            )
        if not mask.any():
            raise ConfigError(
                f"{config.path}: [grid].mask: {g['mask']} has no True cell: no tissue."
            )
    try:
        return tissue.Grid(shape, g["spacing"], mask=mask, periodic=g.get("periodic", False))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{config.path}: [grid]: {e}") from None


def _conductivity(config: RunConfig, grid):
    from .. import tissue

    c = config.conductivity
    shape = grid.shape
    try:
        if "diffusivity" in c:
            d = _field(config, c["diffusivity"], "[conductivity].diffusivity", shape)
            if isinstance(d, np.ndarray) and (d < 0).any():
                raise ConfigError(
                    f"{config.path}: [conductivity].diffusivity: {c['diffusivity']} has negative "
                    f"values (min {d.min():g})."
                )
            conductivity = tissue.Isotropic(d)
        else:
            dl = _field(config, c["longitudinal"], "[conductivity].longitudinal", shape)
            dt = _field(config, c["transverse"], "[conductivity].transverse", shape)
            if "angle" in c:
                angle = _field(config, c["angle"], "[conductivity].angle", shape)
                conductivity = tissue.Fibres.from_angle(np.deg2rad(angle), dl, dt)
            elif isinstance(c["direction"], list):
                conductivity = tissue.Fibres(np.asarray(c["direction"], float), dl, dt)
            else:
                where = "[conductivity].direction"
                f = _load_npy(config, c["direction"], where)
                if f.shape != (grid.ndim, *shape):
                    raise ConfigError(
                        f"{config.path}: {where}: {c['direction']} has shape {f.shape}, but "
                        f"fibre directions on this grid need {(grid.ndim, *shape)} (one vector "
                        "per cell, components first)."
                    )
                norm = np.sqrt((np.asarray(f, float) ** 2).sum(axis=0))
                if not np.isfinite(f).all() or not (norm > 0).all():
                    raise ConfigError(
                        f"{config.path}: {where}: {c['direction']} has NaN, infinite or zero "
                        "vectors."
                    )
                conductivity = tissue.Fibres(np.asarray(f, float), dl, dt)
        conductivity.check(grid)
    except (TypeError, ValueError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{config.path}: [conductivity]: {e}") from None
    return conductivity


def _parameters(config: RunConfig, shape: tuple[int, ...]) -> tuple[dict, dict]:
    """The model parameter overrides as values for the model (files loaded, lists as arrays),
    and as they go into the resolved configuration (file names absolute)."""
    values, resolved = {}, {}
    for key, value in config.model.get("parameters", {}).items():
        where = f"[model].parameters.{key}"
        if isinstance(value, str) and value.endswith(".npy"):
            values[key] = _field(config, value, where, shape)
            resolved[key] = str(config.file(value))
            continue
        if isinstance(value, list):
            array = np.asarray(value, dtype=float)
            if array.shape != shape:
                raise ConfigError(
                    f"{config.path}: {where} has shape {array.shape}; a parameter is a number "
                    f"or one value per cell, shape {shape} ([grid].shape)."
                )
            values[key] = array
        else:
            values[key] = value
        resolved[key] = value
    return values, resolved


def _cell_model(config: RunConfig, shape: tuple[int, ...]):
    from .. import cells

    m = config.model
    values, resolved = _parameters(config, shape)
    if "cellml" in m:
        try:
            cell = cells.from_cellml(
                config.file(m["cellml"]), m.get("voltage"), m.get("stimulus_current")
            )
        except cells.CellMLImportError as e:
            raise ConfigError(f"{config.path}: [model].cellml: {e}") from None
        unknown = [k for k in values if k not in cell.parameters]
        if unknown:
            raise ConfigError(
                f"{config.path}: [model].parameters.{unknown[0]} is not a constant of "
                f"{m['cellml']}{_nearest(unknown[0], cell.parameters)} (its constants are named "
                "'component.variable')."
            )
        try:
            cell = cell.replace(**values) if values else cell
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{config.path}: [model].parameters: {e}") from None
        model: dict[str, Any] = {"cellml": str(config.file(m["cellml"]))}
        model |= {k: m[k] for k in ("voltage", "stimulus_current") if k in m}
    else:
        name = m["name"]
        models = cells.available()
        if name not in models:
            raise ConfigError(
                f"{config.path}: [model].name {name!r} is not a built-in msim cell model"
                f"{_nearest(name, models)}; available: {', '.join(models)} (or cellml = a "
                "CellML file)."
            )
        model_class = getattr(cells, name)
        fields = [f.name for f in dataclasses.fields(model_class) if f.init]
        for key in values:
            if key not in fields:
                raise ConfigError(
                    f"{config.path}: [model].parameters.{key} is not a parameter of {name}"
                    f"{_nearest(key, fields)}; its parameters: {', '.join(fields)}."
                )
        try:
            cell = model_class(**values)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{config.path}: [model].parameters: {e}") from None
        model = {"name": name}
    if resolved:
        model["parameters"] = resolved
    return cell, model


def _probe_cell(point: list, grid, where: str, path: pathlib.Path) -> list[int]:
    """The cell whose extent holds ``point`` (physical coordinates)."""
    index = []
    for x, n, h, length in zip(point, grid.shape, grid.spacing, grid.extent, strict=True):
        if not 0 <= x <= length:
            raise ConfigError(
                f"{path}: {where} = {point} is outside the grid: it spans 0 to "
                f"{[float(e) for e in grid.extent]} (shape times spacing)."
            )
        index.append(min(math.floor(x / h), n - 1))
    return index


def _reaction(name: str, cell):
    from .. import solve

    schemes = {
        "rush_larsen": solve.RushLarsen,
        "forward_euler": solve.ForwardEuler,
        "heun": solve.Heun,
        "rosenbrock_euler": solve.RosenbrockEuler,
    }
    if name == "auto":
        chosen = solve.AutoReaction().resolve(cell)
        name = next(k for k, v in schemes.items() if isinstance(chosen, v))
    return schemes[name](), name


def build_run(config: RunConfig) -> RunSetup:
    """Build what ``config`` describes: read the files it names (mask, fields, CellML) and check
    them against the grid, build the cell model, grid, conductivity, stimuli and problem, and
    fill in every default. Nothing is compiled or simulated.

    ``[simulate].float64 = true`` needs double precision switched on first
    (``jax.config.update("jax_enable_x64", True)``, as ``msim run`` does): the problem's arrays
    take JAX's default float type when they are made.

    Raises:
        ConfigError: a file is missing or does not fit the grid (the message names both
            shapes), a model, parameter or state name is unknown (the nearest is suggested), a
            stimulus region or probe holds no tissue, a pulse is shorter than ``dt``, or
            float64 is asked for without double precision.
    """
    import jax

    from .. import solve

    path = config.path
    sim = config.simulate
    float64 = sim.get("float64", False)
    if float64 and not jax.config.read("jax_enable_x64"):
        raise ConfigError(
            f"{path}: [simulate].float64 = true, but JAX computes in float32: call "
            "jax.config.update('jax_enable_x64', True) before building the run (msim run does)."
        )
    grid = _grid(config)
    conductivity = _conductivity(config, grid)
    cell, model = _cell_model(config, grid.shape)
    tissue_cells = grid.mask_array()
    stimuli = build_stimuli(config.stimulus)
    for i, s in enumerate(stimuli):
        if not (s.region.mask(grid) & tissue_cells).any():
            raise ConfigError(
                f"{path}: [[stimulus]] #{i + 1}'s region holds no tissue cell (cell centres are "
                f"at (i + 1/2) * spacing; the grid spans 0 to {list(grid.extent)}"
                f"{', and the mask removes the cells there' if grid.mask is not None else ''})."
            )
        try:
            s.check_step(sim["dt"])
        except ValueError as e:
            raise ConfigError(f"{path}: [[stimulus]] #{i + 1}: {e}") from None
    names = list(cell.state_names)
    states = sim.get("states", [names[cell.voltage_index]])
    states = [states] if isinstance(states, str) else list(states)
    for state in states:
        if state not in names:
            raise ConfigError(
                f"{path}: [simulate].states: {state!r} is not a state of the model"
                f"{_nearest(state, names)}; its states: {', '.join(names)}."
            )
    probes = [list(p) for p in sim.get("probes", [])]
    for i, point in enumerate(sim.get("probe_points", [])):
        probes.append(_probe_cell(point, grid, f"[simulate].probe_points #{i + 1}", path))
    for i, probe in enumerate(probes):
        try:
            grid.check_index(probe, "probe")
        except ValueError as e:
            raise ConfigError(f"{path}: [simulate] probe #{i + 1}: {e}") from None
    reaction, reaction_name = _reaction(sim.get("reaction", "auto"), cell)
    splitting_name = sim.get("splitting", "godunov")
    splitting = solve.Strang() if splitting_name == "strang" else solve.Godunov()
    try:
        problem = solve.Monodomain(cell, grid, conductivity, stimulus=stimuli)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{path}: {e}") from None
    threshold = float(sim.get("activation_threshold", cell.activation_threshold))
    try:
        save = solve.Save(
            every=sim["save_every"],
            trace_every=sim.get("trace_every", sim["save_every"]),
            probes=[tuple(p) for p in probes],
            states=tuple(states),
            threshold=threshold,
        )
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{path}: [simulate]: {e}") from None

    resolved_grid = {
        "shape": list(grid.shape),
        "spacing": config.grid["spacing"],
        "periodic": config.grid.get("periodic", False),
    }
    if "mask" in config.grid:
        resolved_grid["mask"] = str(config.file(config.grid["mask"]))
    resolved_conductivity = {
        k: str(config.file(v)) if isinstance(v, str) else v for k, v in config.conductivity.items()
    }
    resolved_sim = {
        "t_end": sim["t_end"],
        "dt": sim["dt"],
        "save_every": sim["save_every"],
        "trace_every": sim.get("trace_every", sim["save_every"]),
        "probes": [list(p) for p in sim.get("probes", [])],
        "probe_points": sim.get("probe_points", []),
        "states": states,
        "activation_threshold": threshold,
        "float64": float64,
        "reaction": reaction_name,
        "splitting": splitting_name,
    }
    out = config.output
    default_figures = [f for f in FIGURES if f != "trace" or probes]
    if grid.ndim == 3:
        default_figures = [f for f in default_figures if f == "trace"]
    figures = list(out.get("figures", default_figures))
    times = out.get("snapshot_times")
    if times is None:  # six frames spread over the run, after its start
        every, t_end = sim["save_every"], sim["t_end"]
        n_frames = round(t_end / every)
        frames = sorted({max(1, round(n_frames * k / 6)) for k in range(1, 7)})
        times = [round(f * every, 9) for f in frames]
    resolved_output = {"figures": figures, "snapshot_times": times}
    if "snapshot_range" in out:
        resolved_output["snapshot_range"] = out["snapshot_range"]
    resolved_output["solution"] = out.get("solution", True)
    if "folder" in out:
        resolved_output["folder"] = out["folder"]
    resolved = dataclasses.replace(
        config,
        model=model,
        grid=resolved_grid,
        conductivity=resolved_conductivity,
        simulate=resolved_sim,
        output=resolved_output,
    )
    return RunSetup(
        config=resolved,
        problem=problem,
        t_end=float(sim["t_end"]),
        dt=float(sim["dt"]),
        save=save,
        reaction=reaction,
        splitting=splitting,
    )
