"""The container image recipe: multi-stage, UI built with Node, non-root, a HEALTHCHECK,
no compilers in the final stage, a tight build context, and clean under hadolint."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .tools import DEPLOY, ROOT, require_tool, run

DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
BUILD_TOOLS = ("gcc", "g++", "cc", "clang", "make", "build-essential", "python3-dev", "libc6-dev")


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def instructions() -> list[tuple[str, str]]:
    """(KEYWORD, arguments) with comments dropped and continuation lines joined."""
    text = re.sub(
        r"\\\n",
        " ",
        "\n".join(
            line
            for line in DOCKERFILE.read_text().splitlines()
            if not line.lstrip().startswith("#")
        ),
    )
    result = []
    for line in text.splitlines():
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            result.append((keyword.upper(), args.strip()))
    return result


def stages() -> list[Stage]:
    found: list[Stage] = []
    for keyword, args in instructions():
        if keyword == "FROM":
            match = re.fullmatch(
                r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", args, re.IGNORECASE
            )
            assert match, args
            found.append(Stage(base=match[1], name=(match[2] or str(len(found))).lower()))
        elif found:
            found[-1].instructions.append((keyword, args))
    return found


def test_is_multi_stage_with_a_node_build_of_the_web_ui() -> None:
    names = [s.name for s in stages()]
    assert names == ["web", "build", "runtime"]
    web = stages()[0]
    runs = " && ".join(web.all("RUN"))
    assert "npm ci" in runs and "npm run build" in runs
    assert any("package-lock.json" in args for args in web.all("COPY")), "npm ci needs the lockfile"
    runtime = stages()[-1]
    copies = runtime.all("COPY")
    assert any(
        c.startswith("--from=web ") and c.endswith("/web/dist /app/web/dist") for c in copies
    )
    assert any(c.startswith("--from=build ") for c in copies)


def test_the_python_stage_installs_the_project_in_place_with_pip() -> None:
    """In place at /app, with web/dist beside it, as the gateway looks for the UI there."""
    build = stages()[1]
    assert any(re.search(r"pip install .* -e \.(\s|$)", args) for args in build.all("RUN"))
    assert build.all("WORKDIR") == ["/app"]
    copied = " ".join(build.all("COPY"))
    for needed in ("pyproject.toml", "README.md", "engine/", "server/", "loadtest/"):
        assert needed in copied, needed
    runtime = stages()[-1]
    assert "--from=build /app /app" in runtime.all("COPY")
    assert runtime.all("WORKDIR") == ["/app"]


def test_the_server_listens_on_all_interfaces_in_the_container() -> None:
    env = " ".join(stages()[-1].all("ENV"))
    assert "LFG_HOST=0.0.0.0" in env


def test_final_stage_is_slim_python_without_build_tools() -> None:
    runtime = stages()[-1]
    assert "slim" in runtime.base or "PYTHON_IMAGE" in runtime.base
    arg_defaults = dict(re.findall(r"ARG (\w+)=(\S+)", DOCKERFILE.read_text()))
    base = re.sub(r"\$\{(\w+)\}", lambda m: arg_defaults[m[1]], runtime.base)
    assert re.fullmatch(r"python:3\.1[2-9]-slim(-\w+)?", base), base
    for args in runtime.all("RUN"):
        words = set(re.split(r"[\s;&|]+", args))
        assert not words & set(BUILD_TOOLS), f"final stage installs build tools: {args}"
        assert "apt-get" not in words and "pip" not in words, (
            f"final stage installs packages: {args}"
        )


def test_final_stage_runs_as_a_non_root_user() -> None:
    users = stages()[-1].all("USER")
    assert users, "no USER in the final stage"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert int(user) >= 10000, "a high uid keeps clear of host users"


def test_healthcheck_probes_health_on_port_8000_with_python() -> None:
    (check,) = stages()[-1].all("HEALTHCHECK")
    options, _, command = check.partition("CMD")
    assert "--interval=" in options and "--timeout=" in options
    argv = json.loads(command)
    assert argv[0] == "python"
    assert "http://127.0.0.1:8000/health" in argv[-1]


def test_entrypoint_is_the_lfg_cli_and_port_8000_is_exposed() -> None:
    runtime = stages()[-1]
    assert json.loads(runtime.all("ENTRYPOINT")[-1]) == ["lfg"]
    assert runtime.all("EXPOSE") == ["8000"]
    cmd = json.loads(runtime.all("CMD")[-1])
    assert cmd[0] == "serve" and cmd[cmd.index("--port") + 1] == "8000"


def test_hadolint_finds_nothing() -> None:
    hadolint = require_tool("hadolint")
    result = run([hadolint, "--no-color", str(DOCKERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path: Path) -> None:
    hadolint = require_tool("hadolint")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install gcc\n")
    result = run([hadolint, "--no-color", str(bad)])
    assert result.returncode != 0 and "DL3" in result.stdout


# --- the build context ------------------------------------------------------------------


def ignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """(negated, regex) for each .dockerignore line, as Docker's pattern matcher reads it."""
    patterns = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        path = str(PurePosixPath(line.lstrip("!").strip("/")))
        regex = ""
        for part in re.split(r"(\*\*/?|\*|\?)", path):
            regex += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(
                part, re.escape(part)
            )
        patterns.append((negated, re.compile(regex)))
    return patterns


def ignored(path: str) -> bool:
    """Last matching pattern wins; a pattern matching a parent directory matches the path."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for negated, regex in ignore_patterns():
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            result = not negated
    return result


def test_build_context_includes_what_the_dockerfile_copies() -> None:
    for stage in stages():
        for args in stage.all("COPY"):
            if args.startswith("--from="):
                continue
            *sources, _ = shlex.split(args)
            for source in sources:
                probe = source.rstrip("/") + ("/probe.py" if source.endswith("/") else "")
                assert not ignored(probe), f"{source} is excluded by .dockerignore"


def test_build_context_excludes_local_and_secret_files() -> None:
    for path in (
        ".venv/bin/python",
        ".git/config",
        "var/pg/data",
        "web/node_modules/react/index.js",
        "web/dist/index.html",
        "deploy/.env",
        "server/.env",
        "tests/deploy/test_deploy_dockerfile.py",
        "server/__pycache__/x.pyc",
        "key.pem",
    ):
        assert ignored(path), f"{path} would be sent to the builder"
