"""Forbid `Model.objects` in views, API modules, consumers and tasks.

Reads go through tenant-scoped selectors (`selectors.py`), writes through services; a direct
query in those layers is how one tenant ends up seeing another's rows.
"""

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("views.py", "api.py", "consumers.py", "tasks.py")
SKIP = {".venv", ".git", "node_modules", ".testenv", "var", "agent", "lab", "tests"}


def model_names() -> set[str]:
    names = set()
    for models in ROOT.glob("*/models.py"):
        for node in ast.walk(ast.parse(models.read_text())):
            if isinstance(node, ast.ClassDef):
                names.add(node.name)
    return names


def layer_files():
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in SKIP:
            continue
        if path.name in LAYERS or (
            len(rel.parts) > 2 and rel.parts[1] in ("api", "views", "consumers")
        ):
            yield path


def main() -> int:
    pattern = re.compile(r"\b(" + "|".join(sorted(model_names())) + r")\.objects\b")
    problems = []
    for path in layer_files():
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                problems.append(f"{path.relative_to(ROOT)}:{lineno}: {line.strip()}")
    for problem in problems:
        print(
            f"{problem}\n    use a selector (reads) or a service (writes) instead", file=sys.stderr
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
