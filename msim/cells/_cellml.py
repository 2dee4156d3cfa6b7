"""CellML import: a CellML 1.0/1.1/2.0 file becomes an msim cell model.

Myokit parses the file (and checks it: units, cycles, undefined variables); this module turns
Myokit's expression trees into JAX operations at trace time, by walking the trees into closures
once per import. No code text is generated or evaluated.
"""

import operator
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.lax as lax
import jax.numpy as jnp
import numpy as np

from .._convert import parameter
from .._types import Array, Float
from .._units import PHYSIOLOGICAL, Units
from ._base import AbstractCellModel, AbstractGatedCellModel

_OXMETA = "oxford-metadata#"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_BQBIOL = "http://biomodels.net/biology-qualifiers/"
_CMETA = "http://www.cellml.org/metadata/1.0#"

Env = dict[str, Any]
Op = Callable[[Env], Any]


class CellMLImportError(ValueError):
    """A CellML file (or Myokit model) that msim cannot turn into a cell model.

    The message names the file, the variable and the construct, and says what to do.
    """


# --- expression trees to JAX ----------------------------------------------------------------------


def _key(lhs) -> str:
    """Environment key of a Myokit ``Name`` or ``Derivative``."""
    import myokit

    if isinstance(lhs, myokit.Derivative):
        return "dot:" + lhs.var().qname()
    return lhs.var().qname()


def _integer(x: float) -> int | None:
    return int(x) if float(x).is_integer() and abs(x) <= 64 else None


def _unary_table():
    import myokit

    return {
        myokit.PrefixPlus: lambda x: x,
        myokit.PrefixMinus: operator.neg,
        myokit.Sqrt: jnp.sqrt,
        myokit.Exp: jnp.exp,
        myokit.Log10: jnp.log10,
        myokit.Sin: jnp.sin,
        myokit.Cos: jnp.cos,
        myokit.Tan: jnp.tan,
        myokit.ASin: jnp.arcsin,
        myokit.ACos: jnp.arccos,
        myokit.ATan: jnp.arctan,
        myokit.Floor: jnp.floor,
        myokit.Ceil: jnp.ceil,
        myokit.Abs: jnp.abs,
        myokit.Not: jnp.logical_not,
    }


def _binary_table():
    import myokit

    return {
        myokit.Plus: operator.add,
        myokit.Minus: operator.sub,
        myokit.Multiply: operator.mul,
        myokit.Divide: operator.truediv,
        myokit.Quotient: jnp.floor_divide,
        myokit.Remainder: jnp.mod,
        myokit.Equal: jnp.equal,
        myokit.NotEqual: jnp.not_equal,
        myokit.More: jnp.greater,
        myokit.Less: jnp.less,
        myokit.MoreEqual: jnp.greater_equal,
        myokit.LessEqual: jnp.less_equal,
        myokit.And: jnp.logical_and,
        myokit.Or: jnp.logical_or,
    }


