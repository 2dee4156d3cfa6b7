"""Configuration files for `msim ensemble`: TOML, checked against a schema before any compute.

An ensemble configuration says what each member is (``kind = "tissue"``: a `msim.Monodomain`
problem on a grid, simulated with `msim.ensemble.simulate`; ``kind = "population"``: a cell
model paced by `msim.ensemble.population`), which values vary over the members (``[design]``
and its ``[design.ranges]``), and how to run the chunks (``[run]``). Every key is checked as in
`load_config`: an unknown key is a `ConfigError` naming the nearest valid one, every number is
finite and within its range, times are whole multiples of ``dt``, and a key that would be
silently ignored (``seed`` with a grid design, ``chunk_size`` beside ``memory_budget_mb``, a
table of the other kind) is refused. `EnsembleConfig.to_toml` writes the configuration back
with every default filled in. See ``msim ensemble --example FOLDER``.
"""

import dataclasses
import difflib
import json
import pathlib
import re
import tomllib
from typing import Any

import numpy as np

from ..ensemble import METHODS
from ._config import (
    _SCHEMA as _CALIBRATION_SCHEMA,
    ConfigError,
    _check_finite,
    _check_simulate as check_simulate_table,
    _is_number,
    build_stimuli,
)

KINDS = ("tissue", "population")

_NUMBER = (int, float)
_Schema = dict[str, tuple[tuple[type, ...], bool]]
_TOP: _Schema = {
    "kind": ((str,), True),
    "model": ((dict,), True),
    "grid": ((dict,), False),
    "stimulus": ((list,), False),
    "simulate": ((dict,), False),
    "pacing": ((dict,), False),
    "select": ((dict,), False),
    "design": ((dict,), True),
    "run": ((dict,), False),
    "output": ((dict,), False),
}
_SCHEMA: dict[str, _Schema] = {
    "model": {"name": ((str,), True), "parameters": ((dict,), False)},
    "grid": {
        "shape": ((list,), True),
        "spacing": ((int, float, list), True),
        "diffusivity": (_NUMBER, True),
    },
    "stimulus": _CALIBRATION_SCHEMA["stimulus"],
    "box": _CALIBRATION_SCHEMA["box"],
    "ball": _CALIBRATION_SCHEMA["ball"],
    "simulate": _CALIBRATION_SCHEMA["simulate"],
    "pacing": {
        "bcl": (_NUMBER, True),
        "dt": (_NUMBER, True),
        "stimulus_amplitude": (_NUMBER, True),
        "stimulus_duration": (_NUMBER, False),
        "prepace": ((int,), False),
    },
    "design": {
        "method": ((str,), False),
        "n": ((int,), False),
        "points": ((int, list), False),
        "seed": ((int,), False),
        "ranges": ((dict,), True),
    },
    "run": {"chunk_size": ((int,), False), "memory_budget_mb": (_NUMBER, False)},
    "output": {"folder": ((str,), False)},
}
# Tables that belong to one kind only.
_ONLY = {
    "grid": "tissue",
    "stimulus": "tissue",
    "simulate": "tissue",
    "pacing": "population",
    "select": "population",
}
_DEFAULTS = {
    "stimulus": {"start": 0.0, "duration": 1.0, "amplitude": 1.0},
    "pacing": {"stimulus_duration": 1.0, "prepace": 50},
}


def _filled(table: dict, defaults: dict) -> dict:
    """``table`` with the defaults it lacks added after its own keys."""
    return table | {k: v for k, v in defaults.items() if k not in table}


def _nearest(key: str, allowed) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_table(table: Any, schema: _Schema, where: str, path: pathlib.Path) -> dict:
    """Every key known (an unknown one named with the nearest valid key), of its type, and the
    required ones present."""
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
        if isinstance(value, bool) or not isinstance(value, types):
            names = " or ".join("table" if t is dict else t.__name__ for t in types)
            raise ConfigError(
                f"{path}: {where}.{key} must be {names}, got {type(value).__name__} ({value!r})."
            )
    for key, (_, required) in schema.items():
        if required and key not in table:
            raise ConfigError(f"{path}: {where} is missing the required key {key!r}.")
    return table


