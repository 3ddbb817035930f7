"""The ``tenants`` command (installed by the package): the platform's CLI without ``flask``.

``tenants create acme --name Acme ...`` is ``flask --app tenants.wsgi tenants create ...``:
the tenant commands (create, list, suspend, resume, delete, migrate, status, cleanup,
revision) stand at the top, beside the ``db``, ``admin`` and ``jobs`` groups and Flask's
own (``routes``, ``shell``). It needs no ``--app`` and no activated virtual environment
(``.venv/bin/tenants``), which is what a new user types after ``bash scripts/dev.sh``.
Both spellings load the same app (``tenants.wsgi.app``), so the secret-key rules and the
one-line errors are the same.
"""

from __future__ import annotations

from typing import Any

import click
from flask.cli import FlaskGroup, routes_command, shell_command


def _load_console() -> Any:
    from tenants import wsgi

    return wsgi.app


class TenantsCommand(FlaskGroup):
    """Flask's CLI group with the ``tenants`` group's commands lifted to the top."""

    #: The group whose commands are also reachable without its name.
    LIFTED = "tenants"

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is not None or name == self.LIFTED:
            return command
        group = super().get_command(ctx, self.LIFTED)
        if isinstance(group, click.Group):
            return group.get_command(ctx, name)
        return None

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx))
        group = super().get_command(ctx, self.LIFTED)
        if isinstance(group, click.Group):
            names.update(group.list_commands(ctx))
            names.discard(self.LIFTED)
        return sorted(names)


cli = TenantsCommand(
    name="tenants",
    create_app=lambda: _load_console(),
    # Not Flask's ``run``: it would serve the platform app alone, without the tenants.
    # ``tenants-dev`` (bash scripts/dev.sh) is the development server.
    add_default_commands=False,
    help=(
        "Manage the platform: tenants (create, list, suspend, resume, delete, undelete, "
        "purge, read-only, migrate, status, cleanup, revision), their data (backup, "
        "restore, clone, move), platform admins (admin), the platform database (db) and "
        "background jobs (jobs)."
    ),
)
cli.add_command(shell_command)
cli.add_command(routes_command)


def main(argv: list[str] | None = None) -> None:
    """The console script's entry point."""
    cli.main(args=argv, prog_name="tenants")


if __name__ == "__main__":
    main()