class _Translator:
    """Turns Myokit expressions into closures ``env -> value`` made of jnp operations."""

    def __init__(self, source: str):
        self.source = source
        self.unary = _unary_table()
        self.binary = _binary_table()

    def __call__(self, expr, variable: str) -> Op:
        import myokit

        if isinstance(expr, myokit.Number):
            value = float(expr.eval())
            return lambda env: value
        if isinstance(expr, (myokit.Name, myokit.Derivative)):
            key = _key(expr)
            return lambda env: env[key]
        kind = type(expr)
        if kind in self.unary:
            f, (a,) = self.unary[kind], [self(op, variable) for op in expr]
            return lambda env: f(a(env))
        if kind in self.binary:
            f, (a, b) = self.binary[kind], [self(op, variable) for op in expr]
            return lambda env: f(a(env), b(env))
        if isinstance(expr, myokit.Power):
            base, exponent = list(expr)
            a = self(base, variable)
            n = _integer(exponent.eval()) if isinstance(exponent, myokit.Number) else None
            if n is not None:
                # An integer power stays exact and differentiable for negative bases.
                return lambda env: lax.integer_pow(jnp.asarray(a(env)), n)
            b = self(exponent, variable)
            return lambda env: jnp.power(a(env), b(env))
        if isinstance(expr, myokit.Log):
            ops = [self(op, variable) for op in expr]
            if len(ops) == 1:
                (a,) = ops
                return lambda env: jnp.log(a(env))
            a, b = ops
            return lambda env: jnp.log(a(env)) / jnp.log(b(env))
        if isinstance(expr, myokit.If):
            c, a, b = (self(op, variable) for op in (expr._i, expr._t, expr._e))
            return lambda env: jnp.where(c(env), a(env), b(env))
        if isinstance(expr, myokit.Piecewise):
            ops = [self(op, variable) for op in expr]
            pairs, otherwise = list(zip(ops[:-1:2], ops[1:-1:2], strict=True)), ops[-1]

            def piecewise(env):
                out = otherwise(env)
                for cond, value in reversed(pairs):
                    out = jnp.where(cond(env), value(env), out)
                return out

            return piecewise
        raise CellMLImportError(
            f"{self.source}: variable {variable} uses {type(expr).__name__} ({expr.code()}), "
            "which msim cannot translate to JAX. Rewrite the equation without it (for example "
            "replace init(x) by the initial value as a number), or pass the model through "
            "Myokit's own converters first."
        )


# --- oxmeta annotations ---------------------------------------------------------------------------


def _read_xml(path: Path):
    """The XML document at ``path``, parsed with entities, DTDs and the network off.

    A CellML file needs no DTD, and entities are how XML attacks its reader: an external one
    (``<!ENTITY e SYSTEM "file:///etc/passwd">``, or an ``http:`` URL) reads a local file or
    fetches a URL, nested internal ones expand a few hundred bytes to gigabytes ("billion
    laughs"). This parser resolves none of them, loads no external DTD and never goes on the
    network, whatever lxml's defaults; and as Myokit parses the file again with lxml's
    default parser, a file whose DOCTYPE declares any entity, or names an external DTD that
    could, is refused here, before Myokit sees it.
    """
    from lxml import etree  # pyright: ignore[reportAttributeAccessIssue]

    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        dtd_validation=False,
    )
    try:
        with open(path, "rb") as f:  # opened here: libxml2 gets no file name or URL to load
            tree = etree.parse(f, parser)
    except (etree.XMLSyntaxError, OSError) as e:
        raise CellMLImportError(
            f"{path}: cannot read this CellML file: its XML does not parse ({e})."
        ) from None
    info = tree.docinfo
    dtd = info.internalDTD
    entities = [] if dtd is None else [entity.name for entity in dtd.iterentities()]
    if entities:
        raise CellMLImportError(
            f"{path}: its DOCTYPE declares the XML entities {entities}. msim does not read "
            "CellML files that declare entities (an external entity can read local files or "
            "URLs, nested ones can expand to gigabytes), and CellML has no use for them: "
            "write each entity's text where it is used and remove the DOCTYPE."
        )
    if info.system_url or info.public_id:
        raise CellMLImportError(
            f"{path}: its DOCTYPE names the external DTD "
            f"{info.system_url or info.public_id!r}. msim does not load external DTDs (they "
            "can declare entities that read local files or URLs), and CellML needs none: "
            "remove the DOCTYPE."
        )
    return tree


def _oxmeta(root) -> dict[tuple[str, str], str]:
    """Oxford-metadata annotations of a CellML document (the root element of what
    `_read_xml` returned): ``(component, variable) -> annotation``.

    Myokit reads RDF only at the top level of a model; curated files (Chaste's collection)
    put it inside each variable, so the whole document is searched here.
    """
    by_id: dict[str, tuple[str, str]] = {}
    for element in root.iter():
        if not isinstance(element.tag, str) or not element.tag.endswith("}variable"):
            continue
        ident = element.get(f"{{{_CMETA}}}id") or element.get("id")
        parent = element.getparent()
        if ident and parent is not None and parent.get("name") and element.get("name"):
            by_id[ident] = (parent.get("name"), element.get("name"))
    found: dict[tuple[str, str], str] = {}
    for description in root.iter(f"{{{_RDF}}}Description"):
        about = (description.get(f"{{{_RDF}}}about") or "").lstrip("#")
        if about not in by_id:
            continue
        for qualifier in description.iter(f"{{{_BQBIOL}}}is"):
            resource = qualifier.get(f"{{{_RDF}}}resource") or ""
            if _OXMETA in resource:
                found[by_id[about]] = resource.split(_OXMETA, 1)[1]
    return found


