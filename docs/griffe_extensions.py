"""Griffe extensions for msim's API reference (mkdocs.yml loads them for mkdocstrings).

Griffe reads msim's source without importing it. Three of msim's conventions need telling:

- `RedundantAliasesArePublic`: a name re-exported as ``from ._x import Name as Name`` is
  public (STYLE.md rule 6; PEP 484's re-export form). Griffe treats imported names as private,
  so without this every API page would be empty.
- `EquinoxInit`: an `equinox.Module` without an ``__init__`` of its own is a dataclass whose
  constructor takes its fields. Griffe synthesises ``__init__`` only for ``@dataclass``, so the
  reference would show no constructor signature, and the ``Args:`` of a model's docstring (its
  fields) would be "not in the signature".
- `GroupedArgs`: msim documents parameters that share a meaning together, ``lo, hi: the
  bounds``. Google style has one name per entry; each name gets the entry here, so a
  documented name that is not a parameter is still reported.
"""

import ast
import re
from typing import Any

import griffe

_MODULE_BASES = {"equinox.Module", "equinox._module.Module"}
_FIELD_CALLS = {"equinox.field", "equinox._module.field", "dataclasses.field"}
_ABSTRACT_VARS = {"equinox.AbstractVar", "equinox.AbstractClassVar"}


class RedundantAliasesArePublic(griffe.Extension):
    """Marks ``from module import name as name`` aliases public."""

    def on_alias_instance(
        self, *, node: ast.AST | griffe.ObjectNode, alias: griffe.Alias, agent: Any, **kwargs: Any
    ) -> None:
        if isinstance(node, ast.ImportFrom) and any(
            name.name == name.asname == alias.name for name in node.names
        ):
            alias.public = True


def _base_paths(cls: griffe.Class) -> list[str]:
    return [b.canonical_path if isinstance(b, griffe.Expr) else str(b) for b in cls.bases]


def _is_equinox_module(cls: griffe.Class) -> bool:
    if _MODULE_BASES & set(_base_paths(cls)):
        return True
    try:
        return any(_is_equinox_module(parent) for parent in cls.mro())
    except ValueError:  # an unresolvable base: not one of msim's modules
        return False


def _keywords(value: Any) -> dict[str, Any] | None:
    """The keyword arguments of an ``eqx.field(...)`` value, or None for a plain default."""
    if isinstance(value, griffe.ExprCall) and value.function.canonical_path in _FIELD_CALLS:
        return {a.name: a.value for a in value.arguments if isinstance(a, griffe.ExprKeyword)}
    return None


def _fields(cls: griffe.Class) -> list[griffe.Parameter]:
    """The dataclass fields `cls` declares itself, as constructor parameters."""
    parameters = []
    for member in cls.members.values():
        if member.is_alias or not member.is_attribute or member.annotation is None:
            continue
        if "property" in member.labels:
            continue
        if "class-attribute" in member.labels and "instance-attribute" not in member.labels:
            continue  # a ClassVar
        annotation = member.annotation
        if isinstance(annotation, griffe.ExprSubscript) and (
            annotation.canonical_path in _ABSTRACT_VARS
        ):
            continue
        if isinstance(annotation, griffe.Expr) and annotation.canonical_path in _ABSTRACT_VARS:
            continue
        keywords = _keywords(member.value)
        if keywords is not None and str(keywords.get("init", "True")) == "False":
            continue
        if keywords is None:
            default = member.value
        elif "default_factory" in keywords:
            default = griffe.ExprCall(function=keywords["default_factory"], arguments=[])
        else:
            default = keywords.get("default")
        parameters.append(
            griffe.Parameter(
                member.name,
                annotation=annotation,
                kind=griffe.ParameterKind.positional_or_keyword,
                default=default,
                docstring=member.docstring,
            )
        )
    return parameters


def _own_init(cls: griffe.Class) -> bool:
    init = cls.members.get("__init__")
    return init is not None and not getattr(init, "_msim_synthesised", False)


class EquinoxInit(griffe.Extension):
    """Gives each `equinox.Module` without its own ``__init__`` the dataclass constructor."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self._visit(pkg, set())

    def _visit(self, obj: griffe.Module | griffe.Class, seen: set[str]) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        for member in list(obj.members.values()):
            if not member.is_alias and (member.is_module or member.is_class):
                self._visit(member, seen)  # type: ignore[arg-type]
        if isinstance(obj, griffe.Class) and _is_equinox_module(obj) and not _own_init(obj):
            self._synthesise(obj)

    def _synthesise(self, cls: griffe.Class) -> None:
        try:
            lineage = [*reversed(cls.mro()), cls]
        except ValueError:
            lineage = [cls]
        if any(_own_init(parent) for parent in lineage[:-1]):
            return  # an inherited custom __init__ is the constructor (equinox's rule)
        parameters: dict[str, griffe.Parameter] = {}
        for parent in lineage:
            for parameter in _fields(parent):
                parameters[parameter.name] = parameter  # an override keeps its place
        init = griffe.Function(
            "__init__",
            lineno=cls.lineno,
            endlineno=cls.lineno,
            parent=cls,
            parameters=griffe.Parameters(
                griffe.Parameter("self", kind=griffe.ParameterKind.positional_or_keyword),
                *parameters.values(),
            ),
            returns="None",
        )
        init._msim_synthesised = True  # type: ignore[attr-defined]
        cls.set_member("__init__", init)


_SECTION = re.compile(r"^(\s*)(Args|Arguments|Parameters|Other Parameters|Attributes):\s*$")
_GROUPED = re.compile(r"^(\s+)(\*{0,2}\w+(?:,\s*\*{0,2}\w+)+)(\s*(?:\([^)]*\))?:\s.*)$")


def _split_grouped(text: str) -> str:
    lines = text.splitlines()
    out: list[str] = []
    section_indent: int | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        section = _SECTION.match(line)
        if section:
            section_indent = len(section.group(1))
            out.append(line)
            i += 1
            continue
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if section_indent is not None and stripped and indent <= section_indent:
            section_indent = None
        grouped = _GROUPED.match(line) if section_indent is not None else None
        if grouped is None:
            out.append(line)
            i += 1
            continue
        entry_indent = len(grouped.group(1))
        body = [grouped.group(3)]
        i += 1
        while i < len(lines) and (
            not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > entry_indent
        ):
            body.append(lines[i])
            i += 1
        trailing = []
        while len(body) > 1 and not body[-1].strip():
            trailing.append(body.pop())
        for name in re.split(r",\s*", grouped.group(2)):
            out.append(grouped.group(1) + name + body[0])
            out.extend(body[1:])
        out.extend(trailing)
    return "\n".join(out)


class GroupedArgs(griffe.Extension):
    """Splits ``a, b: meaning`` entries of Args sections into one entry per name."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and "," in obj.docstring.value:
            obj.docstring.value = _split_grouped(obj.docstring.value)