def _whole(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _numbers(value: Any, where: str, path: pathlib.Path, n: int | None = None) -> list:
    if (
        not isinstance(value, list)
        or not all(_is_number(x) for x in value)
        or (n is not None and len(value) != n)
    ):
        size = "" if n is None else f"{n} "
        raise ConfigError(f"{path}: {where} must be a list of {size}numbers, got {value!r}.")
    return value


def _steps(x: float, dt: float) -> int | None:
    """``x / dt`` when it is a positive whole number (to 1e-6 relative), else None."""
    n = round(x / dt)
    return n if n >= 1 and abs(n * dt - x) <= 1e-6 * max(abs(x), dt) else None


def _positive(table: dict, keys, where: str, path: pathlib.Path) -> None:
    for key in keys:
        if key in table and not table[key] > 0:
            raise ConfigError(f"{path}: {where}.{key} must be positive, got {table[key]}.")


@dataclasses.dataclass(frozen=True)
class EnsembleConfig:
    """A checked `msim ensemble` configuration, defaults filled in (see `load_ensemble_config`).

    Tables of the other kind are empty (``grid``, ``stimulus``, ``simulate`` for a population;
    ``pacing``, ``select`` for tissue).
    """

    path: pathlib.Path
    kind: str
    model: dict
    design: dict
    run: dict
    output: dict
    grid: dict = dataclasses.field(default_factory=dict)
    stimulus: list = dataclasses.field(default_factory=list)
    simulate: dict = dataclasses.field(default_factory=dict)
    pacing: dict = dataclasses.field(default_factory=dict)
    select: dict = dataclasses.field(default_factory=dict)

    def resolved(self) -> dict:
        """The configuration as plain tables (the kind's own, defaults filled in), without
        ``[output]``: what `to_toml` writes."""
        out: dict[str, Any] = {"kind": self.kind, "model": self.model}
        if self.kind == "tissue":
            out |= {"grid": self.grid, "stimulus": self.stimulus, "simulate": self.simulate}
        else:
            out["pacing"] = self.pacing
            if self.select:
                out["select"] = self.select
        out |= {"design": self.design, "run": self.run}
        if not out["stimulus" if self.kind == "tissue" else "pacing"]:
            out.pop("stimulus", None)
        return out

    def to_toml(self, comment: str = "") -> str:
        """The resolved configuration as TOML text that `load_ensemble_config` reads back to
        the same configuration."""
        lines = [f"# {line}" for line in comment.splitlines()]
        _emit(self.resolved(), "", lines)
        return "\n".join(lines).lstrip("\n") + "\n"


_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE.match(k) else json.dumps(k)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _emit(table: dict, prefix: str, lines: list[str], inline: bool = False) -> None:
    """``table``'s keys as TOML lines: values first, then sub-tables and arrays of tables (the
    tables of an array's items inline: ``box = { lo = [...], hi = [...] }``)."""

    def is_tables(v):
        return isinstance(v, list) and v and all(isinstance(x, dict) for x in v)

    nested = {
        k: v for k, v in table.items() if (isinstance(v, dict) and not inline) or is_tables(v)
    }
    for k, v in table.items():
        if k not in nested:
            lines.append(f"{_key(k)} = {_value(v)}")
    for k, v in nested.items():
        name = prefix + _key(k)
        if isinstance(v, dict):
            lines += ["", f"[{name}]"]
            _emit(v, name + ".", lines)
        else:
            for item in v:
                lines += ["", f"[[{name}]]"]
                _emit(item, name + ".", lines, inline=True)


def _read(path: pathlib.Path) -> dict:
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; give the configuration file (a .toml) in it.")
    if not path.is_file():
        raise ConfigError(f"{path}: no such configuration file.")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e}).") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (TOML is UTF-8 text).") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read it ({e.strerror}).") from None


def _check_kind(raw: dict, path: pathlib.Path) -> str:
    kind = raw["kind"]
    if kind not in KINDS:
        raise ConfigError(
            f"{path}: kind must be one of {KINDS}, got {kind!r}{_nearest(kind, KINDS)}."
        )
    for table, owner in _ONLY.items():
        if table in raw and owner != kind:
            own = [f"[{t}]" for t, o in _ONLY.items() if o == kind]
            raise ConfigError(
                f"{path}: [{table}] is for kind = {owner!r}; a {kind} ensemble takes "
                f"{', '.join(own)}. Remove [{table}] or set kind = {owner!r}."
            )
    needed = ("grid", "simulate") if kind == "tissue" else ("pacing",)
    for table in needed:
        if table not in raw:
            raise ConfigError(f"{path}: kind = {kind!r} needs the table [{table}].")
    return kind