# --- the generated model --------------------------------------------------------------------------


class _Program:
    """The translated equations of one imported model (structure; compared by identity)."""

    def __init__(
        self,
        time: str,
        states: tuple[str, ...],
        equations: tuple[tuple[str, Op], ...],
        stimulus: str | None,
        voltage_index: int,
        gates: tuple[tuple[int, str, str, bool], ...],
        time_factor: float,
        voltage_factor: float,
    ):
        self.time = time
        self.states = states
        self.equations = equations
        self.stimulus = stimulus
        self.voltage_index = voltage_index
        self.gates = gates
        self.time_factor = time_factor
        self.voltage_factor = voltage_factor

    def environment(self, parameters: Mapping[str, Array], t, y, s) -> Env:
        env: Env = dict(parameters)
        env[self.time] = t * self.time_factor
        for i, name in enumerate(self.states):
            env[name] = y[i] / self.voltage_factor if i == self.voltage_index else y[i]
        if self.stimulus is not None:
            env[self.stimulus] = s
        for key, op in self.equations:
            env[key] = op(env)
        return env

    def derivatives(self, parameters, t, y, s) -> Array:
        """Model-unit derivatives per model-unit time, stacked ``(n_states, *grid)``."""
        return self.stacked_derivatives(self.environment(parameters, t, y, s), y)

    def stacked_derivatives(self, env: Env, y: Array) -> Array:
        return jnp.stack(
            [
                jnp.broadcast_to(jnp.asarray(env["dot:" + n], y.dtype), y.shape[1:])
                for n in self.states
            ]
        )


def _gate_rates(p: "_Program", env: Env, y: Array) -> tuple[Array, Array]:
    """Steady states and time constants (ms) of an imported model's gates, from its
    evaluated equations."""
    infs, taus = [], []
    for _, a, b, alpha_beta in p.gates:
        if alpha_beta:
            total = env[a] + env[b]
            inf, tau = env[a] / total, 1.0 / total
        else:
            inf, tau = env[a], env[b]
        infs.append(jnp.broadcast_to(jnp.asarray(inf, y.dtype), y.shape[1:]))
        taus.append(jnp.broadcast_to(jnp.asarray(tau / p.time_factor, y.dtype), y.shape[1:]))
    return jnp.stack(infs), jnp.stack(taus)


