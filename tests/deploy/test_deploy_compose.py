"""The compose stack: valid for the Compose specification and for `docker compose config`,
and shaped like production (two gateways, two shards plus a standby, monitoring)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from .tools import DEPLOY, compose_command, require_tool, run

COMPOSE = DEPLOY / "docker-compose.yml"
ENV_EXAMPLE = DEPLOY / ".env.example"
SECRETS = ("POSTGRES_PASSWORD", "LFG_JWT_SECRET", "GRAFANA_ADMIN_PASSWORD")
LFG_SERVICES = ("migrate", "gateway-1", "gateway-2", "shard-0", "shard-0-standby", "shard-1")


def services() -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    return found


def env_without_secrets() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in SECRETS}


def test_compose_file_matches_the_compose_specification() -> None:
    checker = require_tool("check-jsonschema")
    result = run([checker, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_config_accepts_the_file_with_the_example_env() -> None:
    compose = compose_command()
    args = [*compose, "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE), "config", "--quiet"]
    result = run(args, env=env_without_secrets())
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_refuses_to_start_without_secrets(tmp_path: Path) -> None:
    compose = compose_command()
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = run(
        [*compose, "--env-file", str(empty), "-f", str(COMPOSE), "config", "--quiet"],
        env=env_without_secrets(),
    )
    assert result.returncode != 0
    assert any(name in result.stderr for name in SECRETS), result.stderr


def test_env_example_lists_every_required_variable() -> None:
    required = set(re.findall(r"\$\{(\w+):\?", COMPOSE.read_text()))
    listed = set(re.findall(r"^(\w+)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    assert required == set(SECRETS) <= listed


def test_stack_has_the_production_services() -> None:
    assert set(LFG_SERVICES) | {
        "postgres",
        "redis",
        "prometheus",
        "grafana",
        "loki",
        "alloy",
    } == set(services())


def test_gateways_and_shards_run_the_lfg_commands() -> None:
    svc = services()
    for name in ("gateway-1", "gateway-2"):
        command = svc[name]["command"]
        assert command[0] == "gateway" and command[command.index("--port") + 1] == "8000"
    shard_ids = {name: svc[name]["command"] for name in ("shard-0", "shard-0-standby", "shard-1")}
    assert shard_ids == {
        "shard-0": ["shard", "--id", "0"],
        "shard-0-standby": ["shard", "--id", "0"],
        "shard-1": ["shard", "--id", "1"],
    }
    assert svc["migrate"]["command"] == ["migrate"] and svc["migrate"]["restart"] == "no"
    shard_count = len({command[-1] for command in shard_ids.values()})
    assert all(int(svc[name]["environment"]["LFG_SHARDS"]) == shard_count for name in LFG_SERVICES)


def test_lfg_services_get_their_configuration_and_are_locked_down() -> None:
    svc = services()
    for name in LFG_SERVICES:
        service = svc[name]
        assert {"DATABASE_URL", "REDIS_URL", "LFG_JWT_SECRET"} <= set(service["environment"]), name
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert service["build"]["dockerfile"] == "deploy/Dockerfile", name
    for name in LFG_SERVICES[1:]:
        assert svc[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_published_ports_are_bound_to_localhost() -> None:
    for name, service in services().items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name}: {port}"


def test_bind_mounts_exist() -> None:
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), f"{name}: {source}"


def test_prometheus_scrapes_every_gateway_and_shard() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {
        target.split(":")[0]
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    assert set(LFG_SERVICES) - {"migrate"} <= targets


def test_log_pipeline_configs_agree_with_the_stack() -> None:
    """Loki and Alloy have no offline validator here: check what can be checked."""
    loki = yaml.safe_load((DEPLOY / "loki" / "loki.yml").read_text())
    port = loki["server"]["http_listen_port"]
    assert f"127.0.0.1:{port}:{port}" in services()["loki"]["ports"]
    alloy = (DEPLOY / "alloy" / "config.alloy").read_text()
    assert f'url = "http://loki:{port}/loki/api/v1/push"' in alloy
    (label,) = re.findall(r'values = \["([\w.]+)=true"\]', alloy)
    shipped = {name for name, s in services().items() if s.get("labels", {}).get(label) == "true"}
    assert set(LFG_SERVICES) | {"postgres", "redis"} <= shipped
