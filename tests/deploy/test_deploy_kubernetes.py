"""The Kubernetes manifests: both overlays render with kustomize, every object validates
against the Kubernetes schemas, and the properties the design depends on hold."""

from __future__ import annotations

import copy
import functools
from typing import Any

import kubernetes_validate
import pytest
import yaml

from .tools import DEPLOY, require_tool, run

K8S = DEPLOY / "k8s"
OVERLAYS = ["dev", "prod"]
# Oldest Kubernetes minor we support, and the newest schema the validator carries.
K8S_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
# API groups of CustomResourceDefinitions: no schema is bundled for them.
CRD_GROUPS = {"monitoring.coreos.com"}
# Created with kubectl, never rendered (see deploy/k8s/base/secret.template.yaml).
EXTERNAL_SECRETS = {"lfg-secrets"}
# Optional Secrets (secretRef optional: true), also created with kubectl when wanted.
OPTIONAL_SECRETS = {"lfg-admin"}

Obj = dict[str, Any]


@functools.cache
def render(overlay: str) -> tuple[Obj, ...]:
    kubectl = require_tool("kubectl")
    result = run([kubectl, "kustomize", str(K8S / "overlays" / overlay)])
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def of_kind(objs: tuple[Obj, ...], kind: str) -> list[Obj]:
    return [o for o in objs if o["kind"] == kind]