class CellMLModel(AbstractCellModel):
    r"""A cell model imported from CellML by [`from_cellml`][msim.cells.from_cellml].

    Each import creates a final subclass of this class whose class-level constants describe the
    structure (``state_names``, ``voltage_index``, ``gate_indices``, ``source``, ``oxmeta``);
    instances carry the parameter values.

    Parameters: ``parameters`` maps each CellML constant that is a literal number (named
    ``component.variable``, in the model's own units) to an array (a scalar or a per-cell field
    of the grid's shape). They are traced: `jax.grad` with respect to them works and a new value
    never recompiles. Set them with ``model.replace(**{"membrane.C": 1.1})``; ``oxmeta`` maps the
    file's Oxford-metadata annotations (``"membrane_capacitance"``, conductances, ...) to those
    names.

    Units and conventions: msim time is in ms and the voltage state in mV; a model written in
    seconds or volts is rescaled on the fly (the other states keep the model's units). The
    applied stimulus ``i_stim`` is in mV/ms (= uA/uF) and positive depolarises:

    $$ \frac{dV}{dt} = f_V(V, s; I_{st} = 0) + i_{stim}. $$

    The model's own stimulus protocol is removed and its stimulus current variable becomes the
    input: it is set to the value ``I_st = i_stim / c``, with ``c = \partial (dV/dt) / \partial
    I_{st}`` (for the usual ``dV/dt = -(I_ion + I_st)/C_m``, ``I_st = -C_m i_stim``), so a
    stimulus current that also enters concentration equations (K+ carried by the stimulus, as in
    O'Hara-Rudy) keeps doing so. ``c`` is obtained by forward-mode differentiation at run time,
    so it follows parameter changes such as ``C_m``. A model with no identified stimulus gets
    ``i_stim`` added to ``dV/dt`` directly.

    Gates: states whose equation has the Hodgkin-Huxley form ``(x_inf - x)/tau_x`` or
    ``alpha (1 - x) - beta x`` with rates depending on the voltage only (detected with
    ``myokit.lib.hh``) are declared in ``gate_indices`` for Rush-Larsen steps.
    """

    parameters: dict[str, Array]

    state_names: eqx.AbstractClassVar[tuple[str, ...]]
    voltage_index: eqx.AbstractClassVar[int]
    activation_threshold: eqx.AbstractClassVar[float]
    units: ClassVar[Units] = PHYSIOLOGICAL  # imports are rescaled to ms and mV
    source: eqx.AbstractClassVar[str]
    """The file (or Myokit model name) the model was imported from."""
    oxmeta: eqx.AbstractClassVar[dict[str, str]]
    """Oxford-metadata annotation -> variable name, for the annotated variables."""
    stimulus_variable: eqx.AbstractClassVar[str | None]
    """The model's stimulus current variable that ``i_stim`` drives, or None."""
    _program: eqx.AbstractClassVar[_Program]
    _initial: eqx.AbstractClassVar[tuple[float, ...]]

    def replace(self, **values) -> "CellMLModel":
        """A copy with the named parameters set, e.g. ``model.replace(**{"membrane.C": 2.0})``."""
        unknown = sorted(set(values) - set(self.parameters))
        if unknown:
            raise ValueError(
                f"{self.source}: no parameter named {unknown}; the parameters are the literal "
                f"constants listed in model.parameters (e.g. {sorted(self.parameters)[:5]})."
            )
        merged = dict(self.parameters)
        merged.update({k: parameter(v) for k, v in values.items()})
        return eqx.tree_at(lambda m: m.parameters, self, merged)

    def _dtype(self):
        leaves = jax.tree_util.tree_leaves(self.parameters)
        return leaves[0].dtype if leaves else jnp.result_type(float)

    def rhs(self, t: Float[Array, ""], y: Array, i_stim: Array) -> Array:
        return self._evaluate(t, y, i_stim, rates=False)[0]

    def _evaluate(self, t, y: Array, i_stim, rates: bool) -> tuple[Array, Any]:
        """The derivatives (msim units) and, with ``rates``, the gate rates, from one
        evaluation of the model's equations."""
        p = self._program
        t = jnp.asarray(t, y.dtype)
        i_model = jnp.asarray(i_stim, y.dtype) / (p.voltage_factor * p.time_factor)
        zero = jnp.zeros((), y.dtype)

        def run(s):
            env = p.environment(self.parameters, t, y, s)
            return p.stacked_derivatives(env, y), (_gate_rates(p, env, y) if rates else None)

        if p.stimulus is None:
            f, gate_rates = run(zero)
            f = f.at[p.voltage_index].add(i_model)
        else:
            # dV/dt is affine in the stimulus current: one forward-mode pass gives its slope
            # (only the few equations that depend on the stimulus carry tangents).
            (f, gate_rates), (df, _) = jax.jvp(run, (zero,), (jnp.ones_like(zero),))
            share = jnp.broadcast_to(i_model / df[p.voltage_index], y.shape[1:])
            f = f + df * share[None]
        scale = np.ones(len(p.states))
        scale[p.voltage_index] = p.voltage_factor
        scale = jnp.asarray(scale * p.time_factor, y.dtype).reshape((-1,) + (1,) * (y.ndim - 1))
        return f * scale, gate_rates

    def initial_state(self) -> Array:
        return jnp.asarray(self._initial, dtype=self._dtype())


# --- import ---------------------------------------------------------------------------------------


