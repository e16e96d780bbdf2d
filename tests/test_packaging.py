"""The wheel as users get it: built by the project's uv, installed into a fresh virtual environment.

It ships one top-level name, `infobip_inbound` (the three portions merged, no `__init__.py` at the top), and
every command and option of the installed CLI answers `--help` with a text of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import ROOT

UV = ROOT / ".tools" / "bin" / "uv"

# Run inside the fresh venv: the click command tree of the installed package, each command's help text and what
# its --help prints (click's test runner: one process for every command rather than one start per command).
WALK = """
import json, sys
import click
from click.testing import CliRunner
import infobip_inbound
from infobip_inbound.shell.cli import main

runner = CliRunner()

def walk(command, path):
    options = [
        {"opts": [*p.opts, *p.secondary_opts], "help": p.help or ""}
        for p in command.params if isinstance(p, click.Option)
    ]
    answer = runner.invoke(main, [*path, "--help"], prog_name="infobip-inbound")
    yield {
        "path": path,
        "help": command.help or command.short_help or "",
        "options": options,
        "exit_code": answer.exit_code,
        "output": answer.output,
    }
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from walk(sub, [*path, name])

json.dump({"package_path": list(infobip_inbound.__path__), "commands": list(walk(main, []))}, sys.stdout)
"""


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"


def _env() -> dict[str, str]:
    """The caller's environment without anything that would point the venv back at the work tree."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"}}
    return {**env, "UV_PYTHON_DOWNLOADS": "never", "NO_COLOR": "1"}


def _run(args: list[str | Path], cwd: Path, timeout: float = 120) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    assert UV.exists(), f"{UV} is missing: run `make install` first"
    work = tmp_path_factory.mktemp("packaging")
    _run([UV, "build", "--wheel", "--out-dir", work / "dist", ROOT], cwd=work)
    (wheel,) = (work / "dist").glob("*.whl")
    # The dependencies pinned as uv.lock pins them (and found in uv's cache), then the wheel itself.
    constraints = work / "constraints.txt"
    _run(
        [UV, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project", "--format", "requirements-txt",
         "--project", ROOT, "--output-file", constraints],
        cwd=work,
    )  # fmt: skip
    venv = work / "venv"
    _run([UV, "venv", "--python", sys.executable, venv], cwd=work)
    _run([UV, "pip", "install", "--python", venv / "bin" / "python", "--constraints", constraints, wheel], cwd=work)
    yield Installed(wheel, venv)


def test_wheel_ships_one_top_level_name(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = wheel.namelist()
        (dist_info,) = {name.split("/")[0] for name in names if name.split("/")[0].endswith(".dist-info")}
        record = wheel.read(f"{dist_info}/RECORD").decode()
        entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
    recorded = [line.split(",")[0] for line in record.splitlines() if line]
    for files in (names, recorded):
        assert {path.split("/")[0] for path in files} == {"infobip_inbound", dist_info}
    # A namespace package: no __init__.py at the top; every portion merged under it.
    assert "infobip_inbound/__init__.py" not in names
    for module in ("contract/model.py", "shell/cli.py", "simulator/app.py", "receiver/app.py", "workers/worker.py"):
        assert f"infobip_inbound/{module}" in names
    assert "infobip_inbound.workers.builtin:jsonl_handler" in entry_points


def test_every_command_and_option_has_help(installed: Installed) -> None:
    tree = json.loads(_run([installed.bin / "python", "-c", WALK], cwd=installed.venv))
    # Imported from the venv, not from the work tree.
    assert [Path(p).resolve() for p in tree["package_path"]] == [
        p.resolve() for p in installed.venv.glob("lib/python*/site-packages/infobip_inbound")
    ]
    commands = tree["commands"]
    assert len(commands) > 20
    assert ["simulator"] in [c["path"] for c in commands]

    def squeeze(text: str) -> str:  # click rewraps help text: compare it without whitespace
        return "".join(text.split())

    # The installed entry point itself answers; every command's --help was taken in the walk above.
    top = _run([installed.bin / "infobip-inbound", "--help"], cwd=installed.venv, timeout=60)
    assert top.startswith("Usage: infobip-inbound")
    assert all(f"  {c['path'][0]} " in top or f"  {c['path'][0]}\n" in top for c in commands if len(c["path"]) == 1)
    missing = []
    for command in commands:
        name = " ".join(["infobip-inbound", *command["path"]])
        output = command["output"]
        assert command["exit_code"] == 0, f"{name} --help:\n{output}"
        assert output.startswith("Usage: infobip-inbound"), f"{name} --help:\n{output}"
        if not command["help"] or squeeze(str(command["help"]).split("\f")[0]) not in squeeze(output):
            missing.append(name)
        for option in command["options"]:  # type: ignore[attr-defined]
            if not option["help"].strip() or squeeze(option["help"]) not in squeeze(output):
                missing.append(f"{name} {'/'.join(option['opts'])}")
            assert option["opts"][0] in output
    assert not missing, f"without help text: {missing}"
