"""GitHub Actions workflows: valid for GitHub's schema, clean under zizmor, actions pinned
by commit SHA, minimal permissions, no persisted credentials, and the same make targets
developers run."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from .tools import ROOT, require_tool, run

GITHUB = ROOT / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))


def load(path: Path) -> dict[str, Any]:
    # PyYAML reads the key `on` as True (YAML 1.1); normalise it back.
    data: dict[Any, Any] = yaml.safe_load(path.read_text())
    if True in data:
        data["on"] = data.pop(True)
    return data


def steps() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{path.name}:{job_name}", step)
        for path in WORKFLOWS
        for job_name, job in load(path)["jobs"].items()
        for step in job["steps"]
    ]


def test_the_four_workflows_exist() -> None:
    assert {p.stem for p in WORKFLOWS} == {"test", "lint", "security", "container"}


def test_workflows_validate_against_the_github_schema() -> None:
    checker = require_tool("check-jsonschema")
    result = run([checker, "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)])
    assert result.returncode == 0, result.stdout + result.stderr
    result = run([checker, "--builtin-schema", "vendor.dependabot", str(GITHUB / "dependabot.yml")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_offline_reports_nothing_above_low() -> None:
    zizmor = require_tool("zizmor")
    result = run([zizmor, "--offline", "--format", "json", "--persona", "pedantic", str(GITHUB)])
    # 0: no findings; 10 + n: findings up to severity n; anything else is an error.
    assert result.returncode == 0 or 10 <= result.returncode <= 14, result.stderr
    findings = json.loads(result.stdout)
    serious = [
        (f["ident"], f["determinations"]["severity"])
        for f in findings
        if f["determinations"]["severity"] not in ("Informational", "Low", "Unknown")
    ]
    assert not serious, serious


def test_zizmor_does_flag_an_unpinned_action(tmp_path: Path) -> None:
    zizmor = require_tool("zizmor")
    workflow = tmp_path / "bad.yml"
    workflow.write_text(
        "on: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - uses: actions/checkout@v5\n"
    )
    result = run([zizmor, "--offline", "--format", "json", str(workflow)])
    findings = {f["ident"]: f["determinations"]["severity"] for f in json.loads(result.stdout)}
    assert findings["unpinned-uses"] == "High" and "artipacked" in findings
    assert result.returncode == 14


@pytest.mark.parametrize("where,step", steps(), ids=lambda v: v if isinstance(v, str) else "")
def test_actions_are_pinned_to_a_full_commit_sha(where: str, step: dict[str, Any]) -> None:
    if "uses" in step:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), (
            f"{where}: {step['uses']}"
        )


def test_pinned_shas_carry_their_version_as_a_comment() -> None:
    for path in WORKFLOWS:
        for line in path.read_text().splitlines():
            if "uses:" in line:
                assert re.search(r"@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), (
                    f"{path.name}: {line.strip()}"
                )


def test_checkout_never_persists_credentials() -> None:
    checkouts = [(w, s) for w, s in steps() if s.get("uses", "").startswith("actions/checkout@")]
    assert checkouts
    for where, step in checkouts:
        assert step["with"]["persist-credentials"] is False, where


def test_permissions_are_minimal() -> None:
    for path in WORKFLOWS:
        workflow = load(path)
        assert workflow["permissions"] == {"contents": "read"}, path.name
        for name, job in workflow["jobs"].items():
            permissions = job.get("permissions", {"contents": "read"})
            extra = {
                k: v
                for k, v in permissions.items()
                if v != "read" and (k, v) != ("contents", "read")
            }
            if extra:
                assert (path.name, name, extra) == (
                    "container.yml",
                    "publish",
                    {"packages": "write"},
                )
                assert job["if"].startswith("startsWith(github.ref, 'refs/tags/v')")


def test_every_job_has_a_timeout() -> None:
    for path in WORKFLOWS:
        for name, job in load(path)["jobs"].items():
            assert 0 < job["timeout-minutes"] <= 60, f"{path.name}:{name}"


def test_workflows_run_the_developer_make_targets() -> None:
    def commands(stem: str) -> str:
        return " ".join(s.get("run", "") for w, s in steps() if w.startswith(f"{stem}.yml:"))

    assert "make test" in commands("test")
    assert "make lint" in commands("lint")
    assert "bandit" in commands("security") and "pip-audit" in commands("security")
