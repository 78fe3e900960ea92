"""CI's own rules: a skip fails a CI run unless allow-listed; modules stay under 400 lines;
imports run one way through the layers and never reach the test lab."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"

SUITE = """
import pytest

def test_passes():
    pass

def test_needs_a_lab():
    pytest.skip("the lab is missing its dockerd")
"""


def run_suite(tmp_path: Path, *, ci: bool, allowlist: str = "") -> subprocess.CompletedProcess:
    (tmp_path / "test_sample.py").write_text(SUITE)
    (tmp_path / "allow.txt").write_text(allowlist)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DC_CI", "PYTEST_"))}
    env.update(PYTHONPATH=str(SCRIPTS), DC_SKIP_ALLOWLIST=str(tmp_path / "allow.txt"))
    if ci:
        env["DC_CI"] = "1"
    argv = [sys.executable, "-m", "pytest", "-p", "pytest_noskip", "-p", "no:cacheprovider"]
    return subprocess.run(
        [*argv, "-p", "no:django", "-q", "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.smoke
def test_under_ci_a_skipped_test_fails_the_run_and_is_named(tmp_path):
    proc = run_suite(tmp_path, ci=True)
    assert proc.returncode == 1, proc.stdout
    assert "test_needs_a_lab: the lab is missing its dockerd" in proc.stdout


def test_under_ci_an_allow_listed_reason_passes(tmp_path):
    proc = run_suite(tmp_path, ci=True, allowlist="# why: ...\nmissing its dockerd\n")
    assert proc.returncode == 0, proc.stdout


def test_outside_ci_a_skip_is_only_reported(tmp_path):
    proc = run_suite(tmp_path, ci=False)
    assert proc.returncode == 0, proc.stdout
    assert "1 passed, 1 skipped" in proc.stdout


def run_size_lint(root: Path) -> subprocess.CompletedProcess:
    script = SCRIPTS / "lint_module_size.py"
    return subprocess.run(
        [sys.executable, str(script), str(root)], capture_output=True, text=True, timeout=60
    )


def test_module_size_lint_names_each_module_past_400_lines(tmp_path):
    for rel, lines in {
        "app/big.py": 401,
        "app/views/at_limit.py": 400,
        "app/migrations/0001_initial.py": 900,  # generated
        "app/tests/test_views.py": 900,
        "tests/conftest.py": 900,
        "app/test_helpers.py": 900,
    }.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x = 1\n" * lines)
    proc = run_size_lint(tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[0] == "app/big.py: 401 lines (limit 400)"
    assert "at_limit" not in proc.stderr and "test_" not in proc.stderr
    assert "migrations" not in proc.stderr and "conftest" not in proc.stderr
    (tmp_path / "app/big.py").write_text("x = 1\n" * 400)
    assert run_size_lint(tmp_path).returncode == 0


def _contract_tree(tmp_path: Path, imports: dict[str, str]) -> Path:
    """The apps as empty packages (plus `imports`: module -> its source) under the project's
    own import contracts, for `lint-imports` to judge."""
    root = Path(__file__).resolve().parent.parent
    config = root / "pyproject.toml"
    section = config.read_text().split("[tool.importlinter]", 1)[1]
    (tmp_path / "pyproject.toml").write_text("[tool.importlinter]" + section)
    packages = tomllib.loads(config.read_text())["tool"]["importlinter"]["root_packages"]
    assert "nodes" in packages and "lab" in packages
    for package in packages:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    for module, source in imports.items():
        (tmp_path / f"{module.replace('.', '/')}.py").write_text(source)
    return tmp_path


def _lint_imports(tree: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "lint-imports"
    return subprocess.run(
        [str(exe), "--no-cache"],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "module, source",
    [
        ("accounts.x", "import nodes\n"),  # a lower layer importing a higher one
        ("nodes.x", "from agentapi import y\n"),
        ("core.x", "import realtime\n"),
        ("providers.x", "import lab\n"),  # production code importing the test lab
    ],
)
def test_the_import_contracts_refuse_an_upward_import(tmp_path, module, source):
    tree = _contract_tree(tmp_path, {"agentapi.y": "", module: source})
    proc = _lint_imports(tree)
    assert proc.returncode == 1, proc.stdout
    assert "BROKEN" in proc.stdout


def test_the_import_contracts_allow_downward_imports(tmp_path):
    tree = _contract_tree(
        tmp_path,
        {"agentapi.x": "import nodes\n", "nodes.x": "import realtime, accounts\n"},
    )
    proc = _lint_imports(tree)
    assert proc.returncode == 0, proc.stdout
