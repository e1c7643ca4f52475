"""The deploy files against the server's real interface: every `lfg` command line in the
compose stack, the Kubernetes manifests and the Dockerfile parses with server/cli.py's own
argparse, every LFG_* variable they set is a Settings field (server/config.py), the
settings they assemble pass the server's validation, and the ports the probes and
scrapers use are the ones the processes listen on."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
import yaml

from server import cli, config

from .test_deploy_compose import COMPOSE, ENV_EXAMPLE, LFG_SERVICES
from .test_deploy_dockerfile import stages
from .test_deploy_kubernetes import K8S, OVERLAYS, lfg_workloads, of_kind, render

#: Environment variables the server reads that are not `LFG_` + a field name.
SETTINGS_ENV = {config.env_name(f.name) for f in msgspec.structs.fields(config.Settings)}
#: Read by uvicorn (trusted proxies), not by Settings.
OTHER_SERVER_ENV = {"FORWARDED_ALLOW_IPS"}
#: The Dockerfile's own environment (not server settings).
IMAGE_ENV = {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}
#: Variables a manifest sets only to build an argument (`$(SHARD_ID)`), never read by lfg.
ARG_ONLY_ENV = {"SHARD_ID"}
#: Settings values for the secrets the manifests leave to `kubectl create secret`.
FAKE_SECRETS = {
    "DATABASE_URL": "postgresql://lfg:pw@postgresql:5432/lfg",
    "REDIS_URL": "redis://redis:6379/0",
    "LFG_JWT_SECRET": "x" * 48,
}
COMMANDS = ("serve", "gateway", "shard", "cluster", "migrate")


def parse_lfg(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> argparse.Namespace:
    """Run server/cli.py's `main` on argv with every command replaced by a recorder: the
    real parser, nothing started. An unknown command or flag exits with status 2."""
    seen: list[argparse.Namespace] = []

    def record(args: argparse.Namespace) -> int:
        seen.append(args)
        return 0

    for name in COMMANDS:
        monkeypatch.setattr(cli, f"cmd_{name}", record)
    assert cli.main(argv) == 0
    (args,) = seen
    return args


def test_parse_lfg_rejects_an_unknown_flag_and_command(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_lfg(["shard", "--shard", "0"], monkeypatch)
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        parse_lfg(["worker"], monkeypatch)
    with pytest.raises(SystemExit):
        parse_lfg(["shard"], monkeypatch)  # --id is required


# --- compose ------------------------------------------------------------------------------


def compose_example_env() -> dict[str, str]:
    return dict(re.findall(r"^(\w+)=(.*)$", ENV_EXAMPLE.read_text(), re.MULTILINE))


def compose_services() -> dict[str, Any]:
    """The compose file with ${VAR:?…} / ${VAR:-default} filled from .env.example."""
    values = compose_example_env()

    def fill(m: re.Match[str]) -> str:
        name, op, rest = m[1], m[2], m[3]
        if name in values:
            return values[name]
        assert op == ":-", f"{name} is required but not in .env.example"
        return rest

    text = re.sub(r"\$\{(\w+)(:[?-])?([^}]*)\}", fill, COMPOSE.read_text())
    found: dict[str, Any] = yaml.safe_load(text)["services"]
    return found


def compose_cases() -> Iterator[tuple[str, list[str], dict[str, str]]]:
    for name, service in compose_services().items():
        if name in LFG_SERVICES:
            env = {k: str(v) for k, v in service["environment"].items()}
            yield name, service["command"], env


@pytest.mark.parametrize("name", LFG_SERVICES)
def test_compose_commands_parse_with_the_real_cli(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (command,) = [c for n, c, _ in compose_cases() if n == name]
    args = parse_lfg(command, monkeypatch)
    assert args.command in COMMANDS


@pytest.mark.parametrize("name", LFG_SERVICES)
def test_compose_environment_is_made_of_settings(name: str) -> None:
    (env,) = [e for n, _, e in compose_cases() if n == name]
    unknown = set(env) - SETTINGS_ENV - OTHER_SERVER_ENV
    assert not unknown, f"{name}: not server settings: {unknown}"


@pytest.mark.parametrize("name", LFG_SERVICES)
def test_compose_settings_validate_and_match_ports_and_shard_ids(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ((command, env),) = [(c, e) for n, c, e in compose_cases() if n == name]
    args = parse_lfg(command, monkeypatch)
    distributed = args.command in ("gateway", "shard")
    overrides = {"port": getattr(args, "port", None)} if args.command == "gateway" else {}
    settings = config.load(env, embedded=not distributed, **overrides)
    if distributed:
        assert settings.database_url and settings.redis_url and not settings.jwt_secret_generated
        assert settings.host == "0.0.0.0", name
    service = compose_services()[name]
    published = {int(p.rsplit(":", 1)[1]) for p in service.get("ports", [])}
    if args.command == "gateway":
        assert published == {settings.port}, name
    if args.command == "shard":
        assert 0 <= args.id < settings.shards, (
            f"{name}: --id {args.id}, LFG_SHARDS {settings.shards}"
        )
        assert published <= {settings.metrics_port or settings.port}, name


def test_compose_runs_every_shard_id_and_only_gateways_get_the_admin() -> None:
    cases = list(compose_cases())
    ids = {int(c[-1]) for _, c, _ in cases if c[0] == "shard"}
    shards = {int(e["LFG_SHARDS"]) for _, _, e in cases}
    assert len(shards) == 1 and ids == set(range(shards.pop()))
    for name, command, env in cases:
        has_admin = {"LFG_ADMIN_EMAIL", "LFG_ADMIN_PASSWORD"} & set(env)
        assert bool(has_admin) == (command[0] == "gateway"), name


def test_prometheus_scrapes_the_ports_the_compose_processes_listen_on() -> None:
    scrape = yaml.safe_load((K8S.parent / "prometheus" / "prometheus.yml").read_text())
    targets = {
        t
        for job in scrape["scrape_configs"]
        if job["job_name"].startswith("lfg-")
        for s in job["static_configs"]
        for t in s["targets"]
    }
    for name, command, env in compose_cases():
        if command[0] in ("gateway", "shard"):
            port = command[command.index("--port") + 1] if "--port" in command else None
            port = port or env.get("LFG_METRICS_PORT") or env.get("LFG_PORT", "8000")
            assert f"{name}:{port}" in targets, name


# --- Kubernetes ---------------------------------------------------------------------------


def k8s_containers(overlay: str) -> Iterator[tuple[str, dict[str, Any], dict[str, str]]]:
    """(workload/container, container, its environment as the pod sees it, with the
    ConfigMap, fake secrets and downward-API values filled in)."""
    objs = render(overlay)
    (configmap,) = of_kind(objs, "ConfigMap")
    for workload in lfg_workloads(objs):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        pod = workload["spec"]["template"]["spec"]
        for container in pod["containers"] + pod.get("initContainers", []):
            env = dict(FAKE_SECRETS)
            env.update(configmap["data"])
            for e in container.get("env", []):
                if "value" in e:
                    env[e["name"]] = e["value"]
                else:
                    path = e["valueFrom"]["fieldRef"]["fieldPath"]
                    key = re.fullmatch(r"metadata\.labels\['([^']+)'\]", path)
                    assert key, path
                    env[e["name"]] = labels[key[1]]
            yield f"{workload['metadata']['name']}/{container['name']}", container, env


def expand(args: list[str], env: dict[str, str]) -> list[str]:
    """Kubernetes' $(VAR) expansion in args."""
    return [re.sub(r"\$\((\w+)\)", lambda m: env[m[1]], a) for a in args]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_commands_parse_with_the_real_cli(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for where, container, env in k8s_containers(overlay):
        with monkeypatch.context() as m:
            args = parse_lfg(expand(container["args"], env), m)
        assert args.command in ("gateway", "shard", "migrate"), where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_environment_is_made_of_settings(overlay: str) -> None:
    objs = render(overlay)
    (configmap,) = of_kind(objs, "ConfigMap")
    assert not set(configmap["data"]) - SETTINGS_ENV - OTHER_SERVER_ENV
    template = yaml.safe_load((K8S / "base" / "secret.template.yaml").read_text())
    assert set(template["stringData"]) == set(FAKE_SECRETS) <= SETTINGS_ENV
    for workload in lfg_workloads(objs):
        pod = workload["spec"]["template"]["spec"]
        for container in pod["containers"] + pod.get("initContainers", []):
            names = {e["name"] for e in container.get("env", [])}
            unknown = names - SETTINGS_ENV - OTHER_SERVER_ENV - ARG_ONLY_ENV
            assert not unknown, f"{container['name']}: not server settings: {unknown}"
            for only in names & ARG_ONLY_ENV:
                assert any(f"$({only})" in a for a in container["args"]), only


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_settings_validate_and_probes_use_the_listening_port(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    shards = set()
    for where, container, env in k8s_containers(overlay):
        with monkeypatch.context() as m:
            args = parse_lfg(expand(container["args"], env), m)
        if args.command == "migrate":
            assert config.load(env).database_url, where  # else it starts its own PostgreSQL
            continue
        overrides = {"port": args.port} if args.command == "gateway" else {}
        settings = config.load(env, embedded=False, **overrides)
        assert settings.host == "0.0.0.0", where
        listens = settings.port
        if args.command == "shard":
            assert 0 <= args.id < settings.shards, where
            shards.add(args.id)
            listens = settings.metrics_port or settings.port
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert ports[container[probe]["httpGet"]["port"]] == listens, (where, probe)
        assert ports["http"] == listens, where  # the Services' targetPort and the scrape port
    (configmap,) = of_kind(render(overlay), "ConfigMap")
    assert shards == set(range(int(configmap["data"]["LFG_SHARDS"])))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_schema_is_migrated_before_a_shard_starts_and_admin_goes_to_gateways_only(
    overlay: str,
) -> None:
    """Gateways migrate at start (server/gateway/app.py); shards never do, so every shard
    pod runs `lfg migrate` first. The optional admin Secret is mounted on gateways only."""
    for workload in lfg_workloads(render(overlay)):
        pod = workload["spec"]["template"]["spec"]
        component = workload["spec"]["template"]["metadata"]["labels"][
            "app.kubernetes.io/component"
        ]
        (main,) = pod["containers"]
        assert main["args"][0] == component
        if component == "shard":
            assert [c["args"] for c in pod["initContainers"]] == [["migrate"]]
        admin = [r for r in main["envFrom"] if r.get("secretRef", {}).get("name") == "lfg-admin"]
        if component == "gateway":
            assert admin and admin[0]["secretRef"]["optional"] is True
        else:
            assert not admin


# --- the image ----------------------------------------------------------------------------


def test_dockerfile_default_command_parses_and_its_env_is_made_of_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = stages()[-1]
    args = parse_lfg(json.loads(runtime.all("CMD")[-1]), monkeypatch)
    assert args.command == "serve"
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(runtime.all("ENV"))))
    assert not set(env) - SETTINGS_ENV - IMAGE_ENV
    settings = config.load({k: v for k, v in env.items() if k.startswith("LFG_")})
    assert (settings.host, settings.port) == ("0.0.0.0", 8000)  # the HEALTHCHECK's port
    assert [p.split("/")[0] for p in runtime.all("EXPOSE")] == [str(settings.port)]
