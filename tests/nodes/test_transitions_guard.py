"""Only `nodes/transitions/` writes the state of a node, node cluster or action.

Every other module goes through its transition functions, which check the state being left
with a conditional update and record the audit row and the event. The scan reads the source
(AST) of every production module: everything but tests, migrations, benchmarks (their fixture
data) and the virtualenv. No other model has a `state` column, so any write of one is suspect.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = ROOT / "nodes" / "transitions"
SKIP = {".venv", ".git", "node_modules", ".testenv", "var", "tests", "migrations", "bench"}
CREATORS = {"create", "get_or_create", "update_or_create"}
MODELS = {"Node", "NodeCluster", "Action"}


def production_modules():
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if SKIP.intersection(parts) or path.is_relative_to(ALLOWED):
            continue
        yield path


def _is_state(node) -> bool:
    return isinstance(node, ast.Constant) and node.value == "state"


def _names_state(node) -> bool:
    """A literal list, tuple or set naming the field `state`."""
    return isinstance(node, ast.List | ast.Tuple | ast.Set) and any(map(_is_state, node.elts))


def _dict_with_state(node) -> bool:
    return isinstance(node, ast.Dict) and any(k is not None and _is_state(k) for k in node.keys)


class StateWrites(ast.NodeVisitor):
    """Finds `x.state = ...`, `setattr(x, "state", ...)`, `.update(state=...)`,
    `.update(**{"state": ...})` (or of a name assigned such a dict, or given `["state"]`),
    `create(state=...)`, `Node(state=...)`, `.save(update_fields=[..."state"...])`,
    `bulk_update(objs, ["state"])`."""

    def __init__(self):
        self.found: list[tuple[int, str]] = []
        self.state_dicts: list[set[str]] = [set()]  # names holding a dict with "state", per scope

    def _flag(self, node, what: str) -> None:
        self.found.append((node.lineno, what))

    def _scoped(self, node):
        self.state_dicts.append(set())
        self.generic_visit(node)
        self.state_dicts.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = _scoped

    def _assigned(self, target, value) -> None:
        if isinstance(target, ast.Attribute) and target.attr == "state":
            self._flag(target, "assigns .state")
        if isinstance(target, ast.Name) and _dict_with_state(value):
            self.state_dicts[-1].add(target.id)
        if isinstance(target, ast.Subscript) and _is_state(target.slice):
            if isinstance(target.value, ast.Name):
                self.state_dicts[-1].add(target.value.id)

    def visit_Assign(self, node):
        for target in node.targets:
            self._assigned(target, node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self._assigned(node.target, node.value)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._assigned(node.target, node.value)
        self.generic_visit(node)

    def _holds_state(self, value) -> bool:
        if _dict_with_state(value):
            return True
        return isinstance(value, ast.Name) and any(value.id in s for s in self.state_dicts)

    def visit_Call(self, node):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        keywords = {k.arg: k.value for k in node.keywords}
        spread = [k.value for k in node.keywords if k.arg is None]
        if name == "setattr" and len(node.args) > 1 and _is_state(node.args[1]):
            self._flag(node, "setattr(..., 'state', ...)")
        if name in {"update", *CREATORS} or name in MODELS:
            if "state" in keywords:
                self._flag(node, f"{name}(state=...)")
            if any(self._holds_state(v) for v in spread):
                self._flag(node, f"{name}(**{{'state': ...}})")
            if name in CREATORS and _dict_with_state(keywords.get("defaults")):
                self._flag(node, f"{name}(defaults={{'state': ...}})")
        if name == "save" and _names_state(keywords.get("update_fields")):
            self._flag(node, "save(update_fields=[..., 'state'])")
        if name == "bulk_update" and any(_names_state(a) for a in node.args[1:]):
            self._flag(node, "bulk_update(..., ['state'])")
        self.generic_visit(node)


def state_writes(source: str) -> list[tuple[int, str]]:
    visitor = StateWrites()
    visitor.visit(ast.parse(source))
    return visitor.found


def test_no_module_outside_the_transitions_writes_a_state():
    found = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in production_modules()
        for line, what in state_writes(path.read_text())
    ]
    assert not found, "write states through nodes.transitions:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        "node.state = 'Deployed'",
        "self.cluster.state: str = x",
        "setattr(node, 'state', 'Deployed')",
        "Node.objects.filter(pk=1).update(state='Deployed')",
        "Node.objects.filter(pk=1).update(**{'state': 'Deployed', 'error': ''})",
        "def f():\n    fields = {'state': 'x'}\n    Node.objects.filter(pk=1).update(**fields)",
        "def f():\n    fields = {}\n    fields['state'] = 'x'\n    Action.objects.update(**fields)",
        "Action.objects.create(organization=org, state='Pending')",
        "NodeCluster.objects.get_or_create(name='x', defaults={'state': 'Init'})",
        "Node(organization=org, state='Deployed').save()",
        "node.save(update_fields=['tags', 'state'])",
        "Node.objects.bulk_update(nodes, ('state',))",
    ],
)
def test_the_scan_sees_each_way_of_writing_a_state(source):
    assert state_writes(source), source


@pytest.mark.parametrize(
    "source",
    [
        "Node.objects.filter(state='Deployed').update(tags=[])",
        "state = node.state",
        "node.save(update_fields=['tags'])",
        "Action.objects.create(organization=org, action='Node Update')",
        "body = {'state': node.state}",
    ],
)
def test_the_scan_lets_reads_and_other_fields_be(source):
    assert not state_writes(source), source
