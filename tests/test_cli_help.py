"""`news-archive --help`: every command, argument and option says what it is for."""

import subprocess
import sys
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from app.cli import cli
from tests.conftest import ROOT


def commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The path of every command under `group`, groups included."""
    for name, command in group.commands.items():
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))


def lookup(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


def help_text(*args: str) -> str:
    result = CliRunner().invoke(cli, [*args, "--help"], prog_name="news-archive")
    assert result.exit_code == 0, result.output
    return result.output


ALL = sorted(commands(cli))


def test_the_top_level_usage_lists_every_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    listed = result.stdout.split("Commands:", 1)[1]
    for name in cli.commands:
        assert f"\n  {name} " in listed, name
    assert "keys" in cli.commands  # the groups registered from other modules are there too


@pytest.mark.parametrize("path", ALL, ids=" ".join)
def test_every_command_has_a_one_line_help(path: tuple[str, ...]) -> None:
    command = lookup(path)
    summary = command.get_short_help_str(limit=1000)
    assert summary, f"{' '.join(path)} has no help"
    assert "..." not in summary  # cut short in the listing of its group
    assert len(summary) <= 80, summary


@pytest.mark.parametrize("path", ALL, ids=" ".join)
def test_every_argument_and_option_is_explained(path: tuple[str, ...]) -> None:
    command = lookup(path)
    text = help_text(*path)
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"{' '.join(path)} {param.opts[0]} has no help"
        else:  # click arguments take no help: the command's text names them
            assert param.human_readable_name in (command.help or ""), param.name
            assert param.human_readable_name in text


def test_keys_create_shows_that_the_scope_defaults_to_read() -> None:
    text = help_text("keys", "create")
    assert "[default: read]" in " ".join(text.split())
    assert "read|write|admin" in text


def test_serve_help_names_the_host_and_port_settings() -> None:
    text = help_text("serve")
    assert "HOST" in text
    assert "PORT" in text
    assert "127.0.0.1:8000" in text
