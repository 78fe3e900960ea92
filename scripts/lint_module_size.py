"""Fail when a Python module passes 400 lines (tests and migrations aside).

A module that grows past that becomes a package with the same import path (STYLE.md, layers):
the projects we follow regret their 3,000-line `views.py`. Lines are counted as `wc -l` does.

    python scripts/lint_module_size.py [ROOT]      # ROOT defaults to the repository
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 400
SKIP_DIRS = {
    ".venv", ".git", "node_modules", ".testenv", "var", "__pycache__", ".mypy_cache",
    ".ruff_cache", "migrations", "tests",
}  # fmt: skip


def is_test(path: Path) -> bool:
    return path.name == "conftest.py" or path.name.startswith("test_")


def modules(root: Path):
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if SKIP_DIRS.intersection(rel.parts[:-1]) or is_test(path):
            continue
        yield path


def offenders(root: Path) -> list[tuple[Path, int]]:
    found = []
    for path in modules(root):
        lines = path.read_bytes().count(b"\n")
        if lines > LIMIT:
            found.append((path.relative_to(root), lines))
    return found


def main(argv: list[str]) -> int:
    root = Path(argv[1]).resolve() if len(argv) > 1 else ROOT
    found = offenders(root)
    for rel, lines in found:
        print(f"{rel}: {lines} lines (limit {LIMIT})", file=sys.stderr)
    if found:
        print(
            "    split each into a package with the same import path (see STYLE.md)",
            file=sys.stderr,
        )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
