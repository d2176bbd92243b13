"""``--help``, ``-h`` and ``--version`` on the program and on every subcommand."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer

import labelaudit
from labelaudit.cli import app, run

COMMANDS = sorted(typer.main.get_command(app).commands)


def test_every_shipped_command_is_covered():
    assert {"audit", "annotators", "demo", "sample", "verify", "plan"} <= set(COMMANDS)


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)], ids=["labelaudit", *COMMANDS])
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_and_short_help_exit_zero_with_usage(command, flag, capsys):
    assert run([*command, flag]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Usage: labelaudit {' '.join(command)}".rstrip())
    assert "-h, --help" in out and "--version" in out


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)], ids=["labelaudit", *COMMANDS])
def test_version_prints_the_package_version(command, capsys):
    # Eager: required arguments and options of the command are not needed.
    assert run([*command, "--version"]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"labelaudit {labelaudit.__version__}\n"
    assert captured.err == ""


def test_version_of_the_installed_program_in_a_fresh_process():
    out = subprocess.run([sys.executable, "-m", "labelaudit", "audit", "--version"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"labelaudit {labelaudit.__version__}"
