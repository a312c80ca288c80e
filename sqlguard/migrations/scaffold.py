"""`sqlguard new`: create the next migration of a folder, named and numbered as its tool expects.

The version comes after every existing one (SG34 never fires on a migration made here): a timestamp
from the clock, or the newest existing one plus a second when the clock is behind it; or the next
number, zero-padded like the folder's newest. The files hold a comment header and no SQL: the
engineer writes the change, and until the rollback is written SG31 says it is missing. Nothing is
ever overwritten.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlguard.diagnostic import SqlguardError
from sqlguard.migrations.files import CONVENTIONS, MigrationIndex, plan_of
from sqlguard.migrations.history import History, HistoryIndex
from sqlguard.sql.reading import KNOWN

_TIMESTAMP = "%Y%m%d%H%M%S"
_DEFAULT_PLANNER = "sqlguard <sqlguard@localhost>"


def snake_name(name: str) -> str:
    """`AddUsers`, `add-users`, `Add users!` -> `add_users`; raises when nothing usable is left."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name.strip())
    snake = re.sub(r"[^a-z0-9]+", "_", spaced.lower()).strip("_")
    if not snake:
        raise SqlguardError(f"migration name `{name}` has no letters or digits; name it after what it does, "
                            f"e.g. `add_users_email`")
    return snake


@dataclass(frozen=True)
class _Existing:
    folder: Path
    versions: tuple[str, ...]  # of every migration, in apply order
    has_undo: bool  # a Flyway folder that writes undo migrations
    convention: str | None  # the convention its migrations follow (None for an empty folder)


def new_migration(history_or_folder: History | Path, convention: str, name: str, now: datetime, *,
                  planner: str = _DEFAULT_PLANNER) -> list[Path]:
    """Create the next migration in the folder's `convention`; returns the created files, migration first.

    `convention` "auto" takes the history's own (sqlguard's for an empty folder). `now` names the
    version (local time, as the tools' own `new` commands do); sqitch's plan records it in UTC, taking
    a naive `now` as UTC. `planner` is the `Name <email>` sqitch records in its plan.
    """
    existing = _existing(history_or_folder, convention)
    if convention == "auto":
        convention = existing.convention if existing.convention in CONVENTIONS else "sqlguard"
    if convention not in CONVENTIONS:
        raise SqlguardError(f"unknown migration convention `{convention}` (known: auto, {', '.join(CONVENTIONS)})")
    snake = snake_name(name)
    folder = existing.folder
    files: dict[Path, str]
    plan_line: str | None = None
    if convention == "sqlguard":
        ts = _next_timestamp(existing.versions, now)
        up = folder / f"{ts}_{snake}.sql"
        files = {up: _up_header(snake, now), folder / f"{ts}_{snake}_rollback.sql": _rollback_header(up.name)}
    elif convention == "golang-migrate":
        version = _next_version(existing.versions, now, default_timestamp=True)
        up = folder / f"{version}_{snake}.up.sql"
        files = {up: _up_header(snake, now), folder / f"{version}_{snake}.down.sql": _rollback_header(up.name)}
    elif convention == "flyway":
        version = _next_version([v.split(".")[0].split("_")[0] for v in existing.versions], now,
                                default_timestamp=False)
        up = folder / f"V{version}__{snake}.sql"
        files = {up: _up_header(snake, now)}
        if existing.has_undo:
            # Undo migrations are a paid Flyway feature; only a folder that already writes them gets one.
            files[folder / f"U{version}__{snake}.sql"] = _rollback_header(up.name)
    elif convention == "diesel":
        # diesel 1.x names `2023-01-05-120000_name`, 2.x `2023-01-05-120000-0000_name`: the first 14
        # digits are the timestamp; a new folder follows the newest existing one's form
        ts = _next_timestamp(["".join(re.findall(r"\d", v))[:14] for v in existing.versions], now)
        try:
            stamp = datetime.strptime(ts, _TIMESTAMP).strftime("%Y-%m-%d-%H%M%S")
        except ValueError:
            stamp = ts  # the newest version is no date
        newest = max(existing.versions, key=lambda v: "".join(re.findall(r"\d", v))[:14], default="")
        if re.fullmatch(r"\d{4}-\d\d-\d\d-\d{6}-\d{4}", newest):
            stamp += "-0000"
        sub = folder / f"{stamp}_{snake}"
        files = {sub / "up.sql": _up_header(snake, now), sub / "down.sql": _rollback_header(f"{sub.name}/up.sql")}
    elif convention == "prisma":  # forward-only: no rollback file
        sub = folder / f"{_next_timestamp(existing.versions, now)}_{snake}"
        files = {sub / "migration.sql": _up_header(snake, now)}
    elif convention == "dbmate":
        ts = _next_timestamp(existing.versions, now)
        files = {folder / f"{ts}_{snake}.sql": _sections("-- migrate:up", "-- migrate:down", snake, now)}
    elif convention == "numbered":
        width = max((len(v) for v in existing.versions), default=4)
        number = str(max((int(v) for v in existing.versions if v.isdigit()), default=0) + 1).zfill(width)
        files = {folder / f"{number}-{snake.replace('_', '-')}.sql": _up_header(snake, now)}
    elif convention == "goose":
        version = _next_version(existing.versions, now, default_timestamp=True)
        files = {folder / f"{version}_{snake}.sql": _sections("-- +goose Up", "-- +goose Down", snake, now)}
    else:
        files, plan_line = _sqitch(folder, snake, now, planner)
    for path in files:
        if path.exists():
            raise SqlguardError(f"`{path}` already exists; sqlguard never overwrites a migration", str(path))
    created = []
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8", newline="\n") as handle:  # "x": fail rather than overwrite
            handle.write(text)
        created.append(path)
    if plan_line is not None:
        _append_line(plan_of(folder), plan_line)
    return created


