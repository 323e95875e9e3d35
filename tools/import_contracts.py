"""import-linter contract types of our own (registered in .importlinter as ``contract_types``).

``leaves``: each module named imports nothing of the project at module level; what it needs it
imports inside the function that uses it. A Celery tasks module is such a leaf, so its service
imports it at module level and no cycle is hidden by an import placed to break it. grimp's graph
holds function-level imports too, so the contract reads the module's own syntax tree to tell the
two apart.
"""

from __future__ import annotations

import ast
import importlib.util

import grimp
from importlinter import Contract, ContractCheck, fields, output
from importlinter.domain import helpers


def _module_level_import_lines(module: str) -> set[int]:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return set()
    with open(spec.origin, encoding="utf-8") as source:
        tree = ast.parse(source.read(), filename=spec.origin)
    lines: set[int] = set()
    # Module level is the body and any block at top level (if/try), never a def or class.
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
        elif isinstance(node, ast.If | ast.Try | ast.With):
            for name in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, name, []):
                    pending.extend(child.body if isinstance(child, ast.ExceptHandler) else [child])
    return lines


class LeavesContract(Contract):
    """Configuration: ``modules``, the module expressions (wildcards allowed) that must be leaves."""

    type_name = "leaves"

    modules = fields.ListField(subfield=fields.ModuleExpressionField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        roots = {name.split(".")[0] for name in self.session_options["root_packages"]}
        leaves = helpers.module_expressions_to_modules(graph, self.modules, raise_if_unmatched=True)  # type: ignore[arg-type]
        broken = []
        for leaf in sorted(module.name for module in leaves):
            module_level = _module_level_import_lines(leaf)
            for imported in sorted(graph.find_modules_directly_imported_by(leaf)):
                if imported.split(".")[0] not in roots:
                    continue
                lines = [
                    detail["line_number"]
                    for detail in graph.get_import_details(importer=leaf, imported=imported)
                    if detail["line_number"] in module_level
                ]
                if lines:
                    broken.append({"importer": leaf, "imported": imported, "line_numbers": lines})
        return ContractCheck(kept=not broken, metadata={"broken": broken})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for link in check.metadata["broken"]:
            lines = ", ".join(map(str, link["line_numbers"]))
            output.print_error(f"{link['importer']} imports {link['imported']} at module level (l.{lines})")
            output.new_line()
