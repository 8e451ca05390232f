"""Generate docs/CLI.md from the commands' own ``--help`` output."""

from __future__ import annotations

from typer.main import get_command
from typer.testing import CliRunner

from virtuna.cli.app import app


def _walk(prefix: list[str], command: object) -> list[list[str]]:
    paths = [prefix]
    commands = getattr(command, "commands", None) or {}
    for name in sorted(commands):
        paths.extend(_walk([*prefix, name], commands[name]))
    return paths


def render_cli_reference() -> str:
    runner = CliRunner()
    parts = [
        "# CLI reference\n\nGenerated from `--help` by `make docs`; a test keeps it current.\n"
    ]
    for path in _walk([], get_command(app)):
        result = runner.invoke(
            app, [*path, "--help"], env={"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}
        )
        title = " ".join(["virtuna", *path])
        text = "\n".join(line.rstrip() for line in result.output.strip("\n").splitlines())
        parts.append(f"\n## `{title}`\n\n```text\n{text}\n```\n")
    return "".join(parts)


if __name__ == "__main__":
    import sys

    sys.stdout.write(render_cli_reference())