def named(objs: tuple[Obj, ...], kind: str, name: str) -> Obj:
    matches = [o for o in of_kind(objs, kind) if o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def workloads(objs: tuple[Obj, ...]) -> list[Obj]:
    return [o for o in objs if o["kind"] in ("Deployment", "StatefulSet")]


def lfg_workloads(objs: tuple[Obj, ...]) -> list[Obj]:
    return [
        o
        for o in workloads(objs)
        if o["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/name") == "lfg"
    ]


def selects(selector: Obj, labels: dict[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels and matchExpressions) selects these labels."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        present = expr["key"] in labels
        value = labels.get(expr["key"])
        match expr["operator"]:
            case "In":
                ok = present and value in expr["values"]
            case "NotIn":
                ok = not present or value not in expr["values"]
            case "Exists":
                ok = present
            case "DoesNotExist":
                ok = not present
            case other:
                raise AssertionError(f"unknown operator {other}")
        if not ok:
            return False
    return True


def pod_labels(objs: tuple[Obj, ...]) -> list[dict[str, str]]:
    return [w["spec"]["template"]["metadata"]["labels"] for w in workloads(objs)]


# --- rendering and schemas ----------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_with_kustomize(overlay: str) -> None:
    objs = render(overlay)
    assert objs
    for obj in objs:
        assert obj.get("apiVersion") and obj.get("kind") and obj["metadata"].get("name")
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace"), f"{obj['kind']} without namespace"


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_object_validates_against_the_kubernetes_schema(overlay: str, version: str) -> None:
    for obj in render(overlay):
        if obj["apiVersion"].split("/")[0] in CRD_GROUPS:
            continue  # checked field by field in test_servicemonitor_has_required_fields
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{overlay}: {obj['kind']}/{obj['metadata']['name']}: {e}")


def test_the_schema_validator_rejects_a_misspelled_field() -> None:
    deployment = copy.deepcopy(named(render("prod"), "Deployment", "lfg-gateway"))
    deployment["spec"]["replica"] = 3  # typo of "replicas"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[0], strict=True)


def test_only_known_custom_resources_are_rendered() -> None:
    for overlay in OVERLAYS:
        crds = [o for o in render(overlay) if o["apiVersion"].split("/")[0] in CRD_GROUPS]
        assert [o["kind"] for o in crds] == ["ServiceMonitor"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_servicemonitor_has_required_fields(overlay: str) -> None:
    objs = render(overlay)
    (monitor,) = of_kind(objs, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    spec = monitor["spec"]
    assert isinstance(spec["selector"], dict) and spec["selector"]
    assert spec["endpoints"], "a ServiceMonitor needs at least one endpoint"
    services = [
        s for s in of_kind(objs, "Service") if selects(spec["selector"], s["metadata"]["labels"])
    ]
    assert {s["metadata"]["name"] for s in services} == {"lfg-gateway", "lfg-shard"}
    for endpoint in spec["endpoints"]:
        assert endpoint["path"] == "/metrics"
        for service in services:
            assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}


def test_secret_template_validates_and_no_secret_is_rendered() -> None:
    template = yaml.safe_load((K8S / "base" / "secret.template.yaml").read_text())
    kubernetes_validate.validate(template, K8S_VERSIONS[0], strict=True)
    assert template["metadata"]["name"] in EXTERNAL_SECRETS
    assert all("REPLACE_ME" in v for v in template["stringData"].values())
    for overlay in OVERLAYS:
        assert not of_kind(render(overlay), "Secret"), "secrets are created with kubectl"


# --- pods ---------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_is_hardened(overlay: str) -> None:
    """Meets the `restricted` Pod Security Standard the namespace enforces, and more."""
    for workload in workloads(render(overlay)):
        name = workload["metadata"]["name"]
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod.get("automountServiceAccountToken") is False, name
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in pod["containers"] + pod.get("initContainers", []):
            where = f"{name}/{container['name']}"
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in sc["capabilities"], where
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), where
            for mount in container.get("volumeMounts", []):
                source = volumes.get(mount["name"])
                templates = {
                    t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])
                }
                assert source is not None or mount["name"] in templates, where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_lfg_containers_have_tmp_on_emptydir_and_probes(overlay: str) -> None:
    for workload in lfg_workloads(render(overlay)):
        pod = workload["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        for container in pod["containers"] + pod.get("initContainers", []):
            tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert tmp and "emptyDir" in volumes[tmp[0]["name"]], container["name"]
        for container in pod["containers"]:
            ports = {p["name"] for p in container["ports"]}
            assert container["livenessProbe"]["httpGet"]["path"] == "/health"
            assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
            assert container["startupProbe"]["httpGet"]["path"] == "/health"
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                assert container[probe]["httpGet"]["port"] in ports


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_lfg_containers_read_config_and_the_documented_secret(overlay: str) -> None:
    objs = render(overlay)
    configmaps = {c["metadata"]["name"] for c in of_kind(objs, "ConfigMap")}
    for workload in lfg_workloads(objs):
        pod = workload["spec"]["template"]["spec"]
        for container in pod["containers"] + pod.get("initContainers", []):
            refs = container["envFrom"]
            assert {r["configMapRef"]["name"] for r in refs if "configMapRef" in r} <= configmaps
            required = {
                r["secretRef"]["name"]
                for r in refs
                if "secretRef" in r and not r["secretRef"].get("optional")
            }
            optional = {
                r["secretRef"]["name"]
                for r in refs
                if "secretRef" in r and r["secretRef"].get("optional")
            }
            assert required == EXTERNAL_SECRETS and optional <= OPTIONAL_SECRETS


def test_prod_images_come_from_a_registry_with_a_fixed_tag() -> None:
    for workload in workloads(render("prod")):
        pod = workload["spec"]["template"]["spec"]
        for container in pod["containers"] + pod.get("initContainers", []):
            image = container["image"]
            assert "/" in image and ":" in image.rsplit("/", 1)[-1], image
            assert not image.endswith(":latest"), image


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_namespace_enforces_the_restricted_pod_security_standard(overlay: str) -> None:
    (namespace,) = of_kind(render(overlay), "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


# --- gateways -----------------------------------------------------------------------------


def test_gateway_autoscales_3_to_20_on_cpu_and_websocket_connections() -> None:
    objs = render("prod")
    hpa = named(objs, "HorizontalPodAutoscaler", "lfg-gateway")
    spec = hpa["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (3, 20)
    target = spec["scaleTargetRef"]
    assert target["kind"] == "Deployment"
    deployment = named(objs, "Deployment", target["name"])
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
    resource = [m["resource"] for m in spec["metrics"] if m["type"] == "Resource"]
    assert resource and resource[0]["name"] == "cpu"
    pods = [m["pods"] for m in spec["metrics"] if m["type"] == "Pods"]
    assert pods and pods[0]["metric"]["name"] == "lfg_ws_connections"
    assert pods[0]["target"]["type"] == "AverageValue"


def test_gateway_rolls_out_without_losing_capacity() -> None:
    deployment = named(render("prod"), "Deployment", "lfg-gateway")
    strategy = deployment["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0
    pod = deployment["spec"]["template"]["spec"]
    assert pod["containers"][0]["args"][:1] == ["gateway"]
    assert "--port" in pod["containers"][0]["args"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pdb_and_service_selects_pods(overlay: str) -> None:
    objs = render(overlay)
    labels = pod_labels(objs)
    for pdb in of_kind(objs, "PodDisruptionBudget"):
        assert any(selects(pdb["spec"]["selector"], lbl) for lbl in labels), pdb["metadata"]["name"]
    for service in of_kind(objs, "Service"):
        selector = {"matchLabels": service["spec"]["selector"]}
        backends = [
            w
            for w in workloads(objs)
            if selects(selector, w["spec"]["template"]["metadata"]["labels"])
        ]
        assert backends, service["metadata"]["name"]
        for port in service["spec"]["ports"]:
            target = port["targetPort"]
            for backend in backends:
                container_ports = {
                    p.get("name")
                    for c in backend["spec"]["template"]["spec"]["containers"]
                    for p in c.get("ports", [])
                }
                assert target in container_ports, (service["metadata"]["name"], target)


# --- shards -------------------------------------------------------------------------------


def shard_sets(objs: tuple[Obj, ...]) -> list[Obj]:
    return [
        s
        for s in of_kind(objs, "StatefulSet")
        if s["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component") == "shard"
    ]


def test_each_shard_id_is_a_statefulset_of_active_and_standby_on_different_nodes() -> None:
    objs = render("prod")
    sets = shard_sets(objs)
    ids = [s["spec"]["template"]["metadata"]["labels"]["lfg.io/shard"] for s in sets]
    assert sorted(ids) == ["0", "1"]
    for sts, shard_id in zip(sets, ids, strict=True):
        spec = sts["spec"]
        assert sts["metadata"]["name"] == f"lfg-shard-{shard_id}"
        assert spec["replicas"] == 2, "active + hot standby"
        assert spec["selector"]["matchLabels"]["lfg.io/shard"] == shard_id
        headless = named(objs, "Service", spec["serviceName"])
        assert headless["spec"]["clusterIP"] == "None"
        pod = spec["template"]["spec"]
        (container,) = pod["containers"]
        assert container["args"] == ["shard", "--id", "$(SHARD_ID)"]
        (env,) = [e for e in container["env"] if e["name"] == "SHARD_ID"]
        assert env["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['lfg.io/shard']"
        (term,) = pod["affinity"]["podAntiAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"
        ]
        assert term["topologyKey"] == "kubernetes.io/hostname"
        assert term["labelSelector"]["matchLabels"]["lfg.io/shard"] == shard_id
        assert selects(term["labelSelector"], spec["template"]["metadata"]["labels"])
        (init,) = pod["initContainers"]
        assert init["args"] == ["migrate"]
        pdbs = [
            p
            for p in of_kind(objs, "PodDisruptionBudget")
            if selects(p["spec"]["selector"], spec["template"]["metadata"]["labels"])
        ]
        assert len(pdbs) == 1 and pdbs[0]["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_configured_shard_count_matches_the_shard_statefulsets(overlay: str) -> None:
    objs = render(overlay)
    (config,) = of_kind(objs, "ConfigMap")
    assert int(config["data"]["LFG_SHARDS"]) == len(shard_sets(objs))


def test_dev_runs_one_pod_per_shard() -> None:
    assert [s["spec"]["replicas"] for s in shard_sets(render("dev"))] == [1, 1]


# --- ingress and network --------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingress_has_tls_from_cert_manager_and_websocket_timeouts(overlay: str) -> None:
    objs = render(overlay)
    ingress = named(objs, "Ingress", "lfg")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["cert-manager.io/cluster-issuer"]
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    (tls,) = ingress["spec"]["tls"]
    hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
    assert set(tls["hosts"]) == hosts and tls["secretName"]
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            service = named(objs, "Service", backend["name"])
            assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    deny = named(objs, "Ingress", "lfg-deny-metrics")
    assert (
        deny["metadata"]["annotations"]["nginx.ingress.kubernetes.io/whitelist-source-range"]
        == "127.0.0.1/32"
    )
    (rule,) = deny["spec"]["rules"]
    assert rule["host"] in hosts
    assert [(p["path"], p["pathType"]) for p in rule["http"]["paths"]] == [("/metrics", "Exact")]


def policies_for(objs: tuple[Obj, ...], labels: dict[str, str], kind: str) -> list[Obj]:
    return [
        p
        for p in of_kind(objs, "NetworkPolicy")
        if kind in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], labels)
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_deny_by_default_and_allow_only_the_needed_flows(overlay: str) -> None:
    objs = render(overlay)
    default = named(objs, "NetworkPolicy", "default-deny-all")
    assert default["spec"]["podSelector"] == {}
    assert set(default["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in default["spec"] and "egress" not in default["spec"]
    for workload in lfg_workloads(objs):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        component = labels["app.kubernetes.io/component"]
        egress_ports = {
            (port["protocol"], port["port"])
            for policy in policies_for(objs, labels, "Egress")
            for rule in policy["spec"].get("egress", [])
            for port in rule["ports"]
        }
        assert egress_ports == {("UDP", 53), ("TCP", 53), ("TCP", 5432), ("TCP", 6379)}, component
        sources = {
            peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            for policy in policies_for(objs, labels, "Ingress")
            for rule in policy["spec"].get("ingress", [])
            for peer in rule["from"]
        }
        expected = {"ingress-nginx", "monitoring"} if component == "gateway" else {"monitoring"}
        assert sources == expected, component
