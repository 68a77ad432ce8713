"""docker-compose.yml, the Dockerfile and the FAULTLINE_* variables, checked without a Docker engine.

The compose file is validated against the Compose Specification's JSON schema (the copy that the
check-jsonschema package vendors as ``vendor.compose-spec``); what Docker alone could show — that the
images start and talk to each other — is not tested here (docs/deployment.md, "docker compose up").
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


def compose_schema() -> dict:
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads(vendor.joinpath("compose-spec.json").read_text(encoding="utf-8"))


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def schema_errors(document: dict) -> list[str]:
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)  # the schema names its draft (2020-12)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_the_compose_file_follows_the_compose_specification():
    assert schema_errors(compose()) == []


def test_the_schema_check_catches_a_mistake():
    broken = compose()
    broken["services"]["faultline"]["depends_on"]["postgres"]["condition"] = "service_ready"
    broken["services"]["grafana"]["restart_policy"] = "always"
    errors = schema_errors(broken)
    assert any("service_ready" in e for e in errors), errors
    assert any("restart_policy" in e for e in errors), errors


def test_every_service_is_there_and_every_image_pinned():
    services = compose()["services"]
    assert {"mosquitto", "influxdb", "postgres", "faultline", "prometheus", "grafana", "simulator"} <= set(services)
    for name, service in services.items():
        image = service.get("image")
        assert image, f"{name} has no image"
        repo, _, tag = image.rpartition(":")
        assert repo and re.fullmatch(r"v?\d+(\.\d+)+(-[a-z0-9.]+)?", tag), f"{name}: {image!r} is not pinned"
    assert services["simulator"]["profiles"] == ["simulator"]
    assert services["influxdb"]["image"].startswith("influxdb:2.")


def test_files_the_stack_mounts_are_in_the_repository():
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repository"


def test_mosquitto_runs_the_shipped_conf_and_influxdb_maps_the_bucket_for_influxql():
    services = compose()["services"]
    assert "./config/mosquitto.conf:/mosquitto/config/mosquitto.conf:ro" in services["mosquitto"]["volumes"]
    env = services["influxdb"]["environment"]
    assert env["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    for key in ("ORG", "BUCKET", "ADMIN_TOKEN"):
        assert env[f"DOCKER_INFLUXDB_INIT_{key}"], key
    script = (ROOT / "deploy/influxdb/create-dbrp.sh").read_text()
    assert "influx v1 dbrp create" in script and "--default" in script


def _defaults(value: str) -> str:
    """A compose value with each ``${NAME:-default}`` replaced by its default (an empty .env)."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(value))


def test_faultline_in_the_stack_gets_a_valid_configuration(tmp_path):
    from faultline.service.settings import load_settings

    service = compose()["services"]["faultline"]
    env = {k: _defaults(v) for k, v in {**service["environment"]}.items()}
    settings = load_settings(ROOT / "config/faultline-compose.yaml", env=env)
    assert settings.store.api == "v2" and settings.store.token.get_secret_value() == env["FAULTLINE_INFLUX_TOKEN"]
    assert settings.store.bucket == settings.store.database  # the DBRP mapping's database is the bucket's name
    assert settings.mqtt.host == "mosquitto" and settings.store.url == "http://influxdb:8086"
    assert (settings.service.host, settings.metrics.host) == ("0.0.0.0", "0.0.0.0")
    target = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())["scrape_configs"][0]
    assert target["static_configs"][0]["targets"] == [f"faultline:{settings.metrics.port}"]

    from faultline.ticketing.config import default_ticketing_config

    ticketing = default_ticketing_config(env)  # the compose config has no ticketing: section
    assert ticketing.store_url.startswith("postgresql+psycopg://faultline:")
    assert ticketing.store_url.endswith("@postgres:5432/faultline")


def test_the_dockerfile_is_slim_non_root_and_checks_readyz():
    text = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)", text, re.M).group(1)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base), base
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1] not in ("root", "0")
    healthcheck = re.search(r"^HEALTHCHECK (?:.*\\\n)*.*", text, re.M).group(0)
    assert "/readyz" in healthcheck
    config = re.search(r'"--config", "/opt/faultline/(config/[^"]+)"', text).group(1)
    assert (ROOT / config).exists()


def _variables(paths) -> set[str]:
    found = set()
    for path in paths:
        found |= set(re.findall(r"\bFAULTLINE_[A-Z0-9_]+", path.read_text(encoding="utf-8")))
    return found


def _read_by_the_app() -> set[str]:
    code = [p for d in ("ingest", "detectors", "ticketing", "simulators", "service") for p in (ROOT / d).rglob("*.py")]
    config = list((ROOT / "config").glob("*.yaml"))
    return _variables(code + config + [COMPOSE, ROOT / "Dockerfile"])


def test_every_faultline_variable_the_app_reads_is_documented():
    page = (ROOT / "docs" / "deployment.md").read_text()
    table = page[page.index("## Environment variables") :]
    documented = set(re.findall(r"`(FAULTLINE_[A-Z0-9_]+)`", table))
    missing = sorted(_read_by_the_app() - documented)
    assert not missing, f"not in the table of docs/deployment.md, 'Environment variables', as `NAME`: {missing}"


@pytest.mark.parametrize("path", sorted((ROOT / "deploy").rglob("*.y*ml")) + [COMPOSE], ids=lambda p: p.name)
def test_every_deploy_yaml_parses(path):
    assert isinstance(yaml.safe_load(path.read_text()), dict)