class GatedCellMLModel(CellMLModel, AbstractGatedCellModel):
    """An imported model in which `from_cellml` found Hodgkin-Huxley gates: its rates come
    from the model's own expressions for ``x_inf``/``tau_x`` or ``alpha``/``beta``."""

    gate_indices: eqx.AbstractClassVar[tuple[int, ...]]

    def gate_rates(self, t: Float[Array, ""], y: Array) -> tuple[Array, Array]:
        p = self._program
        env = p.environment(self.parameters, jnp.asarray(t, y.dtype), y, jnp.zeros((), y.dtype))
        return _gate_rates(p, env, y)

    def rhs_and_gate_rates(self, t, y, i_stim):
        # One evaluation of the equation set serves both (XLA does not merge two of them).
        f, gate_rates = self._evaluate(t, y, i_stim, rates=True)
        return f, gate_rates


def _find(model, name: str, what: str, source: str):
    try:
        return model.get(name)
    except Exception:
        names = ", ".join(sorted(v.qname() for v in model.states()))
        raise CellMLImportError(
            f"{source}: no variable {name!r} for the {what}; give it as 'component.variable' "
            f"(the states are: {names})."
        ) from None


def _factor(unit, target, variable, source: str, what: str) -> float:
    import myokit

    if unit is None:
        raise CellMLImportError(
            f"{source}: the {what} {variable} has no units, so msim cannot tell how to convert "
            f"it to {target}; declare its units in the CellML file."
        )
    try:
        return float(myokit.Unit.conversion_factor(unit, target).value())
    except myokit.IncompatibleUnitError:
        raise CellMLImportError(
            f"{source}: the {what} {variable} is in {unit}, which does not convert to {target}; "
            f"fix its units in the file (msim expects a time for the time variable and a "
            "voltage for the membrane potential), or name the right variable."
        ) from None


