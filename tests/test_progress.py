"""Progress of long steps on standard error: a bar on a terminal, one plain line per step otherwise."""

from __future__ import annotations

import io
import os
import pty
import select

from sqlguard.cli_apply import Progress


def test_plain_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    progress = Progress(out)
    progress("test: applying 20240101090000_create_users.sql", 0, 2)
    progress("test: applied 2 migration(s)", 2, 2)
    assert out.getvalue() == ("sqlguard: test: applying 20240101090000_create_users.sql\n"
                              "sqlguard: test: applied 2 migration(s)\n")


def test_a_bar_redrawn_in_place_on_a_terminal() -> None:
    leader, follower = pty.openpty()
    try:
        with os.fdopen(follower, "w", closefd=False) as tty:
            progress = Progress(tty)
            assert progress.tty
            progress("test: applying a.sql", 1, 4)
            progress("test: applied 4 migration(s)", 4, 4)
        shown = _read_all(leader)
    finally:
        os.close(leader)
        os.close(follower)
    parts = shown.split("\r")
    assert parts[0] == ""
    assert parts[1] == "\x1b[2K[######------------------] 1/4 test: applying a.sql"
    assert parts[2] == "\x1b[2K[########################] 4/4 test: applied 4 migration(s)"
    assert parts[3:] == ["\n"]  # the last step ends the line (a pty shows \n as \r\n)


def _read_all(fd: int) -> str:
    """What the terminal received: reads until a second passes without more (a pty hands it in pieces)."""
    data = b""
    while select.select([fd], [], [], 1.0)[0]:
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data.decode()