def _check_model(model: dict, path: pathlib.Path) -> None:
    for name, value in model.get("parameters", {}).items():
        flat = np.ravel(np.asarray(value, dtype=object)) if isinstance(value, list) else [value]
        if not all(_is_number(x) for x in flat):
            raise ConfigError(
                f"{path}: [model].parameters.{name} must be a number (or a nested list of "
                f"numbers, one per cell), got {value!r}."
            )


def _check_grid(grid: dict, path: pathlib.Path) -> None:
    shape = grid["shape"]
    if not shape or not all(_whole(n) and n >= 1 for n in shape):
        raise ConfigError(
            f"{path}: [grid].shape must be a list of positive whole numbers of cells, one per "
            f"axis, got {shape!r}."
        )
    if isinstance(grid["spacing"], list):
        _numbers(grid["spacing"], "[grid].spacing", path, len(shape))
    if not grid["diffusivity"] >= 0:
        raise ConfigError(f"{path}: [grid].diffusivity must be zero or positive.")


def _check_stimuli(stimuli: list, ndim: int, path: pathlib.Path) -> list:
    out = []
    for i, stim in enumerate(stimuli):
        where = f"[[stimulus]] #{i + 1}"
        _check_table(stim, _SCHEMA["stimulus"], where, path)
        if ("box" in stim) == ("ball" in stim):
            raise ConfigError(f"{path}: {where} needs exactly one region, box or ball.")
        if "box" in stim:
            box = _check_table(stim["box"], _SCHEMA["box"], f"{where}.box", path)
            _numbers(box["lo"], f"{where}.box.lo", path, ndim)
            _numbers(box["hi"], f"{where}.box.hi", path, ndim)
            if any(b < a for a, b in zip(box["lo"], box["hi"], strict=True)):
                raise ConfigError(f"{path}: {where}.box has hi {box['hi']} below lo {box['lo']}.")
        else:
            ball = _check_table(stim["ball"], _SCHEMA["ball"], f"{where}.ball", path)
            _numbers(ball["centre"], f"{where}.ball.centre", path, ndim)
            _positive(ball, ["radius"], f"{where}.ball", path)
        _positive(stim, ["duration", "period", "count"], where, path)
        if "start" in stim and stim["start"] < 0:
            raise ConfigError(f"{path}: {where}.start must be zero or positive.")
        out.append(_filled(stim, _DEFAULTS["stimulus"]))
    return out


def _check_simulate(sim: dict, shape: list, path: pathlib.Path) -> dict:
    check_simulate_table(sim, shape, path, "[grid].shape")
    return _filled(sim, {"probes": []})


def _check_pacing(pacing: dict, path: pathlib.Path) -> dict:
    _positive(pacing, ("bcl", "dt", "stimulus_duration"), "[pacing]", path)
    if _steps(pacing["bcl"], pacing["dt"]) is None:
        raise ConfigError(
            f"{path}: [pacing].bcl ({pacing['bcl']}) must be a whole multiple of dt "
            f"({pacing['dt']})."
        )
    if pacing.get("prepace", 0) < 0:
        raise ConfigError(f"{path}: [pacing].prepace must be zero or more beats.")
    return _filled(pacing, _DEFAULTS["pacing"])


def _check_select(select: dict, path: pathlib.Path) -> None:
    for name, bounds in select.items():
        where = f"[select].{name}"
        _numbers(bounds, where, path, 2)
        if bounds[0] > bounds[1]:
            raise ConfigError(
                f"{path}: {where} must be [lo, hi] with lo <= hi, got {bounds} (reversed?)."
            )


