"""The rule catalog: the shipped TribeVibe catalog, its JSON Schema, and errors with positions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, TRIBEVIBE_CATALOG

from sqlguard.catalog import load_catalog, parse_catalog
from sqlguard.diagnostic import SqlguardError

SCHEMA = json.loads((ROOT / "rules" / "catalog.schema.json").read_text())


def validate(data: object) -> list[str]:
    import jsonschema

    cls = jsonschema.validators.validator_for(SCHEMA)
    cls.check_schema(SCHEMA)
    return [e.message for e in cls(SCHEMA).iter_errors(data)]


def test_tribevibe_catalog_states_the_example_world() -> None:
    cat = load_catalog(TRIBEVIBE_CATALOG)
    assert set(cat.tables) == {"users", "matches", "messages", "message_reactions", "likes", "notifications",
                               "profile_images", "profile_image_variations", "image_generation_jobs",
                               "simulation_personas", "outbox_events", "migrations"}
    assert {n: f.use for n, f in cat.forbidden.items()} == {
        "profiles": "users", "user_profiles": "users", "profile": "users", "images": "profile_images"}
    assert "profiles" not in cat.tables


def test_every_shipped_catalog_validates_against_the_schema() -> None:
    for path in (ROOT / "rules").glob("*.yaml"):
        assert validate(yaml.safe_load(path.read_text())) == [], path


def test_lookup_is_case_and_schema_insensitive() -> None:
    cat = load_catalog(TRIBEVIBE_CATALOG)
    assert cat.lookup_forbidden("Profiles", "public") is not None
    assert cat.lookup_forbidden("users") is None
    assert cat.suggest("user") == "users"


@pytest.mark.parametrize("text,line,needle", [
    ("tables: [users]\nforbiden: [profiles]\n", 2, "did you mean `forbidden`"),
    ("tables: [users]\nforbidden:\n  profiles: {use: user}\n", 3, "names `user`, which is not in `tables`"),
    ("tables:\n  users:\n    colums: [id]\n", 3, "did you mean `columns`"),
    ("tables: [users, users]\n", 1, "listed twice"),
    ("tables:\n  users:\n    columns:\n      id: {nullable: maybe}\n", 4, "must be true or false"),
    ("version: 2\ntables: [users]\n", 1, "only version 1"),
    ("name: x\n", 1, "needs `tables` or `forbidden`"),
    ("tables: [users\n", 2, "invalid YAML"),
    ("tables: [users]\nforbidden: {users: {use: users}}\n", 2, "both a table and a forbidden name"),
])
def test_malformed_catalog_names_line_and_key(text: str, line: int, needle: str) -> None:
    with pytest.raises(SqlguardError) as err:
        parse_catalog(text, "c.yaml")
    assert err.value.line == line, str(err.value)
    assert needle in str(err.value)


@pytest.mark.parametrize("text", [
    "tables: [users]\nforbiden: [profiles]\n",
    "tables:\n  users:\n    colums: [id]\n",
    "version: 2\ntables: [users]\n",
    "name: x\n",
])
def test_schema_and_loader_agree_on_bad_catalogs(text: str) -> None:
    assert validate(yaml.safe_load(text)), "the JSON Schema accepts what the loader rejects"


def test_missing_catalog_is_exit_2(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "m.sql").write_text("SELECT 1;\n")
    res = run_cli("lint", "--catalog", str(tmp_path / "nope.yaml"), str(tmp_path / "m.sql"))
    assert res.code == 2 and "catalog file not found" in res.err
