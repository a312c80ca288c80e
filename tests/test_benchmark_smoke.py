"""benchmarks/compare.py runs end to end on a tiny sample and reports sqlguard numbers.

squawk and sqlfluff are optional: when one is missing the script reports it as "not available".
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "compare.py"


def test_compare_smoke() -> None:
    p = subprocess.run([sys.executable, str(SCRIPT), "--sample", "5", "--generate", "10", "--sqlfluff-sample", "10",
                        "--stress-mb", "1", "--curve", "8,30", "--json"],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout)
    assert result["machine"]["cpu_count"]
    assert result["corpora"]["generated"] == 10
    rows = {(r["corpus"], r["tool"]): r for r in result["rows"]}

    for corpus in result["corpora"]:
        if not result["corpora"][corpus]:
            continue
        for tool in ("sqlguard cold", "sqlguard warm"):
            row = rows[(corpus, tool)]
            assert row["seconds"] > 0, row
            assert row["files_per_s"] > 0, row
            assert row["peak_rss_mb"] > 0, row
            assert all(code in (0, 1) for code in row["exit_codes"]), row
        assert rows[(corpus, "sqlguard cold")]["ratio_vs_cold"] == 1.0
        for tool in ("squawk", "sqlfluff"):
            row = rows[(corpus, tool)]
            if row["available"]:
                assert row["seconds"] > 0 and row["files_per_s"] > 0, row
            else:
                assert row["note"] == "not available"

    big, deep = rows[("1 MB file", "sqlguard")], rows[("50,000-deep nesting", "sqlguard")]
    for row in (big, deep):
        assert row["seconds"] > 0 and row["peak_rss_mb"] > 0 and row["exit_codes"] == [0], row
        assert row["note"].startswith("no crash"), row
    assert "under 500 MB" in big["note"]

    for tool in ("sqlguard pre-commit", "sqlguard pre-commit, --no-cache"):
        row = rows[("one changed file", tool)]
        assert row["seconds"] > 0 and row["exit_codes"] in ([0], [1], [0, 1]), row
    for n in (8, 30):  # the one-file run on histories of two sizes
        for suffix in ("", ", --no-cache"):
            row = rows[(f"history of {n}", f"sqlguard pre-commit, {n}-file history{suffix}")]
            assert row["seconds"] > 0 and row["exit_codes"] in ([0], [1], [0, 1]), row
    assert result["precommit_import_profile"][0].startswith("imports of `sqlguard lint")
    assert rows[("-", "sqlguard --version")]["seconds"] > 0
    assert isinstance(result["version_imports"]["imports_sqlglot"], bool)
