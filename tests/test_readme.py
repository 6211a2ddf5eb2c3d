"""The README's measured numbers are the benchmarks' (no hand-typed claims)."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location(
        "readme_tables", ROOT / "scripts" / "readme_tables.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_calibration_table_matches_the_benchmark_json():
    script = _script()
    results = json.loads((ROOT / "benchmarks/results/calibration.json").read_text())
    readme = (ROOT / "README.md").read_text()
    for row in script.table(results):
        assert row in readme, f"README row differs from calibration.json: {row}"


def test_the_readme_says_where_its_numbers_come_from():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Measured results", 1)[1].split("\n## ", 1)[0]
    for source in ("calibration.json", "benchmarks/calibration.py"):
        assert source in section


def test_cost_table_and_claims_match_the_benchmark_json():
    script = _script()
    results = json.loads((ROOT / "benchmarks/results/bench_core.json").read_text())
    readme = " ".join((ROOT / "README.md").read_text().split())
    for row in script.cost_table(results) + script.cost_lines(results):
        assert " ".join(row.split()) in readme, f"README differs from JSON: {row}"
