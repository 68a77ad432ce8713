"""Tokens: expiry, list, rotate, revoke and role changes from the API and the command line; the last
admin cannot be revoked or demoted; only hashes are stored."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
import yaml


def test_an_expired_token_is_refused(api):
    from faultline.vocabulary import ManualClock

    clock = api.runtime.tokens.clock = ManualClock(api.runtime.clock.now())
    r = api.client.post(
        "/api/v1/tokens",
        json={"role": "mid_engineer", "name": "contractor", "expires_in_days": 1},
        headers=api.as_("admin"),
    )
    assert r.status_code == 201 and r.json()["expires_at"] is not None
    contractor = {"Authorization": f"Bearer {r.json()['token']}"}
    assert api.client.get("/api/v1/work-orders", headers=contractor).status_code == 200
    clock.advance(timedelta(days=1, seconds=1))
    r = api.client.get("/api/v1/work-orders", headers=contractor)
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    r = api.client.post(
        "/api/v1/tokens",
        json={"role": "admin", "name": "x", "expires_at": "2001-01-01T00:00:00Z"},
        headers=api.as_("admin"),
    )
    assert r.status_code == 422 and "not in the future" in r.json()["detail"]


def test_rotate_gives_a_new_secret_and_the_old_one_stops_working(api):
    [junior] = [
        t for t in api.client.get("/api/v1/tokens", headers=api.as_("admin")).json() if t["role"] == "junior_engineer"
    ]
    r = api.client.post(f"/api/v1/tokens/{junior['id']}/rotate", headers=api.as_("admin"))
    assert r.status_code == 200 and r.json()["token"].startswith("flt_") and r.json()["id"] == junior["id"]
    assert api.client.get("/api/v1/work-orders", headers=api.as_("junior_engineer")).status_code == 401
    assert (
        api.client.get("/api/v1/work-orders", headers={"Authorization": f"Bearer {r.json()['token']}"}).status_code
        == 200
    )
    assert api.client.post("/api/v1/tokens/999/rotate", headers=api.as_("admin")).status_code == 404


def test_the_last_admin_cannot_be_revoked_or_demoted(api):
    [admin] = [t for t in api.client.get("/api/v1/tokens", headers=api.as_("admin")).json() if t["role"] == "admin"]
    r = api.client.delete(f"/api/v1/tokens/{admin['id']}", headers=api.as_("admin"))
    assert r.status_code == 409 and "last admin token" in r.json()["detail"]
    r = api.client.patch(f"/api/v1/tokens/{admin['id']}", json={"role": "manager"}, headers=api.as_("admin"))
    assert r.status_code == 409 and "last admin token" in r.json()["detail"]
    # with a second admin, the first may go
    second = api.client.post("/api/v1/tokens", json={"role": "admin", "name": "second"}, headers=api.as_("admin"))
    r = api.client.patch(f"/api/v1/tokens/{admin['id']}", json={"role": "manager"}, headers=api.as_("admin"))
    assert r.status_code == 200 and r.json()["role"] == "manager"
    assert api.client.get("/api/v1/tokens", headers=api.as_("admin")).status_code == 403  # a manager's token now
    new = {"Authorization": f"Bearer {second.json()['token']}"}
    r = api.client.delete(f"/api/v1/tokens/{second.json()['id']}", headers=new)
    assert r.status_code == 409  # the second is now the last admin
    assert api.client.delete(f"/api/v1/tokens/{admin['id']}", headers=new).status_code == 204
    listed = api.client.get("/api/v1/tokens?include_revoked=true", headers=new).json()
    assert [t["revoked_at"] is not None for t in listed if t["id"] == admin["id"]] == [True]


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "faultline.yaml"
    path.write_text(
        yaml.safe_dump(
            {"service": {"state_path": str(tmp_path / "state.sqlite")}, "store": {"path": str(tmp_path / "r.sqlite")}}
        )
    )
    return path


def test_token_commands(config_file, tmp_path):
    from typer.testing import CliRunner

    from faultline.service.cli import app

    def run(*args):
        return CliRunner().invoke(app, ["tokens", *args, "--config", str(config_file)])

    created = run("create", "--role", "admin", "--name", "ops", "--expires", "90d")
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("flt_")
    listed = run("list")
    assert "admin" in listed.output and "ops" in listed.output and "works" in listed.output
    assert "never" not in listed.output  # it expires
    refused = run("revoke", "1")
    assert refused.exit_code == 1 and "last admin token" in refused.output
    assert run("set-role", "1", "manager").exit_code == 1
    rotated = run("rotate", "1")
    assert rotated.exit_code == 0 and rotated.stdout.strip().splitlines()[-1] != secret
    assert run("create", "--role", "mid_engineer", "--name", "m").exit_code == 0
    assert run("revoke", "2").exit_code == 0 and "revoked" in run("list", "--all").output
    with sqlite3.connect(tmp_path / "state.sqlite") as db:  # stored hashed: the secret is nowhere in the file
        hashes = [h for (h,) in db.execute("SELECT hash FROM api_tokens")]
    assert all(len(h) == 64 for h in hashes)
    assert secret.encode() not in (tmp_path / "state.sqlite").read_bytes()
