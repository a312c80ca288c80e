"""sqlguard vs squawk vs sqlfluff: the same files, this machine, one run.

Two corpora are measured:

* `real`: the PostgreSQL files of `../shared/corpora` (every `.sql` file except the MySQL, SQL Server
  and SQLite ones: fineract-flyway-mysql, redgate-flyway-undo-mssql and the `mysql/` and `sqlite/`
  folders of memos-multidialect, openfga-goose and harness-golang-migrate);
* `generated`: `--generate N` realistic migration files (CREATE TABLE with foreign keys, CREATE INDEX,
  ALTER TABLE ADD COLUMN, DO blocks, comments, some DROPs; varied sizes) written to a temporary folder,
  the same files for the same `--seed`.

Measured, per corpus: sqlguard cold (`--no-cache`), sqlguard warm (a second run over a filled
`.sqlguard_cache/`), squawk on the same files, and sqlfluff on a fixed sample (it is two orders of
magnitude slower; its files/s is extrapolated). Once: `sqlguard lint ONE_FILE` (the pre-commit case,
best of 5) and `sqlguard --version` (best of 5, plus whether it imports sqlglot). Stress: a
`--stress-mb` MB file (a dump: one huge INSERT, then many small statements) and a statement nested
50,000 parentheses deep, for sqlguard and squawk: time, peak RSS (sqlguard's target: under 500 MB),
and whether the tool crashed; a tool still running after `--stress-timeout` seconds is killed and
reported as not finishing.

Each measurement runs in its own helper process, which runs the tool (in chunks of `--chunk` files
when the command line would be too long; the times are summed) and reports the wall time and its own
children's peak RSS (`getrusage(RUSAGE_CHILDREN).ru_maxrss`: the largest single process of the tree,
not the sum of parallel workers).

    .venv/bin/python benchmarks/compare.py                          # full run (10,000 generated files)
    .venv/bin/python benchmarks/compare.py --sample 20 --generate 50  # quick (CI)
    .venv/bin/python benchmarks/compare.py --json                   # machine-readable
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPORA = ROOT.parent / "shared" / "corpora"
BIN = Path(sys.executable).parent

# corpora (or folders inside them) that are not PostgreSQL
NON_PG_CORPORA = frozenset({"fineract-flyway-mysql", "redgate-flyway-undo-mssql"})
NON_PG_DIRS = frozenset({"mysql", "sqlite"})

SQLFLUFF_RULES = "LT01,AL01,ST01,CP01,RF01"

# Runs in its own process so that RUSAGE_CHILDREN covers only this measurement's tool processes.
TIMED_OUT = -999  # the exit code a measurement records for a tool that did not finish in time

HELPER = textwrap.dedent("""
    import json, resource, subprocess, sys, time
    TIMED_OUT = -999
    job = json.load(sys.stdin)
    times, codes, err = [], [], ""
    for _ in range(job["repeat"]):
        total = 0.0
        for chunk in job["chunks"]:
            t0 = time.perf_counter()
            try:
                p = subprocess.run(job["cmd"] + chunk, cwd=job["cwd"], env=job["env"], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=job["timeout"])
            except subprocess.TimeoutExpired:  # killed (and reaped: its peak RSS still counts)
                total += time.perf_counter() - t0
                codes.append(TIMED_OUT)
                continue
            total += time.perf_counter() - t0
            codes.append(p.returncode)
            if p.returncode not in job["ok"]:
                err = p.stderr.decode(errors="replace")[-2000:]
        times.append(total)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    rss_mb = rss / 1048576 if sys.platform == "darwin" else rss / 1024
    json.dump({"times": times, "codes": sorted(set(codes)), "peak_rss_mb": rss_mb, "stderr": err}, sys.stdout)
