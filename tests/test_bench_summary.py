"""`make bench`'s closing table (bench/summary.py) reads bench/results/latest.json as
bench/results.py writes it: each figure beside its own ceiling, the ratio and the target."""

import importlib.util
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load(name: str):
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_summary_pairs_figures_with_their_ceilings_and_marks_earlier_phases(
    tmp_path, monkeypatch, capsys
):
    results = _load("results")
    summary = _load("summary")
    path = tmp_path / "latest.json"
    monkeypatch.setattr(results, "RESULTS", path)
    results.record("fleet_api", {"node_list_p95_ms": 30.0}, {"raw_sql_p95_ms": 10.0})
    results.record(
        "deploys",
        {"byoh_seconds": 8.0, "cluster5_seconds": None},
        {"byoh_dockerd_seconds": 2.0, "cluster5_hosts_dockerd_seconds": 5.0},
    )
    data = json.loads(path.read_text())
    data["phases"]["fleet_api"]["at"] = "2020-01-01T00:00:00Z"  # an earlier run's figures
    path.write_text(json.dumps(data))

    assert summary.main(["--file", str(path), "--since", "2021-01-01T00:00:00Z"]) == 0
    lines = capsys.readouterr().out.splitlines()
    fleet = next(line.split() for line in lines if "node_list_p95_ms" in line)
    assert fleet == [
        "fleet_api", "(earlier", "run)", "node_list_p95_ms", "30", "raw_sql_p95_ms", "10", "x3.0",
        "<=", "15", "MISSED",
    ]  # fmt: skip
    byoh = next(line.split() for line in lines if "byoh_seconds" in line)
    assert byoh[:6] == ["deploys", "byoh_seconds", "8", "byoh_dockerd_seconds", "2", "x4.0"]
    cluster = next(line.split() for line in lines if "cluster5_seconds" in line)
    assert cluster[1:5] == ["cluster5_seconds", "-", "cluster5_hosts_dockerd_seconds", "5"]
    assert cluster[5] == "x?"  # not measured: no ratio claimed


def test_summary_of_a_missing_file_says_so(tmp_path, capsys):
    summary = _load("summary")
    assert summary.main(["--file", str(tmp_path / "none.json")]) == 0
    assert "no figures" in capsys.readouterr().out