def from_myokit(
    model,
    voltage: str | None = None,
    stimulus: str | None = None,
    *,
    activation_threshold: float = -40.0,
    name: str | None = None,
    source: str | None = None,
    annotations: Mapping[str, str] | None = None,
) -> CellMLModel:
    """An msim cell model from a `myokit.Model` (the engine behind
    [`from_cellml`][msim.cells.from_cellml], which documents the arguments)."""
    import myokit
    import myokit.lib.hh as hh

    source = source or model.name() or "myokit model"
    annotations = dict(annotations or {})
    model = model.clone()
    try:
        model.validate()
    except myokit.MyokitError as e:
        raise CellMLImportError(f"{source}: Myokit rejects the model: {e}") from None
    by_oxmeta = {a: q for q, a in annotations.items()}

    # The membrane voltage.
    if voltage is None:
        voltage = by_oxmeta.get("membrane_voltage")
    if voltage is None:
        volt = myokit.parse_unit("V")
        candidates = []
        for s in model.states():
            try:
                if s.unit() is not None and myokit.Unit.can_convert(s.unit(), volt):
                    candidates.append(s.qname())
            except myokit.MyokitError:  # a unit Myokit cannot reason about: not the voltage
                continue
        if len(candidates) != 1:
            raise CellMLImportError(
                f"{source}: cannot identify the membrane voltage (no oxmeta:membrane_voltage "
                f"annotation, and {len(candidates)} states have voltage units: {candidates}). "
                "Pass voltage='component.variable'."
            )
        voltage = candidates[0]
    v = _find(model, str(voltage), "membrane voltage", source)
    if not v.is_state():
        raise CellMLImportError(
            f"{source}: the membrane voltage {v.qname()} is not a state variable (it has no "
            "dV/dt equation); msim needs the voltage as a state. Pass the right variable as "
            "voltage='component.variable'."
        )

    # The stimulus current.
    if stimulus is None:
        stimulus = by_oxmeta.get("membrane_stimulus_current")
    if stimulus is None:
        named = [
            x.qname()
            for x in model.variables(deep=True)
            if re.fullmatch(r"i_?st(im(ulus)?)?(_current)?", x.name(), re.IGNORECASE)
        ]
        stimulus = named[0] if len(named) == 1 else None
    stim = _find(model, str(stimulus), "stimulus current", source) if stimulus else None
    if stim is not None:
        if stim.is_state():
            raise CellMLImportError(
                f"{source}: the stimulus current {stim.qname()} is a state variable; name the "
                "algebraic stimulus current variable instead (stimulus='component.variable')."
            )
        stim.set_rhs(myokit.Number(0, stim.unit()))
        stim.set_binding(None) if stim.binding() else None
        stim.set_label(None) if stim.label() else None
    model.validate(remove_unused_variables=True)
    v = model.get(v.qname())

    # Units: msim works in ms and mV.
    time = model.time()
    time_factor = 1.0 / _factor(time.unit(), myokit.parse_unit("ms"), time.qname(), source, "time")
    voltage_factor = _factor(
        v.unit(), myokit.parse_unit("mV"), v.qname(), source, "membrane voltage"
    )

    # Equations in dependency order (depth-first over references).
    translate = _Translator(source)
    stim_key = stim.qname() if stim is not None else None
    equations: dict[str, tuple[Any, str]] = {}
    parameters: dict[str, float] = {}
    for x in model.variables(deep=True):
        q = x.qname()
        if x is time or q == stim_key:
            continue
        if x.is_state():
            equations["dot:" + q] = (x.rhs(), q)
        elif x.is_literal():
            parameters[q] = float(x.rhs().eval())
        else:
            equations[q] = (x.rhs(), q)
    ordered: list[tuple[str, Op]] = []
    done: set[str] = set()
    visiting: set[str] = set()

    def visit(key: str):
        if key in done or key not in equations:
            return
        if key in visiting:
            raise CellMLImportError(f"{source}: variable {key} depends on itself (a cycle).")
        visiting.add(key)
        expr, variable = equations[key]
        for ref in expr.references():
            visit(_key(ref))
        visiting.discard(key)
        done.add(key)
        ordered.append((key, translate(expr, variable)))

    for key in equations:
        visit(key)

    # Gates for Rush-Larsen.
    states = tuple(s.qname() for s in model.states())
    gates = []
    for i, s in enumerate(model.states()):
        if s is v:
            continue
        try:
            inf_tau = hh.get_inf_and_tau(s, v)
            alpha_beta = None if inf_tau else hh.get_alpha_and_beta(s, v)
        except (myokit.MyokitError, TypeError):
            continue
        if inf_tau is not None:
            gates.append((i, inf_tau[0].qname(), inf_tau[1].qname(), False))
        elif alpha_beta is not None:
            gates.append((i, alpha_beta[0].qname(), alpha_beta[1].qname(), True))
    # The rates must be in the environment: a literal rate is a parameter, a literal-free one an
    # equation; both are there.
    v_index = states.index(v.qname())
    initial = [float(x) for x in model.initial_values(as_floats=True)]
    initial[v_index] *= voltage_factor
    program = _Program(
        time=time.qname(),
        states=states,
        equations=tuple(ordered),
        stimulus=stim_key,
        voltage_index=v_index,
        gates=tuple(gates),
        time_factor=time_factor,
        voltage_factor=voltage_factor,
    )
    class_name = name or re.sub(r"\W", "_", model.name() or "CellML") or "CellML"
    namespace = {
        "__doc__": f"Cell model imported from {source} (see msim.cells.CellMLModel).",
        "__module__": __name__,
        "state_names": states,
        "voltage_index": v_index,
        "activation_threshold": float(activation_threshold),
        "source": source,
        "oxmeta": {a: q for q, a in annotations.items() if q in parameters or q in states},
        "stimulus_variable": stim_key,
        "_program": program,
        "_initial": tuple(initial),
    }
    if gates:
        namespace["gate_indices"] = tuple(g[0] for g in gates)
    cls: Any = type(class_name, (GatedCellMLModel if gates else CellMLModel,), namespace)
    cell = cls(parameters={k: parameter(x) for k, x in parameters.items()})
    if stim_key is not None:
        _check_stimulus(cell, source, stim_key)
    return cell


