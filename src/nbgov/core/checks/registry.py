"""Where rules come from: the built-ins first, then the ``nbgov.checks`` entry-point group.

A third-party package registers rules in its own pyproject.toml::

    [project.entry-points."nbgov.checks"]
    acme = "acme_nbrules:RULES"

The entry point may load to a :class:`~nbgov.core.checks.model.Rule`, a list of them, or a
callable returning either. A plug-in that fails to load, returns something else, or reuses an
id already taken is skipped with an :class:`~nbgov.core.errors.NbgovWarning`; the run goes on.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

from nbgov.core.checks.model import Rule
from nbgov.core.errors import ConfigError, NbgovWarning

ENTRY_POINT_GROUP = "nbgov.checks"


class RuleRegistry:
    """An ordered set of rules, looked up by id or name."""

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self._rules: dict[str, Rule] = {}
        self._names: dict[str, str] = {}
        for rule in rules:
            self.add(rule)

    def add(self, rule: Rule) -> None:
        """Register a rule; ValueError when its id or name is taken."""
        if rule.id in self._rules:
            raise ValueError(
                f"rule id {rule.id} is already registered by {self._rules[rule.id].origin}"
            )
        if rule.name in self._names:
            raise ValueError(f"rule name {rule.name!r} is already used by {self._names[rule.name]}")
        self._rules[rule.id] = rule
        self._names[rule.name] = rule.id

    def __iter__(self):
        return iter(self._rules.values())

    def __len__(self) -> int:
        return len(self._rules)

    def get(self, key: str) -> Rule | None:
        """A rule by id or name, None when unknown."""
        return self._rules.get(key) or self._rules.get(self._names.get(key, ""))

    def matching(self, selector: str) -> list[Rule]:
        """Rules a selector names: ``ALL``, an id, a name, or an id prefix such as ``NBG3``."""
        if selector == "ALL":
            return list(self)
        exact = self.get(selector)
        if exact is not None:
            return [exact]
        return [r for r in self if r.id.startswith(selector)] if selector else []

    def resolve(self, selectors: Iterable[str], what: str = "rule") -> set[str]:
        """Ids of the rules the selectors name; ConfigError for a selector that names none."""
        ids: set[str] = set()
        for selector in selectors:
            found = self.matching(selector)
            if not found:
                known = ", ".join(f"{r.id} ({r.name})" for r in self)
                raise ConfigError(
                    f"unknown {what} {selector!r}",
                    hint=f"known rules: {known}; or ALL, or an id prefix",
                )
            ids.update(r.id for r in found)
        return ids

    def select(
        self, select: list[str] | None, extend: Iterable[str] = (), ignore: Iterable[str] = ()
    ) -> list[Rule]:
        """The rules to run: ``select`` (else the default rules) + ``extend`` - ``ignore``."""
        if select is None:
            chosen = {r.id for r in self if r.default}
        else:
            chosen = self.resolve(select)
        chosen |= self.resolve(extend)
        chosen -= self.resolve(ignore)
        return [r for r in self if r.id in chosen]


def _plugin_rules(obj: object) -> list[Rule]:
    if callable(obj) and not isinstance(obj, Rule):
        obj = obj()
    if isinstance(obj, Rule):
        return [obj]
    if isinstance(obj, list | tuple) and all(isinstance(r, Rule) for r in obj):
        return list(obj)
    raise TypeError(f"expected a Rule or a list of Rules, got {type(obj).__name__}")


def load_registry(plugins: bool = True) -> RuleRegistry:
    """The built-in rules, then the plug-ins of the ``nbgov.checks`` entry-point group.

    Args:
        plugins: False to skip the entry-point scan (tests, or ``--no-plugins``).
    """
    from nbgov.core.checks.builtin import BUILTIN_RULES  # (the built-in rules register through this module)

    registry = RuleRegistry(BUILTIN_RULES)
    if not plugins:
        return registry
    # stdlib, but it walks every installed distribution: only done when checks actually run
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        origin = f"{ep.name} = {ep.value}"
        try:
            rules = _plugin_rules(ep.load())
            for rule in rules:
                if rule.origin == "builtin":
                    # record where a plug-in rule came from, for --list-rules and errors
                    object.__setattr__(rule, "origin", f"plugin {origin}")
            staged = RuleRegistry(registry)
            for rule in rules:
                staged.add(rule)
        except Exception as exc:  # a broken plug-in must not stop the checks
            warnings.warn(
                f"check plug-in {origin!r} skipped: {type(exc).__name__}: {exc}",
                NbgovWarning,
                stacklevel=2,
            )
            continue
        registry = staged
    return registry