""")


@dataclass
class Row:
    corpus: str
    tool: str
    files: int
    seconds: float | None = None
    files_per_s: float | None = None
    peak_rss_mb: float | None = None
    ratio_vs_cold: float | None = None  # this row's files/s divided by sqlguard cold's on the same corpus
    command: str = ""
    note: str = ""
    available: bool = True
    exit_codes: list[int] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- corpora

def real_files(corpora: Path, sample: int | None, seed: int) -> list[Path]:
    files: list[Path] = []
    if not corpora.is_dir():
        return files
    for corpus in sorted(p for p in corpora.iterdir() if p.is_dir()):
        if corpus.name in NON_PG_CORPORA:
            continue
        found = sorted(p for p in corpus.rglob("*.sql")
                       if p.is_file() and not NON_PG_DIRS.intersection(p.relative_to(corpus).parts[:-1]))
        if sample is not None and len(found) > sample:
            found = sorted(random.Random(f"{seed}:{corpus.name}").sample(found, sample))
        files.extend(found)
    return files


_WORDS = ("account", "user", "order", "invoice", "payment", "product", "project", "task", "comment", "event",
          "session", "team", "member", "tag", "file", "audit", "webhook", "token", "plan", "subscription",
          "address", "shipment", "review", "message", "channel", "notification", "role", "permission", "job")
_TYPES = ("text", "varchar(255)", "integer", "bigint", "boolean NOT NULL DEFAULT false", "timestamptz",
          "timestamptz NOT NULL DEFAULT now()", "jsonb", "jsonb NOT NULL DEFAULT '{}'::jsonb", "numeric(12, 2)",
          "uuid", "date", "smallint", "text NOT NULL", "inet", "text[]")


def _migration(rng: random.Random, n: int, tables: list[str]) -> str:
    out = [f"-- Migration {n}: {rng.choice(('add', 'create', 'extend', 'rework', 'clean up'))} "
           f"{rng.choice(_WORDS)} {rng.choice(('schema', 'storage', 'indexes', 'constraints', 'columns'))}"]
    if rng.random() < 0.3:
        out.append("-- " + " ".join(rng.choice(_WORDS) for _ in range(rng.randint(5, 14))))
    for _ in range(rng.choices((1, 2, 3, 5, 8, 20), (30, 25, 20, 12, 9, 4))[0]):
        kind = rng.choices(("create", "index", "add", "do", "drop", "update", "fk", "comment"),
                           (22, 20, 24, 6, 5, 8, 8, 7))[0]
        if kind == "create" or not tables:
            name = f"{rng.choice(_WORDS)}_{rng.choice(_WORDS)}s_{n}"
            cols = ["    id bigserial PRIMARY KEY"]
            for i in range(rng.randint(2, 14)):
                cols.append(f"    {rng.choice(_WORDS)}_{i} {rng.choice(_TYPES)}")
            if tables and rng.random() < 0.6:
                ref = rng.choice(tables)
                cols.append(f"    {ref.split('_')[0]}_id bigint NOT NULL REFERENCES {ref} (id) ON DELETE CASCADE")
            cols.append("    created_at timestamptz NOT NULL DEFAULT now()")
            ine = " IF NOT EXISTS" if rng.random() < 0.5 else ""
            out.append(f"CREATE TABLE{ine} {name} (\n" + ",\n".join(cols) + "\n);")
            tables.append(name)
        elif kind == "index":
            t = rng.choice(tables)
            conc = " CONCURRENTLY" if rng.random() < 0.4 else ""
            uniq = "UNIQUE " if rng.random() < 0.2 else ""
            out.append(f"CREATE {uniq}INDEX{conc} IF NOT EXISTS idx_{t}_{rng.randint(0, 999)} ON {t} "
                       f"({rng.choice(_WORDS)}_{rng.randint(0, 5)}{', created_at' if rng.random() < 0.3 else ''});")
        elif kind == "add":
            t = rng.choice(tables)
            out.append(f"ALTER TABLE {t} ADD COLUMN{' IF NOT EXISTS' if rng.random() < 0.5 else ''} "
                       f"{rng.choice(_WORDS)}_x{rng.randint(0, 99)} {rng.choice(_TYPES)};")
        elif kind == "fk":
            t, ref = rng.choice(tables), rng.choice(tables)
            valid = " NOT VALID" if rng.random() < 0.5 else ""
            out.append(f"ALTER TABLE {t} ADD CONSTRAINT fk_{t}_{ref}_{rng.randint(0, 99)} FOREIGN KEY "
                       f"(ref_{rng.randint(0, 9)}_id) REFERENCES {ref} (id){valid};")
        elif kind == "do":
            t = rng.choice(tables)
            out.append(textwrap.dedent(f"""\
                DO $$
                BEGIN
                    IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = '{t}_status') THEN
                        CREATE TYPE {t}_status AS ENUM ('pending', 'active', 'archived');
                    END IF;
                END
                $$;"""))
        elif kind == "drop":
            t = rng.choice(tables)
            out.append(rng.choice((f"DROP INDEX IF EXISTS idx_{t}_{rng.randint(0, 999)};",
                                   f"ALTER TABLE {t} DROP COLUMN IF EXISTS {rng.choice(_WORDS)}_{rng.randint(0, 5)};",
                                   f"DROP TABLE IF EXISTS {t};")))
        elif kind == "update":
            t = rng.choice(tables)
            out.append(f"UPDATE {t} SET {rng.choice(_WORDS)}_0 = NULL WHERE created_at < now() - interval "
                       f"'{rng.randint(1, 365)} days';")
        else:
            t = rng.choice(tables)
            out.append(f"COMMENT ON TABLE {t} IS 'Stores {rng.choice(_WORDS)} records.';")
    return "\n\n".join(out) + "\n"


def generate(folder: Path, n: int, seed: int, per_folder: int = 250) -> list[Path]:
    """`n` migration files in folders of up to `per_folder` (one per service), named `<timestamp>_<name>.sql`."""
    rng = random.Random(seed)
    files: list[Path] = []
    tables: list[str] = []
    for i in range(n):
        if i % per_folder == 0:
            service = folder / f"service_{i // per_folder:03d}" / "migrations"
            service.mkdir(parents=True, exist_ok=True)
            tables = []
        ts = 20200101000000 + i * 137
        path = service / f"{ts}_{rng.choice(_WORDS)}_{rng.choice(_WORDS)}.sql"
        path.write_text(_migration(rng, i, tables), encoding="utf-8")
        files.append(path)
    return files


# ---------------------------------------------------------------------------------------------- running

def find_tool(name: str) -> str | None:
    local = BIN / name
    return str(local) if local.exists() else shutil.which(name)


def measure(cmd: list[str], files: list[Path], cwd: Path, *, chunk: int, repeat: int = 1,
            ok: tuple[int, ...] = (0, 1), env: dict[str, str] | None = None, timeout: float | None = None) -> dict:
    chunks = [[str(f) for f in files[i:i + chunk]] for i in range(0, len(files), chunk)] or [[]]
    job = {"cmd": cmd, "chunks": chunks, "cwd": str(cwd), "repeat": repeat, "ok": list(ok),
           "env": env if env is not None else dict(os.environ), "timeout": timeout}
    p = subprocess.run([sys.executable, "-c", HELPER], input=json.dumps(job), capture_output=True, text=True,
                       check=True)
    return json.loads(p.stdout)


def version_of(cmd: list[str]) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (p.stdout.strip() or p.stderr.strip() or "?").splitlines()[0]
    m = re.search(r"\d+(\.\d+)+\S*", text)
    return m.group(0) if m else text


def shown(cmd: list[str]) -> str:
    return " ".join(shlex.quote(Path(c).name if i == 0 else c) for i, c in enumerate(cmd))


def fill(row: Row, res: dict, files_total: int | None = None, timeout: float | None = None) -> Row:
    row.peak_rss_mb = round(res["peak_rss_mb"], 1)
    row.exit_codes = res["codes"]
    if TIMED_OUT in res["codes"]:
        row.note = f"did not finish within {timeout:.0f} s (killed)"
        return row
    row.seconds = min(res["times"])
    row.files_per_s = row.files / row.seconds if row.seconds > 0 else None
    bad = [c for c in res["codes"] if c not in (0, 1)]
    if bad:
        row.note = (row.note + f"; exit {bad}: {res['stderr'].strip().splitlines()[-1:] or ''}").lstrip("; ")
    return row


def bench_corpus(name: str, files: list[Path], tools: dict[str, str | None], args: argparse.Namespace,
                 no_cache: bool, extra: list[str], work: Path) -> list[Row]:
    rows: list[Row] = []
    sg = tools["sqlguard"]
    assert sg is not None
    base = [sg, "lint", "--format", "json", "--exit-zero", *extra]
    env = dict(os.environ)

    # cold: no cache (or, in a build without one, the only mode there is)
    cold_dir = work / f"{name}-cold"
    cold_dir.mkdir()
    cmd = base + (["--no-cache"] if no_cache else [])
    cold = fill(Row(name, "sqlguard cold", len(files), command=shown(cmd) + " FILES…",
                    note="" if no_cache else "--no-cache not recognised: run without it"),
                measure(cmd, files, cold_dir, chunk=args.chunk, env=env))
    rows.append(cold)

    # warm: fill the cache, then time a second run (a fresh folder, so its cache holds only this corpus)
    warm_dir = work / f"{name}-warm"
    warm_dir.mkdir()
    measure(base, files, warm_dir, chunk=args.chunk, env=env)
    warm = fill(Row(name, "sqlguard warm", len(files), command=shown(base) + " FILES… (2nd run)"),
                measure(base, files, warm_dir, chunk=args.chunk, env=env))
    if not no_cache:
        warm.note = "no cache in this build: same as a second cold run"
    elif not (warm_dir / ".sqlguard_cache").exists():
        warm.note = "no .sqlguard_cache/ in the working folder after the first run"
    rows.append(warm)

    # squawk
    sq = tools["squawk"]
    if sq is None:
        rows.append(Row(name, "squawk", len(files), available=False, note="not available"))
    else:
        cmd = [sq, "--reporter", "json"]
        rows.append(fill(Row(name, "squawk", len(files), command=shown(cmd) + " FILES…"),
                         measure(cmd, files, work, chunk=args.chunk, env=env)))

    # sqlfluff: a fixed sample, extrapolated
    sf = tools["sqlfluff"]
    sample = sorted(random.Random(f"{args.seed}:sqlfluff:{name}").sample(files, min(args.sqlfluff_sample,
                                                                                    len(files))))
    if sf is None:
        rows.append(Row(name, "sqlfluff", len(sample), available=False, note="not available"))
    elif sample:
        cmd = [sf, "lint", "--dialect", "postgres", "--format", "json", "--processes", "1", "--rules",
               SQLFLUFF_RULES]
        r = fill(Row(name, "sqlfluff", len(sample), command=shown(cmd) + " FILES…"),
                 measure(cmd, sample, work, chunk=args.chunk, env=env))
        if r.files_per_s:
            r.note = (f"sample of {len(sample)}/{len(files)}; all {len(files)} ≈ {len(files) / r.files_per_s:.0f}s; "
                      + r.note).rstrip("; ")
        rows.append(r)

    for r in rows:
        if r.files_per_s and cold.files_per_s:
            r.ratio_vs_cold = r.files_per_s / cold.files_per_s
    return rows


def bench_startup(sg: str, one: Path, no_cache: bool, extra: list[str], work: Path) -> tuple[list[Row], dict]:
    """The pre-commit case: the newest migration of a history was just edited. A copy of its folder,
    committed to a new git repository (a hook runs in one, and sqlguard asks git which files are new),
    is linted once (what earlier commits left in `.sqlguard_cache/`), then, five times, the file gets a
    new line and is linted alone: a cache miss for that file, with the rest of the history cached.
    Also the same file with `--no-cache` (no cache at all)."""
    cwd = work / "precommit"
    cwd.mkdir()
    folder = cwd / one.parent.name
    shutil.copytree(one.parent, folder)
    changed = folder / one.name
    in_git = _commit_all(cwd)
    subprocess.run([sg, "lint", "--exit-zero", *extra, str(folder)], cwd=cwd, capture_output=True)
    rows: list[Row] = []
    for label, flags in (("sqlguard pre-commit", []), ("sqlguard pre-commit, --no-cache", ["--no-cache"])):
        if flags and not no_cache:
            continue
        cmd = [sg, "lint", *flags, *extra]
        best = _best_of_edits(cmd, changed, cwd, label)
        history = len([f for f in folder.iterdir() if f.suffix == ".sql"])
        row = fill(Row("one changed file", label, 1, command=f"{shown(cmd)} {one.parent.name}/{one.name}",
                       note=f"best of 5, wall clock incl. interpreter start; the newest of {history} .sql files "
                            f"of its folder{', in a git repository' if in_git else ' (git not found: no repository)'}"),
                   best)
        row.files_per_s = None
        rows.append(row)
    pre = rows
    ver_cmd = [sg, "--version"]
    ver = fill(Row("-", "sqlguard --version", 0, command=shown(ver_cmd), note="best of 5"),
               measure(ver_cmd, [], cwd, chunk=1, repeat=5))
    ver.files_per_s = None
    # which modules `sqlguard --version` imports
    p = subprocess.run([sys.executable, "-X", "importtime", sg, "--version"], capture_output=True, text=True,
                       cwd=cwd)
    mods = [m.group(2).strip() for m in re.finditer(r"^import time:\s*\d+ \|\s*(\d+) \|(.*)$", p.stderr, re.M)]
    top = [int(m.group(1)) for m in re.finditer(r"^import time:\s*\d+ \|\s*(\d+) \| \S", p.stderr, re.M)]
    imports = {"modules": len(mods), "imports_sqlglot": any(m.strip().split(".")[0] == "sqlglot" for m in mods),
               "import_ms": round(sum(top) / 1000, 1)}
    ver.note += f"; imports sqlglot: {'yes' if imports['imports_sqlglot'] else 'no'} " \
                f"({imports['modules']} modules, {imports['import_ms']} ms of imports)"
    return [*pre, ver], imports


def _best_of_edits(cmd: list[str], changed: Path, cwd: Path, label: str) -> dict:
    """Five times: give `changed` a new line, then lint it alone; the fastest of the five."""
    results = []
    for n in range(5):
        with changed.open("a", encoding="utf-8") as out:
            out.write(f"\n-- edited {label} {n}\n")
        results.append(measure(cmd, [changed], cwd, chunk=1))
    return min(results, key=lambda r: min(r["times"]))


def bench_history_curve(sg: str, sizes: list[int], seed: int, no_cache: bool, extra: list[str],
                        work: Path) -> list[Row]:
    """The pre-commit case on generated histories of each size: one folder of N migrations in a git
    repository whose files were checked out an hour ago; the newest migration gets a new line and is
    linted alone, five times (best of 5), with the cache the earlier commits filled, and with
    `--no-cache`. The work of a one-file run should not grow with the history."""
    rows: list[Row] = []
    for n in sizes:
        cwd = work / f"curve-{n}"
        folder = generate(cwd / "gen", n, seed, per_folder=n)[0].parent
        in_git = _commit_all(cwd)
        past = time.time() - 3600
        for f in folder.iterdir():
            os.utime(f, (past, past))
        changed = max(folder.iterdir())
        subprocess.run([sg, "lint", "--exit-zero", *extra, str(folder)], cwd=cwd, capture_output=True)
        for label, flags in ((f"sqlguard pre-commit, {n}-file history", []),
                             (f"sqlguard pre-commit, {n}-file history, --no-cache", ["--no-cache"])):
            if flags and not no_cache:
                continue
            cmd = [sg, "lint", *flags, *extra]
            best = _best_of_edits(cmd, changed, cwd, label)
            row = fill(Row(f"history of {n}", label, 1, command=f"{shown(cmd)} <newest migration>",
                           note="best of 5, wall clock incl. interpreter start"
                                + ("" if in_git else " (git not found: no repository)")), best)
            row.files_per_s = None
            rows.append(row)
    return rows


def import_profile(sg: str, cwd: Path, args: list[str], top: int = 12) -> list[str]:
    """`python -X importtime` of a sqlguard command: the modules that cost most, cumulative."""
    p = subprocess.run([sys.executable, "-X", "importtime", sg, *args], capture_output=True, text=True, cwd=cwd)
    found = [(int(m.group(2)), m.group(3).rstrip()) for m in
             re.finditer(r"^import time:\s*(\d+) \|\s*(\d+) \|(.*)$", p.stderr, re.M)]
    total = sum(us for us, name in found if not name.startswith("  "))
    lines = [f"imports of `sqlguard {' '.join(args)}`: {len(found)} modules, {total / 1000:.0f} ms (cumulative, "
             f"top {top})"]
    for us, name in sorted(found, reverse=True)[:top]:
        lines.append(f"  {us / 1000:7.1f} ms {name}")
    return lines


def _commit_all(folder: Path) -> bool:
    """Make `folder` a git repository with everything in it committed; False when git is missing."""
    git = shutil.which("git")
    if git is None:
        return False
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com", "GIT_CONFIG_NOSYSTEM": "1"}
    (folder / ".gitignore").write_text(".sqlguard_cache/\n", encoding="utf-8")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "history"]):
        subprocess.run([git, *args], cwd=folder, env=env, check=True, capture_output=True)
    return True


def stress_files(work: Path, megabytes: int) -> dict[str, Path]:
    """A `megabytes` MB SQL file (a data dump: one huge INSERT, then many small statements) and a
    statement nested 50,000 parentheses deep (the compiled sqlglot segfaults on such input when the
    recursion limit is simply raised)."""
    folder = work / "stress"
    folder.mkdir()
    big = folder / "big_dump.sql"
    half = megabytes * 1024 * 1024 // 2
    with big.open("w", encoding="utf-8") as out:
        out.write("CREATE TABLE events (id bigint PRIMARY KEY, user_id bigint, kind text, at timestamptz);\n")
        out.write("INSERT INTO events (id, user_id, kind, at) VALUES\n")
        row, written = 0, 0
        while written < half:
            line = f"  ({row}, {row % 977}, 'swipe_{row % 7}', '2024-01-01 00:00:00+00'),\n"
            out.write(line)
            written += len(line)
            row += 1
        out.write(f"  ({row}, 0, 'end', now());\n")
        n = 0
        while written < 2 * half:
            stmt = (f"CREATE TABLE IF NOT EXISTS t_{n} (id bigint PRIMARY KEY, note text);\n"
                    f"INSERT INTO t_{n} (id, note) VALUES ({n}, 'row {n}');\n"
                    f"CREATE INDEX IF NOT EXISTS t_{n}_note_idx ON t_{n} (note);\n")
            out.write(stmt)
            written += len(stmt)
            n += 1
    deep = folder / "deep_nesting.sql"
    deep.write_text("SELECT " + "(" * 50_000 + "1" + ")" * 50_000 + ";\n", encoding="utf-8")
    return {f"{megabytes} MB file": big, "50,000-deep nesting": deep}


def bench_stress(tools: dict[str, str | None], megabytes: int, no_cache: bool, extra: list[str],
                 work: Path, timeout: float) -> list[Row]:
    rows: list[Row] = []
    sg = tools["sqlguard"]
    assert sg is not None
    for what, f in stress_files(work, megabytes).items():
        cmd = [sg, "lint", "--format", "json", "--exit-zero", *(["--no-cache"] if no_cache else []), *extra]
        r = fill(Row(what, "sqlguard", 1, command=f"{shown(cmd)} {f.name}"),
                 measure(cmd, [f], work, chunk=1, timeout=timeout), timeout=timeout)
        r.files_per_s = None
        crashed = [c for c in r.exit_codes if c < 0 and c != TIMED_OUT]
        r.note = ((f"crashed (signal {-crashed[0]})" if crashed else "no crash")
                  + (f"; peak RSS {'under' if (r.peak_rss_mb or 0) < 500 else 'OVER'} 500 MB" if "MB" in what else "")
                  + (f"; {r.note}" if r.note else ""))
        rows.append(r)
        if tools["squawk"]:
            q = fill(Row(what, "squawk", 1, command=f"squawk {f.name}"),
                     measure([tools["squawk"]], [f], work, chunk=1, ok=(0, 1, 2), timeout=timeout), timeout=timeout)
            q.files_per_s = None
            rows.append(q)
    return rows


# ---------------------------------------------------------------------------------------------- output

def fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def table(rows: list[Row]) -> str:
    head = ("corpus", "tool", "files", "seconds", "files/s", "peak RSS MB", "× sqlguard cold", "note")
    body = [(r.corpus, r.tool, str(r.files) if r.files else "-",
             fmt(r.seconds, ".3f") if r.available else "n/a",
             fmt(r.files_per_s, ",.0f") if r.available else "n/a",
             fmt(r.peak_rss_mb, ".0f") if r.available else "n/a",
             fmt(r.ratio_vs_cold, ".2f") if r.available else "n/a", r.note) for r in rows]
    widths = [max(len(x[i]) for x in (head, *body)) for i in range(len(head))]
    right = {2, 3, 4, 5, 6}

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths,
                                                                                              strict=True))).rstrip()
    return "\n".join([line(head), line(tuple("-" * w for w in widths)), *map(line, body)])


def summary(rows: list[Row]) -> list[str]:
    out = []
    for corpus in dict.fromkeys(r.corpus for r in rows if r.tool == "sqlguard cold"):
        by = {r.tool: r for r in rows if r.corpus == corpus}
        cold, warm, sq = by["sqlguard cold"], by.get("sqlguard warm"), by.get("squawk")
        if sq and sq.available and sq.files_per_s and cold.files_per_s:
            r = cold.files_per_s / sq.files_per_s
            out.append(f"{corpus}: sqlguard cold is {r:.2f}× squawk's speed "
                       f"({'faster' if r >= 1 else 'slower'}: {max(r, 1 / r):.1f}×)")
        if warm and warm.files_per_s and sq and sq.available and sq.files_per_s:
            r = warm.files_per_s / sq.files_per_s
            out.append(f"{corpus}: sqlguard warm is {r:.2f}× squawk's speed")
    return out


def precompile() -> str:
    """Byte-compile sqlguard's sources, as `pip install` of a wheel does. An editable install under
    PYTHONDONTWRITEBYTECODE=1 would otherwise compile every module on every start, which is not what a
    user's install does, and would be measured as start-up time. (squawk is a binary; sqlfluff's wheel
    was byte-compiled when pip installed it.)"""
    where = "import pathlib, sqlguard; print(pathlib.Path(sqlguard.__file__).parent)"
    p = subprocess.run([sys.executable, "-c", where], capture_output=True, text=True)
    package = p.stdout.strip()
    if p.returncode != 0 or not package:
        return "not byte-compiled (sqlguard not importable from this interpreter)"
    done = subprocess.run([sys.executable, "-m", "compileall", "-q", package], capture_output=True)
    return "byte-compiled" if done.returncode == 0 else "byte-compiling failed"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpora", type=Path, default=DEFAULT_CORPORA, help="folder of real corpora "
                    "(default: ../shared/corpora)")
    ap.add_argument("--generate", type=int, default=10000, metavar="N", help="generated files (default 10000; "
                    "0: none)")
    ap.add_argument("--sample", type=int, metavar="N", help="at most N files per real corpus")
    ap.add_argument("--sqlfluff-sample", type=int, default=100, metavar="N", help="files sqlfluff lints per "
                    "corpus (default 100)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chunk", type=int, default=2000, help="files per command line (default 2000)")
    ap.add_argument("--sqlguard-args", default="", help="extra `sqlguard lint` arguments, e.g. '--jobs 1'")
    ap.add_argument("--stress-mb", type=int, default=20, metavar="MB", help="size of the large-file memory "
                    "test (default 20; 0: skip the stress files)")
    ap.add_argument("--stress-timeout", type=float, default=180, metavar="S", help="seconds each tool gets per "
                    "stress file before it is killed and reported as not finishing (default 180)")
    ap.add_argument("--curve", default="50,700,5000", help="history sizes of the pre-commit curve "
                    "(default 50,700,5000; empty: skip)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = ap.parse_args(argv)

    tools = {t: find_tool(t) for t in ("sqlguard", "squawk", "sqlfluff")}
    if tools["sqlguard"] is None:
        print("sqlguard not found (install this project into the environment)", file=sys.stderr)
        return 2
    sg = tools["sqlguard"]
    compiled = precompile()
    lint_help = subprocess.run([sg, "lint", "--help"], capture_output=True, text=True).stdout
    no_cache = "--no-cache" in lint_help
    extra = shlex.split(args.sqlguard_args)
    versions = {"sqlguard": version_of([sg, "--version"]),
                "squawk": version_of([tools["squawk"], "--version"]) if tools["squawk"] else "not available",
                "sqlfluff": version_of([tools["sqlfluff"], "--version"]) if tools["sqlfluff"] else "not available"}

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="sqlguard-bench-") as tmp:
        work = Path(tmp)
        corpora = {"real": real_files(args.corpora, args.sample, args.seed)}
        if args.generate > 0:
            corpora["generated"] = generate(work / "generated", args.generate, args.seed)
        for name, files in corpora.items():
            if files:
                rows += bench_corpus(name, files, tools, args, no_cache, extra, work)
        if args.stress_mb > 0:
            rows += bench_stress(tools, args.stress_mb, no_cache, extra, work, args.stress_timeout)
        # the newest migration of the largest migration history among the real files (a folder whose
        # files are named by version, as migrations are; not a folder of test fixtures), else any file
        folders: dict[Path, list[Path]] = {}
        for f in corpora.get("real", []):
            folders.setdefault(f.parent, []).append(f)
        versioned = [fs for fs in folders.values()
                     if sum(bool(re.match(r"[VU]?\d", f.name)) for f in fs) >= 0.8 * len(fs)]
        largest = max(versioned or list(folders.values()), key=len, default=None)
        one = max(largest) if largest else next(iter(f for fs in corpora.values() for f in fs), None)
        imports: dict = {}
        profile: list[str] = []
        if one is not None:
            start_rows, imports = bench_startup(sg, one, no_cache, extra, work)
            rows += start_rows
        sizes = [int(x) for x in args.curve.split(",") if x.strip()]
        if sizes:
            rows += bench_history_curve(sg, sizes, args.seed, no_cache, extra, work)
            newest = max((work / f"curve-{sizes[-1]}").rglob("*.sql"))
            profile = import_profile(sg, work / f"curve-{sizes[-1]}", ["lint", "--exit-zero", str(newest)])

    result = {
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "versions": versions,
        "sqlguard_no_cache_flag": no_cache,
        "sqlguard_bytecode": compiled,
        "corpora": {n: len(f) for n, f in corpora.items()},
        "version_imports": imports,
        "precommit_import_profile": profile,
        "rows": [asdict(r) for r in rows],
        "summary": summary(rows),
    }
    if args.json:
        json.dump(result, sys.stdout, indent=2, ensure_ascii=False)
        print()
        return 0
    print(f"command:  {result['command']}")
    print(f"machine:  {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + f" (sqlguard {compiled})")
    print("corpora:  " + ", ".join(f"{n} {len(f)} files" for n, f in corpora.items())
          + (f" (at most {args.sample} per real corpus)" if args.sample else ""))
    print()
    print(table(rows))
    print()
    for line in result["summary"]:
        print(line)
    for line in profile:
        print(line)
    print("peak RSS: the largest single process of each run (getrusage RUSAGE_CHILDREN); parallel workers are "
          "not summed")
    print("× sqlguard cold: files/s relative to sqlguard cold on the same corpus (> 1: faster than sqlguard cold)")
    print("commands:")
    seen = set()
    for r in rows:
        if r.command and r.command not in seen:
            seen.add(r.command)
            print(f"  {r.tool}: {r.command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
