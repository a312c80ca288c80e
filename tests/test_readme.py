"""README.md stays true: its rule table matches the rules, and its two set-up commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import ROOT

from sqlguard.cli import rules_markdown

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_rule_table_is_in_sync_with_the_rules() -> None:
    m = re.search(r"<!-- rules-table:[^>]*-->\n(.*?)\n<!-- /rules-table -->", README, re.S)
    assert m, "README.md lost its rules-table markers"
    assert m.group(1) == rules_markdown(), "regenerate with `sqlguard rules --format markdown`"


def _setup_commands() -> list[str]:
    section = README.split("## Set up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    return [b.strip() for b in re.findall(r"```sh\n(.*?)```", section, re.S)]


def test_readme_names_exactly_two_setup_commands() -> None:
    commands = _setup_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    install, test = commands
    assert "pip install -e '.[all]'" in install and "sqlguard lint" in install and "fixtures/" in install
    assert "pytest" in test


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    test_command = _setup_commands()[1]
    assert ci.rstrip().splitlines()[-1] == test_command


def test_the_apply_configuration_example_is_a_valid_config(tmp_path: Path) -> None:
    from sqlguard.config import load_settings

    section = README[README.index("## Applying migrations"):]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block, "the apply section lost its yaml example"
    (tmp_path / "sqlguard.yaml").write_text(block.group(1), encoding="utf-8")
    settings = load_settings(None, [tmp_path])
    assert [e.name for e in settings.environments] == ["test", "dev"]
    assert [e.stage for e in settings.environments] == ["test", "dev"]
    assert settings.apply.environments == ("test", "dev")
    assert (settings.apply.lock_timeout, settings.apply.statement_timeout) == ("5s", "15min")
    assert settings.apply.history.table == "migrations"
    assert dict(settings.apply.history.columns) == {"filename": "filename", "applied_at": "executed_at"}
    assert settings.apply.backup_dir == Path("/srv/backups/tribevibe")


def test_the_pre_commit_snippet_pins_this_release() -> None:
    from sqlguard import __version__

    section = README[README.index("## pre-commit"):]
    rev = re.search(r"^\s*rev: (\S+)", section, re.M)
    assert rev and rev.group(1) == f"v{__version__}"  # the release tag (`git tag v<version>`)
    hooks = (ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    assert re.search(r"^\s*- id: sqlguard$", hooks, re.M) and "id: sqlguard" in section
