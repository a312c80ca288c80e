"""The rule catalog: one database schema's truths, stated in YAML.

    version: 1
    name: tribevibe
    tables:
      users:
        description: The one user table.
        columns: {id: uuid, email: text}     # or a list of names; columns are optional
      matches: {}
    forbidden:
      profiles: {use: users, reason: There is no profiles table.}

Validation walks the YAML node tree so that every mistake names the file, line and key.
`rules/catalog.schema.json` states the same format for editors.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlguard.diagnostic import SqlguardError

if TYPE_CHECKING:
    import yaml  # imported when a catalog is read: a run without one never pays for it


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: str | None = None
    nullable: bool | None = None
    references: str | None = None


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[ColumnSpec, ...] = ()
    description: str | None = None


@dataclass(frozen=True)
class ForbiddenName:
    name: str
    use: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Catalog:
    name: str
    path: str
    tables: dict[str, TableSpec]
    forbidden: dict[str, ForbiddenName]

    def lookup_forbidden(self, name: str, schema: str | None = None) -> ForbiddenName | None:
        """The forbidden entry for a table name (matched without regard to case or quoting)."""
        low = name.lower()
        if schema:
            hit = self.forbidden.get(f"{schema.lower()}.{low}")
            if hit is not None:
                return hit
        return self.forbidden.get(low)

    def suggest(self, name: str) -> str | None:
        close = difflib.get_close_matches(name.lower(), list(self.tables), n=1, cutoff=0.6)
        return close[0] if close else None


_TOP = {"version", "name", "description", "tables", "forbidden"}
_TABLE = {"description", "columns"}
_COLUMN = {"type", "nullable", "references", "description", "default"}
_FORBIDDEN = {"use", "reason"}


def load_catalog(path: Path) -> Catalog:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SqlguardError("catalog file not found", str(path)) from None
    except OSError as err:
        raise SqlguardError(f"cannot read catalog: {err.strerror}", str(path)) from None
    except UnicodeDecodeError:
        raise SqlguardError("catalog is not valid UTF-8", str(path)) from None
    return parse_catalog(text, str(path))


def parse_catalog(text: str, path: str) -> Catalog:
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise SqlguardError(f"invalid YAML: {exc.problem or exc.context}", path,
                            mark.line + 1 if mark else None, mark.column + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise SqlguardError(f"invalid YAML: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                            path) from None
    except RecursionError:
        raise SqlguardError("invalid YAML: nested too deeply", path) from None

    def err(node: yaml.Node, message: str) -> SqlguardError:
        return SqlguardError(message, path, node.start_mark.line + 1, node.start_mark.column + 1)

    def mapping(node: yaml.Node, what: str, allowed: set[str]) -> list[tuple[str, yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise err(node, f"{what} must be a mapping")
        out: list[tuple[str, yaml.Node, yaml.Node]] = []
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                raise err(k, f"{what}: keys must be plain names")
            key = str(k.value)
            if allowed and key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=1)
                hint = f": did you mean `{close[0]}`?" if close else f" (allowed: {', '.join(sorted(allowed))})"
                raise err(k, f"{what}: unknown key `{key}`{hint}")
            out.append((key, k, v))
        return out

    def scalar(node: yaml.Node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.value == "":
            raise err(node, f"{what} must be a non-empty string")
        return str(node.value)

    def is_null(node: yaml.Node) -> bool:
        return isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")

    if root is None:
        raise SqlguardError("the catalog is empty: it needs at least `tables` or `forbidden`", path, 1)
    top = mapping(root, "the catalog", _TOP)
    keys = {k for k, _, _ in top}
    if not keys & {"tables", "forbidden"}:
        raise err(root, "the catalog needs `tables` or `forbidden` (or both)")
    name = Path(path).stem
    tables: dict[str, TableSpec] = {}
    forbidden: dict[str, ForbiddenName] = {}
    forbidden_nodes: dict[str, yaml.Node] = {}
    for key, _knode, vnode in top:
        if key == "version":
            if not (isinstance(vnode, yaml.ScalarNode) and vnode.value == "1"):
                raise err(vnode, "`version`: only version 1 of the catalog format exists")
        elif key == "name":
            name = scalar(vnode, "`name`")
        elif key == "description":
            scalar(vnode, "`description`")
        elif key == "tables":
            entries: list[tuple[str, yaml.Node, yaml.Node | None]]
            if isinstance(vnode, yaml.SequenceNode):
                entries = [(scalar(item, "a table name"), item, None) for item in vnode.value]
            else:
                entries = [(k, kn, vn) for k, kn, vn in mapping(vnode, "`tables`", set())]
            for tname, tnode, body in entries:
                low = tname.lower()
                if low in tables:
                    raise err(tnode, f"`tables`: `{tname}` is listed twice")
                columns: list[ColumnSpec] = []
                description = None
                if body is not None and not is_null(body):
                    for tk, _tkn, tv in mapping(body, f"table `{tname}`", _TABLE):
                        if tk == "description":
                            description = scalar(tv, f"`{tname}.description`")
                        else:
                            columns = _columns(tv, tname, err, mapping, scalar, is_null)  # type: ignore[no-untyped-call]
                tables[low] = TableSpec(low, tuple(columns), description)
        elif key == "forbidden":
            fentries: list[tuple[str, yaml.Node, yaml.Node | None]]
            if isinstance(vnode, yaml.SequenceNode):
                fentries = [(scalar(item, "a forbidden name"), item, None) for item in vnode.value]
            else:
                fentries = [(k, kn, vn) for k, kn, vn in mapping(vnode, "`forbidden`", set())]
            for fname, fnode, body in fentries:
                use = reason = None
                if body is not None and not is_null(body):
                    if isinstance(body, yaml.ScalarNode):
                        use = scalar(body, f"`forbidden.{fname}`")
                    else:
                        for fk, _, fv in mapping(body, f"forbidden name `{fname}`", _FORBIDDEN):
                            if fk == "use":
                                use = scalar(fv, f"`forbidden.{fname}.use`")
                            else:
                                reason = scalar(fv, f"`forbidden.{fname}.reason`")
                forbidden[fname.lower()] = ForbiddenName(fname.lower(), use.lower() if use else None, reason)
                forbidden_nodes[fname.lower()] = fnode
    for fname, entry in forbidden.items():
        node = forbidden_nodes[fname]
        if fname in tables:
            raise err(node, f"`{fname}` is both a table and a forbidden name")
        if entry.use and tables and entry.use not in tables:
            raise err(node, f"`forbidden.{fname}.use` names `{entry.use}`, which is not in `tables`")
    return Catalog(name, path, tables, forbidden)


def _columns(node, tname, err, mapping, scalar, is_null):  # type: ignore[no-untyped-def]
    import yaml

    out: list[ColumnSpec] = []
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            out.append(ColumnSpec(scalar(item, f"a column of `{tname}`").lower()))
        return out
    for cname, _, cv in mapping(node, f"`{tname}.columns`", set()):
        if is_null(cv):
            out.append(ColumnSpec(cname.lower()))
        elif isinstance(cv, yaml.ScalarNode):
            out.append(ColumnSpec(cname.lower(), str(cv.value)))
        else:
            spec: dict[str, object] = {}
            for ck, _, cval in mapping(cv, f"column `{tname}.{cname}`", _COLUMN):
                if ck == "nullable":
                    if not (isinstance(cval, yaml.ScalarNode) and cval.tag.endswith(":bool")):
                        raise err(cval, f"`{tname}.{cname}.nullable` must be true or false")
                    spec[ck] = cval.value.lower() == "true"
                else:
                    spec[ck] = scalar(cval, f"`{tname}.{cname}.{ck}`")
            out.append(ColumnSpec(cname.lower(), spec.get("type"), spec.get("nullable"),  # type: ignore[arg-type]
                                  spec.get("references")))  # type: ignore[arg-type]
    return out