def _check_design(design: dict, path: pathlib.Path) -> dict:
    from .._paths import parse_path

    method = design.get("method", "sobol")
    if method not in METHODS:
        raise ConfigError(
            f"{path}: [design].method must be one of {METHODS}, got {method!r}"
            f"{_nearest(method, METHODS)}."
        )
    if method == "grid":
        for key in ("n", "seed"):
            if key in design:
                raise ConfigError(
                    f"{path}: [design].{key} has no effect with method = 'grid' (a full "
                    "factorial design: [design].points values per range). Remove it."
                )
        if "points" not in design:
            raise ConfigError(
                f"{path}: [design].method = 'grid' needs points (values per range: one integer, "
                "or a list with one per range)."
            )
        points = design["points"]
        each = points if isinstance(points, list) else [points]
        if not each or not all(_whole(p) and p >= 2 for p in each):
            raise ConfigError(
                f"{path}: [design].points must be an integer >= 2, or a list of them (one per "
                f"range), got {points!r}."
            )
        if isinstance(points, list) and len(points) != len(design["ranges"]):
            raise ConfigError(
                f"{path}: [design].points has {len(points)} entries for "
                f"{len(design['ranges'])} ranges."
            )
    else:
        if design.get("seed", 0) < 0:
            raise ConfigError(f"{path}: [design].seed must be zero or positive.")
        if "points" in design:
            raise ConfigError(
                f"{path}: [design].points is for method = 'grid'; method = {method!r} takes n "
                "(the number of members)."
            )
        if "n" not in design:
            raise ConfigError(f"{path}: [design] needs n, the number of members.")
        if design["n"] < 1:
            raise ConfigError(
                f"{path}: [design].n must be a positive integer (members), got {design['n']}."
            )
    if not design["ranges"]:
        raise ConfigError(f"{path}: [design.ranges] is empty: vary at least one value.")
    for key, spec in design["ranges"].items():
        where = f"[design.ranges].{_key(key)}"
        try:
            parse_path(key)
        except ValueError as e:
            raise ConfigError(f"{path}: {where}: {e}") from None
        scale = spec[2:] if isinstance(spec, list) else None
        if (
            scale not in ([], ["log"], ["linear"])
            or not all(_is_number(x) for x in spec[:2])
            or len(spec) < 2
        ):
            raise ConfigError(f'{path}: {where} must be [lo, hi] or [lo, hi, "log"], got {spec!r}.')
        lo, hi = spec[:2]
        if not lo < hi:
            raise ConfigError(
                f"{path}: {where} must be [lo, hi] with lo < hi, got {spec!r} (reversed?)."
            )
        if scale == ["log"] and not lo > 0:
            raise ConfigError(f"{path}: {where} is log-scaled, so it needs lo > 0, got {lo}.")
    return _filled(
        design, {"method": method} if method == "grid" else {"method": method, "seed": 0}
    )


def _check_run(run: dict, path: pathlib.Path) -> None:
    if "chunk_size" in run and "memory_budget_mb" in run:
        raise ConfigError(
            f"{path}: [run] has both chunk_size and memory_budget_mb: a chunk size is fixed, a "
            "budget chooses one; keep one of them."
        )
    if "chunk_size" in run and run["chunk_size"] < 1:
        raise ConfigError(f"{path}: [run].chunk_size must be at least 1, got {run['chunk_size']}.")
    _positive(run, ["memory_budget_mb"], "[run]", path)


def load_ensemble_config(path: str | pathlib.Path) -> EnsembleConfig:
    """Read and check a TOML ensemble configuration (no compute); defaults are filled in."""
    path = pathlib.Path(path)
    raw = _read(path)
    for key in raw:
        if key not in _TOP:
            raise ConfigError(
                f"{path}: unknown key or table {key!r}{_nearest(key, _TOP)}; allowed: "
                f"{', '.join(_TOP)}."
            )
    _check_table(raw, _TOP, "the top level", path)
    _check_finite(raw, "", path)
    kind = _check_kind(raw, path)
    tables: dict[str, Any] = {
        key: _check_table(raw.get(key, {}), _SCHEMA[key], f"[{key}]", path)
        for key in ("model", "design", "run", "output")
    }
    _check_model(tables["model"], path)
    tables["design"] = _check_design(tables["design"], path)
    _check_run(tables["run"], path)
    if tables["output"].get("folder") == "":
        raise ConfigError(f"{path}: [output].folder is empty; name a folder or remove the key.")
    if kind == "tissue":
        grid = _check_table(raw["grid"], _SCHEMA["grid"], "[grid]", path)
        _check_grid(grid, path)
        sim = _check_table(raw["simulate"], _SCHEMA["simulate"], "[simulate]", path)
        tables |= {
            "grid": grid,
            "stimulus": _check_stimuli(raw.get("stimulus", []), len(grid["shape"]), path),
            "simulate": _check_simulate(sim, grid["shape"], path),
        }
    else:
        pacing = _check_table(raw["pacing"], _SCHEMA["pacing"], "[pacing]", path)
        tables["pacing"] = _check_pacing(pacing, path)
        select = raw.get("select", {})
        if not isinstance(select, dict):
            raise ConfigError(f"{path}: [select] must be a table {{biomarker = [lo, hi]}}.")
        _check_select(select, path)
        tables["select"] = select
    return EnsembleConfig(path=path, kind=kind, **tables)


