"""What a user expects of the command line: boolean flags with both spellings, one-line errors naming
the bad line, file, host or port, read-only commands that create nothing, paths relative to the
configuration file."""

from __future__ import annotations

import typer.main

from service.cli import app


def every_command(group, prefix: str = "faultline"):
    yield prefix, group
    if hasattr(group, "commands"):   # a group (typer carries its own copy of click's classes)
        for name, command in group.commands.items():
            yield from every_command(command, f"{prefix} {name}")


def test_every_boolean_flag_has_its_no_spelling():
    flags = []
    for name, command in every_command(typer.main.get_command(app)):
        for param in command.params:
            if getattr(param, "is_flag", False) and not param.is_eager:
                flags.append((name, param.opts[0], param.secondary_opts))
    assert flags, "no boolean flags found: the walk over the commands is broken"
    assert [f for f in flags if not f[2]] == []
    assert ("faultline demo", "--fast", ["--no-fast"]) in flags