def _check_stimulus(cell: CellMLModel, source: str, stimulus: str) -> None:
    """msim drives the stimulus current through ``dV/dt``'s slope in it, so ``dV/dt`` must be
    affine in the stimulus with a non-zero slope; checked at the initial state."""
    p, y = cell._program, cell.initial_state()
    t = jnp.zeros((), y.dtype)

    def slope(s):
        s = jnp.asarray(s, y.dtype)
        f = lambda s: p.derivatives(cell.parameters, t, y, s)[p.voltage_index]
        return float(jax.jvp(f, (s,), (jnp.ones_like(s),))[1])

    c0 = slope(0.0)
    ok = np.isfinite(c0) and c0 != 0.0
    if ok:
        # the stimulus that adds 100 mV/ms to dV/dt, in the model's units
        c1 = slope(100.0 / (p.voltage_factor * p.time_factor) / c0)
        ok = np.isfinite(c1) and abs(c1 - c0) <= 1e-4 * abs(c0)
    if not ok:
        raise CellMLImportError(
            f"{source}: the stimulus current {stimulus} does not enter dV/dt linearly (slope "
            f"{c0} at rest): msim's i_stim cannot drive it. Name the current that is added to "
            "the membrane currents as stimulus='component.variable'."
        )


def from_cellml(
    path: str | Path,
    voltage: str | None = None,
    stimulus: str | None = None,
    *,
    activation_threshold: float = -40.0,
) -> CellMLModel:
    """Import a CellML 1.0, 1.1 or 2.0 file as an msim cell model.

    Myokit parses and checks the file; its equations become JAX operations (no code text is
    generated). The result is a [`CellMLModel`][msim.cells.CellMLModel]: jit-able,
    differentiable and vmappable like a hand-written model, with the CellML constants as
    parameters (``model.parameters``, ``model.replace(**{name: value})``).

    Args:
        path: the CellML file.
        voltage: the membrane voltage as ``"component.variable"``; by default the variable
            annotated ``oxmeta:membrane_voltage``, else the only state with voltage units.
        stimulus: the stimulus current as ``"component.variable"``; by default the variable
            annotated ``oxmeta:membrane_stimulus_current``, else a single variable named like
            ``i_stim``/``Istim``. Its protocol is removed and msim's ``i_stim`` (mV/ms, positive
            depolarises) drives it; see `CellMLModel` for the mapping.
        activation_threshold: voltage for activation times, in mV (default -40).

    Raises:
        CellMLImportError: the file does not parse, declares XML entities or names an
            external DTD (refused before Myokit reads it: see below), has no identifiable
            voltage, uses a construct msim cannot translate, or has units that do not convert
            to ms and mV; the message names the file, the variable and what to do.

    The XML is read with entity resolution, DTD loading and network access off; a file whose
    DOCTYPE declares entities (external ones read local files or URLs, nested internal ones
    expand to gigabytes) or names an external DTD is refused. CellML files need neither.

    Example: ``cell = msim.cells.from_cellml("luo_rudy_1991.cellml")``, then
    ``msim.Monodomain(cell, grid, 0.1)``.
    """
    import myokit
    import myokit.formats.cellml

    path = Path(path)
    if not path.is_file():
        raise CellMLImportError(f"{path}: no such file.")
    root = _read_xml(path).getroot()  # first: refuses what Myokit's parser should not see
    try:
        model = myokit.formats.cellml.CellMLImporter().model(str(path))
    except (myokit.MyokitError, OSError) as e:
        raise CellMLImportError(
            f"{path}: Myokit cannot read this CellML file ({e}). Check that it is a valid "
            "CellML 1.0, 1.1 or 2.0 document (imports of other files are not supported)."
        ) from None
    found = _oxmeta(root)
    annotations: dict[str, str] = {}
    for (component, variable), annotation in found.items():
        try:
            annotations[model.get(f"{component}.{variable}").qname()] = annotation
        except KeyError:
            continue
    name = re.sub(r"\W", "_", path.stem)
    return from_myokit(
        model,
        voltage,
        stimulus,
        activation_threshold=activation_threshold,
        name=name,
        source=str(path),
        annotations=annotations,
    )
