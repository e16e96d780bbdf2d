"""One CLI manner: every command's options from one vocabulary (infobip_inbound.shell.vocabulary), one default
page for every list, and the global options taken before or after the subcommand."""

from __future__ import annotations

from collections.abc import Iterator

import click
from click.testing import CliRunner

from infobip_inbound.shell.cli import main
from infobip_inbound.shell.store_commands import LIST_LIMIT
from infobip_inbound.shell.vocabulary import RETIRED

# A list whose --limit is another system's page size, not ours to choose.
OWN_PAGE = {"infobip omni scenarios list": "Infobip's page size (with --page), sent as asked"}


def commands() -> Iterator[tuple[str, click.Command]]:
    def walk(command: click.Command, path: list[str]) -> Iterator[tuple[str, click.Command]]:
        if isinstance(command, click.Group):
            for name, sub in sorted(command.commands.items()):
                yield from walk(sub, [*path, name])
        else:
            yield " ".join(path), command

    yield from walk(main, [])


def help_of(path: str) -> str:
    outcome = CliRunner().invoke(main, [*path.split(), "--help"])
    assert outcome.exit_code == 0, (path, outcome.output)
    return outcome.output


def test_every_command_speaks_the_one_vocabulary() -> None:
    for path, command in commands():
        shown = help_of(path)
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.opts[0] not in RETIRED, f"{path}: {param.opts[0]} is {RETIRED[param.opts[0]]} now"
        for retired in RETIRED:
            assert f" {retired} " not in shown and f" {retired}," not in shown, f"{path} shows {retired}"


def test_every_list_shows_one_default_page() -> None:
    for path, command in commands():
        limits = [p for p in command.params if isinstance(p, click.Option) and "--limit" in p.opts]
        if not limits or path in OWN_PAGE:
            continue
        if path.endswith(("list", "reports")):
            assert limits[0].default == LIST_LIMIT, f"{path}: --limit defaults to {limits[0].default}"


def test_the_names_they_replace_still_work_for_a_release() -> None:
    for args in (["serve", "--workers", "2"], ["register", "--app", "a"], ["infobip", "push", "send", "--text", "t"]):
        outcome = CliRunner().invoke(main, [*args, "--help"])
        assert outcome.exit_code == 0, (args, outcome.output)


def test_global_options_come_before_or_after_the_subcommand() -> None:
    for args in (["-v", "schema"], ["schema", "-v"], ["schema", "--verbose"]):
        outcome = CliRunner().invoke(main, args)
        assert outcome.exit_code == 0, (args, outcome.output)
        assert '"UserResponse"' in outcome.output
