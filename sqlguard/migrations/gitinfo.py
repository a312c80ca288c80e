"""What git knows about the files being linted: which ones are new (SG34 out-of-order) or changed (`--diff-base`).

The only module that runs git. Checks get the answer as plain data.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from sqlguard.diagnostic import SqlguardError

_TIMEOUT = 60  # seconds; a repository that takes longer is not one to block a lint run on


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    # No optional locks: a lint running from a pre-commit hook must not contend with the commit itself.
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, timeout=_TIMEOUT, check=False)


def _names(output: bytes) -> list[str]:
    # `-z` output: NUL-separated, never quoted (names with spaces or non-ASCII come through as written).
    return [n for n in output.decode("utf-8", errors="surrogateescape").split("\0") if n]


def changed_paths(repo_dir: Path, base: str) -> frozenset[Path] | None:
    """Files added, copied, modified or renamed since `base`, committed or not, and untracked ones, as
    absolute resolved paths (`--diff-base`: the files a pull request touches). None outside a git work
    tree; an unknown `base` raises `SqlguardError`."""
    return _since(repo_dir, base, "ACMRT")


def committed_paths(repo_dir: Path, base: str | None) -> frozenset[Path] | None:
    """The files of commit `base` (without one: of HEAD) in the git work tree holding `repo_dir`, as
    absolute resolved paths: what a database may already have run. None outside a work tree, or
    before the first commit; an unknown `base` raises `SqlguardError`."""
    try:
        root = work_tree(repo_dir)
        if root is None or (base is None and not _has_commit(root, "HEAD")):
            return None  # no work tree, or no commit yet
        _check_ref(root, base)
        tree = _git(root, "ls-tree", "-r", "-z", "--name-only", base or "HEAD")
    except (OSError, subprocess.SubprocessError):
        return None
    if tree.returncode != 0:
        return None
    return frozenset(Path(os.path.realpath(root / name)) for name in _names(tree.stdout))


def added_paths(repo_dir: Path, base: str | None) -> frozenset[Path] | None:
    """Files that are new since `base` (a commit, branch or tag), as absolute resolved paths.

    Without `base`, new relative to HEAD: staged new files and untracked ones (not ignored), which
    is what a pre-commit hook sees. With `base` (CI: the branch a pull request targets), files added
    since that commit, committed or not, plus untracked ones. None when `repo_dir` is not in a git
    work tree or git is not installed: then nothing can be called new. A `base` git does not know is
    the user's mistake and raises `SqlguardError`.

    Renames are detected (`--find-renames`): a migration renamed to fix its name is not new, and a
    database that ran it still has it under its version.
    """
    return _since(repo_dir, base, "A")


def _since(repo_dir: Path, base: str | None, kinds: str) -> frozenset[Path] | None:
    try:
        root = work_tree(repo_dir)
        if root is None:
            return None  # not a work tree (or a bare repository), or no git
        _check_ref(root, base)
        if base is not None or _has_commit(root, "HEAD"):
            diff = _git(root, "diff", "--name-only", f"--diff-filter={kinds}", "-z", "--find-renames",
                        base or "HEAD", "--")
        else:
            diff = _git(root, "ls-files", "--cached", "-z")  # no commit yet: everything staged is new
        untracked = _git(root, "ls-files", "--others", "--exclude-standard", "-z")
    except (OSError, subprocess.SubprocessError):
        return None
    if diff.returncode != 0 or untracked.returncode != 0:
        return None
    # (realpath, not resolve: an untracked symlink loop is a name like any other)
    return frozenset(Path(os.path.realpath(root / name)) for name in [*_names(diff.stdout), *_names(untracked.stdout)])


def work_tree(repo_dir: Path) -> Path | None:
    """The top of the git work tree holding `repo_dir` (None: none, or git is not installed)."""
    if shutil.which("git") is None:
        return None
    top = _git(Path(repo_dir), "rev-parse", "--show-toplevel")
    return Path(top.stdout.decode("utf-8", errors="surrogateescape").strip()) if top.returncode == 0 else None


def _has_commit(root: Path, ref: str) -> bool:
    return _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").returncode == 0


def _check_ref(root: Path, base: str | None) -> None:
    """A `base` git does not know is the user's mistake."""
    if base is not None and not _has_commit(root, base):
        raise SqlguardError(f"unknown git ref `{base}`: check its spelling, or fetch it first "
                            f"(CI checkouts are often shallow: `git fetch origin <branch>`)")