# --- what is there already ---------------------------------------------------------------------

def _existing(history_or_folder: History | Path, convention: str) -> _Existing:
    given, folder = (history_or_folder, history_or_folder.folder) if isinstance(history_or_folder, History) \
        else (None, Path(history_or_folder).absolute())
    # Every dialect's history of the folder: a new version must not collide with a `.sqlite.` file either.
    index = MigrationIndex({folder: convention} if convention in CONVENTIONS else {})
    found: list[History] = []
    if folder.is_dir():
        for dialect in KNOWN:
            found.extend(h for h in HistoryIndex(index, dialect).histories(folder) if h.folder.samefile(folder))
    if given is not None:
        found.insert(0, given)
    if not found:
        return _Existing(folder, (), has_undo=False, convention=None)
    versions = tuple(m.version for h in found for m in h.migrations if m.version)
    has_undo = found[0].convention == "flyway" and any(m.rollback is not None for h in found for m in h.migrations)
    return _Existing(found[0].folder, versions, has_undo, found[0].convention)


def _next_timestamp(versions: tuple[str, ...] | list[str], now: datetime) -> str:
    """`now` as YYYYMMDDHHMMSS, or one second after the newest existing version when the clock is behind."""
    stamp = now.strftime(_TIMESTAMP)
    newest = max((int("".join(re.findall(r"\d", v))) for v in versions if re.search(r"\d", v)), default=None)
    if newest is None or int(stamp) > newest:
        return stamp
    try:
        return (datetime.strptime(f"{newest:014d}", _TIMESTAMP) + timedelta(seconds=1)).strftime(_TIMESTAMP)
    except ValueError:
        return f"{newest + 1:014d}"  # the newest "timestamp" is no date (supabase's 10000000000000)


def _next_version(versions: tuple[str, ...] | list[str], now: datetime, *, default_timestamp: bool) -> str:
    """The next sequence number, padded like the newest; a timestamp in a folder of timestamps."""
    numbered = [v for v in versions if v.isdigit()]
    if not numbered:
        return now.strftime(_TIMESTAMP) if default_timestamp else "1"
    newest = max(numbered, key=int)
    if len(newest) == 14:
        return _next_timestamp(numbered, now)
    return str(int(newest) + 1).zfill(len(newest) if newest.startswith("0") else 0)


# --- file contents -----------------------------------------------------------------------------

def _up_header(name: str, now: datetime) -> str:
    return (f"-- {name}: created by `sqlguard new` on {now:%Y-%m-%d %H:%M}.\n"
            f"-- Write the change below. Once a database has run this file, change the schema in a new\n"
            f"-- migration instead of editing this one.\n")


def _rollback_header(up: str) -> str:
    return (f"-- Rollback of `{up}`: write the statements that undo it, newest change first.\n"
            f"-- Until then `sqlguard lint` reports it as missing (SG31).\n")


def _sections(up_marker: str, down_marker: str, name: str, now: datetime) -> str:
    # The header goes inside the up section: dbmate and goose read what comes before the first marker
    # as a statement outside any section.
    return (f"{up_marker}\n{_up_header(name, now)}\n{down_marker}\n"
            f"-- Write the statements that undo the up section; until then SG31 reports it as missing.\n")


def _sqitch(folder: Path, change: str, now: datetime, planner: str) -> tuple[dict[Path, str], str]:
    plan = plan_of(folder)
    if not plan.is_file():
        raise SqlguardError(f"`{plan}` does not exist; run `sqitch init` to start a sqitch project", str(plan))
    planned = {line.split()[0].lstrip("+-") for line in plan.read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.lstrip().startswith(("#", "%", "@"))}
    if change in planned:
        raise SqlguardError(f"`sqitch.plan` already has a change `{change}`; to change it, use `sqitch rework "
                            f"{change}`, or pick another name", str(plan))
    if not re.fullmatch(r"[^<>]+ <[^<>]*>", planner):
        raise SqlguardError(f"the sqitch planner `{planner}` must look like `Name <email>`")
    when = (now if now.tzinfo is None else now.astimezone(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    files = {
        folder / "deploy" / f"{change}.sql": _up_header(change, now),
        folder / "revert" / f"{change}.sql": _rollback_header(f"deploy/{change}.sql"),
        folder / "verify" / f"{change}.sql": (f"-- Verify `{change}`: statements that fail when the change is "
                                              f"not deployed.\n"),
    }
    return files, f"{change} {when} {planner} # {change.replace('_', ' ')}"


def _append_line(path: Path, line: str) -> None:
    text = path.read_text(encoding="utf-8")
    with path.open("a", encoding="utf-8", newline="\n") as handle:
        handle.write(("" if not text or text.endswith("\n") else "\n") + line + "\n")