def _cell_model(config: EnsembleConfig):
    from .. import cells

    name = config.model["name"]
    models = cells.available()
    if name not in models:
        raise ConfigError(
            f"{config.path}: [model].name {name!r} is not a built-in msim cell model"
            f"{_nearest(name, models)}; available: {', '.join(models)}."
        )
    model = getattr(cells, name)
    parameters = config.model.get("parameters", {})
    fields = [f.name for f in dataclasses.fields(model) if f.init]
    for key in parameters:
        if key not in fields:
            raise ConfigError(
                f"{config.path}: [model].parameters.{key} is not a parameter of {name}"
                f"{_nearest(key, fields)}; its parameters: {', '.join(fields)}."
            )
    try:
        return model(**parameters)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{config.path}: [model].parameters: {e}") from None


def _design(config: EnsembleConfig):
    from .. import ensemble

    d = config.design
    ranges = {path: tuple(spec) for path, spec in d["ranges"].items()}
    try:
        if d["method"] == "grid":
            return ensemble.grid(ranges, d["points"])
        return ensemble.sample(ranges, d["n"], method=d["method"], seed=d["seed"])
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{config.path}: [design]: {e}") from None


def build_ensemble(config: EnsembleConfig) -> tuple[Any, Any]:
    """What a configuration describes: the base (a `msim.Monodomain` problem for tissue, a cell
    model for a population) and the `msim.ensemble.Design`, with every varied path checked
    against the base (an unknown path lists the available ones). Nothing is compiled."""
    from .. import tissue
    from ..ensemble._members import Members
    from ..ensemble._population import _strip
    from ..solve import Monodomain

    cell = _cell_model(config)
    design = _design(config)
    if config.kind == "tissue":
        g = config.grid
        try:
            grid = tissue.Grid(tuple(g["shape"]), g["spacing"])
            stimuli = build_stimuli(config.stimulus)
            base = Monodomain(cell, grid, float(g["diffusivity"]), stimulus=stimuli)
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"{config.path}: [grid] or [[stimulus]]: {e}") from None
        checked, grid_shape, what = base, base.grid.shape, "Monodomain problem"
    else:
        base = cell
        checked, grid_shape, what = cell, None, f"{type(cell).__name__} model"
    try:
        Members(checked, design if base is not cell else _strip(design), grid_shape, what)
    except ValueError as e:
        raise ConfigError(f"{config.path}: [design.ranges]: {e}") from None
    if config.select:
        names = biomarkers(cell)
        for name in config.select:
            if name not in names:
                raise ConfigError(
                    f"{config.path}: [select].{name} is not a biomarker{_nearest(name, names)}; "
                    f"those of {type(cell).__name__}: {', '.join(names)}."
                )
    return base, design


def biomarkers(cell) -> tuple[str, ...]:
    """The outputs `msim.ensemble.population` measures for ``cell`` (with its defaults:
    APD at 30, 50 and 90%, calcium where the model has a state named like it)."""
    from ..ensemble._population import _calcium_index

    names = ("v_rest", "v_min", "v_peak", "dvdt_max", "drift", "apd30", "apd50", "apd90")
    if _calcium_index(cell, "auto") is not None:
        names += ("ca_diastolic", "ca_peak", "ca_amplitude", "ca_ttp")
    return names
