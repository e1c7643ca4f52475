"""Grafana: the dashboards are well-formed JSON that Grafana's file provisioning loads,
and they use only the provisioned datasources and their own template variables."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from .tools import DEPLOY

GRAFANA = DEPLOY / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
BUILTIN_VARIABLES = {"__rate_interval", "__interval", "__range", "__all"}


def load(path: Path) -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(path.read_text())
    return dashboard


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for top in dashboard["panels"] for p in [top, *top.get("panels", [])]]


def test_the_four_dashboards_exist_with_unique_uids() -> None:
    uids = {load(p)["uid"] for p in DASHBOARDS}
    assert uids == {"lfg-trading-overview", "lfg-engine-shards", "lfg-gateways", "lfg-database"}
    for path in DASHBOARDS:
        assert path.stem == load(path)["uid"]


def provisioned_datasources() -> dict[str, str]:
    config = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "lfg.yml").read_text())
    return {ds["uid"]: ds["type"] for ds in config["datasources"]}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_is_well_formed(path: Path) -> None:
    dashboard = load(path)
    assert dashboard["title"].startswith("LFG / ")
    assert isinstance(dashboard["schemaVersion"], int)
    assert "lfg" in dashboard["tags"]
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    datasources = provisioned_datasources()
    variables = {v["name"] for v in dashboard["templating"]["list"]} | BUILTIN_VARIABLES
    for panel in panels(dashboard):
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            ds = target.get("datasource") or panel["datasource"]
            assert datasources.get(ds["uid"]) == ds["type"], (
                f"{panel['title']}: unknown datasource {ds}"
            )
            used = set(re.findall(r"\$\{?(\w+)", target["expr"]))
            assert used <= variables, f"{panel['title']}: undefined variables {used - variables}"
    for variable in dashboard["templating"]["list"]:
        assert datasources.get(variable["datasource"]["uid"]) == variable["datasource"]["type"]


def test_panels_do_not_overlap() -> None:
    for path in DASHBOARDS:
        cells: set[tuple[int, int]] = set()
        for panel in panels(load(path)):
            g = panel["gridPos"]
            area = {
                (x, y)
                for x in range(g["x"], g["x"] + g["w"])
                for y in range(g["y"], g["y"] + g["h"])
            }
            assert not cells & area, f"{path.name}: {panel['title']} overlaps another panel"
            cells |= area


def test_dashboard_provider_reads_the_directory_compose_mounts() -> None:
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "lfg.yml").read_text())
    (entry,) = provider["providers"]
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{entry['options']['path']}:ro" in mounts
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in mounts


def test_datasources_point_at_the_compose_services() -> None:
    config = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "lfg.yml").read_text())
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    for ds in config["datasources"]:
        host = re.match(r"http://([\w-]+):\d+$", ds["url"])
        assert host and host[1] in compose["services"], ds["url"]
