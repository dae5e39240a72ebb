"""Policy and hygiene checks for notebooks: the rule model, the registry and the built-in rules.

Writing a rule (built-in or third-party) takes a function and a :class:`Rule`::

    from nbgov.core.checks import Rule

    def _no_print(ctx):                       # ctx: NotebookContext
        for index, _cell in ctx.code_cells():
            for lineno, line in enumerate(ctx.source(index).split("\\n"), 1):
                if line.startswith("print("):
                    yield index, lineno, "print() call; use logging"   # (cell, line, message)

    RULES = [Rule("ACME001", "no-print", "print() in a notebook", "use logging", _no_print)]

and, in the plug-in's pyproject.toml, ``[project.entry-points."nbgov.checks"] acme = "acme:RULES"``.
"""

from nbgov.core.checks.model import (
    NOTEBOOK,
    PROJECT,
    Finding,
    NotebookContext,
    Project,
    Rule,
    SpecInfo,
)
from nbgov.core.checks.registry import ENTRY_POINT_GROUP, RuleRegistry, load_registry
from nbgov.core.checks.settings import CheckSettings, parse_settings

__all__ = [
    "ENTRY_POINT_GROUP",
    "NOTEBOOK",
    "PROJECT",
    "CheckSettings",
    "Finding",
    "NotebookContext",
    "Project",
    "Rule",
    "RuleRegistry",
    "SpecInfo",
    "load_registry",
    "parse_settings",
]
