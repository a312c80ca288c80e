"""SG40 (interpolated-sql) on the labeled evaluation set in fixtures/python/eval: precision and recall.

The labeling and attribution code is the benchmark's own (benchmarks/python_eval.py), so the test and
the side-by-side table with bandit and ruff count the same way. Only sqlguard runs here, in-process.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from conftest import ROOT

from sqlguard.cli import main

EVAL_DIR = ROOT / "fixtures" / "python" / "eval"
# Written by someone who had not seen the analyzer, and first scored untouched (0.733 precision,
# 0.846 recall); the general gaps it revealed were fixed afterwards, so it is no longer held out.
HELDOUT_DIR = ROOT / "fixtures" / "python" / "heldout"
THRESHOLD = 0.9


def _load_benchmark() -> ModuleType:
    path = ROOT / "benchmarks" / "python_eval.py"
    spec = importlib.util.spec_from_file_location("sqlguard_benchmarks_python_eval", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


bench = _load_benchmark()


@pytest.mark.parametrize("folder", [EVAL_DIR, HELDOUT_DIR], ids=["eval", "heldout"])
def test_labels_follow_the_convention(folder: Path) -> None:
    assert bench.check_labels(folder) == []
    labels = bench.collect_labels(folder)
    vuln, safe = labels.keys("vuln"), labels.keys("safe")
    assert len(vuln) >= 25 and len(safe) >= 25, f"{len(vuln)} vuln, {len(safe)} safe"
    assert all(h.callers for h in labels.helpers)


@pytest.mark.parametrize("folder", [EVAL_DIR, HELDOUT_DIR], ids=["eval", "heldout"])
def test_sg40_precision_and_recall(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["lint", "--select", "SG40", "--format", "json", "--no-color", "--exit-zero", str(folder)])
    out = capsys.readouterr().out
    assert code == 0
    labels = bench.collect_labels(folder)
    findings = bench.parse_findings("sqlguard", out, folder, Path.cwd())
    score = bench.score(labels, bench.attribute(labels, findings), "sqlguard")
    assert score.precision >= THRESHOLD and score.recall >= THRESHOLD, score.confusion()


def test_attribution_rules(tmp_path: Path) -> None:
    """Innermost function wins; a helper's finding counts for every labeled caller; elsewhere is ignored."""
    (tmp_path / "m.py").write_text(
        'TEMPLATE = "SELECT * FROM t WHERE a = \'{}\'"\n'  # 1: module level, ignored
        "def _build_where(v):\n"  # 2
        "    return f\"a = '{v}'\"\n"  # 3
        "def _q_order(v):\n"  # 4
        "    return _build_where(v) + ' ORDER BY a'\n"  # 5
        "class Repo:\n"  # 6
        "    def vuln_one(self, cur, v):\n"  # 7
        "        cur.execute('SELECT * FROM t WHERE ' + _q_order(v))\n"  # 8
        "def vuln_two(cur, v):\n"  # 9
        "    cur.execute('SELECT * FROM t WHERE ' + _build_where(v))\n"  # 10
        "def safe_three(cur):\n"  # 11
        "    cur.execute('SELECT 1')\n",  # 12
        encoding="utf-8",
    )
    labels = bench.collect_labels(tmp_path)
    assert bench.check_labels(tmp_path) == []
    assert bench.attribute(labels, [("m.py", 1)]) == set()
    assert bench.attribute(labels, [("m.py", 3)]) == {"m.py::Repo.vuln_one", "m.py::vuln_two"}
    assert bench.attribute(labels, [("m.py", 5)]) == {"m.py::Repo.vuln_one"}
    assert bench.attribute(labels, [("m.py", 12), ("other.py", 12)]) == {"m.py::safe_three"}
    score = bench.score(labels, bench.attribute(labels, [("m.py", 3), ("m.py", 12)]), "t")
    assert (score.tp, score.fp, score.fn, score.tn) == (2, 1, 0, 0)
