"""compose.yaml: the services, their health checks and dependencies, and that every variable it
and .env.example use is documented in the README. (`docker compose config -q` checks the
schema; it needs docker, which the tests do not.)"""

from __future__ import annotations

import re

import pytest

from tests.fixtures import ROOT

yaml = pytest.importorskip("yaml", reason="PyYAML is a dev dependency (pyproject.toml)")

COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
LONG_RUNNING = ["web", "proxy", "worker", "cron", "checker", "postgres", "redis", "minio"]


def test_it_has_the_services():
    assert set(SERVICES) == {*LONG_RUNNING, "migrate", "createbucket"}
    for name in ("web", "worker", "cron", "checker", "migrate"):
        assert SERVICES[name]["build"] == "."
    assert SERVICES["web"]["command"] == ["web"]
    assert SERVICES["worker"]["command"] == ["worker"]
    assert SERVICES["cron"]["command"] == ["cron"]
    assert SERVICES["checker"]["command"] == ["checker"]
    entrypoint = (ROOT / "docker" / "entrypoint.sh").read_text()
    for command in ("web)", "worker)", "cron)", "checker)"):
        assert command in entrypoint
    assert "exec python manage.py checker" in entrypoint


def test_two_web_replicas_sit_behind_one_published_port():
    assert SERVICES["web"]["deploy"]["replicas"] == 2
    assert "ports" not in SERVICES["web"]
    assert SERVICES["proxy"]["ports"] == ["${STEMWEB_HTTP_PORT:-8000}:80"]
    nginx = (ROOT / "docker" / "nginx.conf").read_text()
    assert "proxy_pass $web;" in nginx and "set $web http://web:8000;" in nginx


def test_workers_scale():
    worker = SERVICES["worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert not any("container_name" in service for service in SERVICES.values())


def test_every_long_running_service_has_a_healthcheck_and_restarts():
    for name in LONG_RUNNING:
        assert SERVICES[name]["restart"] == "unless-stopped", name
        assert SERVICES[name]["healthcheck"]["test"], name
    assert "/healthz" in " ".join(SERVICES["web"]["healthcheck"]["test"])
    assert SERVICES["worker"]["healthcheck"]["test"][-2:] == ["manage.py", "worker_alive"]
    assert SERVICES["cron"]["healthcheck"]["test"][-2:] == ["manage.py", "cron_alive"]
    assert SERVICES["checker"]["healthcheck"]["test"][-2:] == ["manage.py", "checker_alive"]
    assert "pg_isready" in SERVICES["postgres"]["healthcheck"]["test"][1]
    assert SERVICES["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_redis_keeps_an_append_only_file_on_a_volume():
    redis = SERVICES["redis"]
    assert redis["command"][-2:] == ["--appendonly", "yes"]
    assert redis["volumes"] == ["redis:/data"]
    assert {"postgres", "redis", "minio"} <= set(COMPOSE["volumes"])


def test_the_app_waits_for_healthy_services_and_the_bucket():
    for name in ("web", "worker", "cron", "migrate"):
        depends = SERVICES[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
        assert depends["createbucket"]["condition"] == "service_completed_successfully", name
    assert SERVICES["web"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    assert SERVICES["proxy"]["depends_on"]["web"]["condition"] == "service_healthy"
    assert SERVICES["createbucket"]["depends_on"]["minio"]["condition"] == "service_healthy"


def test_the_app_shares_one_configuration():
    environments = [
        SERVICES[name]["environment"] for name in ("web", "worker", "cron", "checker", "migrate")
    ]
    assert all(env == environments[0] for env in environments)
    env = environments[0]
    for name in ("SECRET_KEY", "STEMWEB_FERNET_KEYS", "DATABASE_URL", "REDIS_URL"):
        assert name in env
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert "s3.localhost" in SERVICES["minio"]["networks"]["default"]["aliases"]


def _documented() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", readme))


def test_every_variable_compose_reads_is_documented_in_the_readme():
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (ROOT / "compose.yaml").read_text()))
    assert "SECRET_KEY" in used and "POSTGRES_PASSWORD" in used
    assert used - _documented() == set()


def test_every_variable_in_env_example_is_documented_in_the_readme():
    example = (ROOT / ".env.example").read_text()
    names = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    assert "STEMWEB_FERNET_KEYS" in names
    assert names - _documented() == set()
