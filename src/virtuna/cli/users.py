"""`virtuna users`: accounts and API keys."""

from __future__ import annotations

import typer

from virtuna.cli.common import out, print_json, run, settings_or_exit
from virtuna.kit.startup import session_scope
from virtuna.users import service

app = typer.Typer(help="Create and list users.", no_args_is_help=True)


@app.command()
def create(
    email: str = typer.Argument(..., help="The user's email address."),
    admin: bool = typer.Option(False, "--admin", help="Grant the admin role."),
    plan: str = typer.Option("free", "--plan", help=f"Plan: {', '.join(service.PLANS)}."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create a user and print a new API key (shown once; only its hash is stored)."""
    settings = settings_or_exit()

    async def body() -> service.NewUser:
        async with session_scope(settings) as session:
            return await service.create_user(session, email=email, is_admin=admin, plan=plan)

    created = run(body)
    if as_json:
        print_json(
            {"id": str(created.user.id), "email": created.user.email, "api_key": created.api_key}
        )
        return
    role = "admin" if created.user.is_admin else "user"
    out.print(f"created {role} {created.user.email} (plan {created.user.plan})")
    out.print("API key (store it now, it is not shown again):")
    print(created.api_key)  # noqa: T201 - the key must be the last line, unstyled


@app.command("list")
def list_users(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List users."""
    settings = settings_or_exit()

    async def body() -> list[dict[str, object]]:
        async with session_scope(settings) as session:
            return [
                {
                    "id": str(u.id),
                    "email": u.email,
                    "plan": u.plan,
                    "admin": u.is_admin,
                    "created_at": u.created_at.isoformat(),
                }
                for u in await service.list_users(session)
            ]

    rows = run(body)
    if as_json:
        print_json(rows)
        return
    for row in rows:
        out.print(f"{row['email']:<40} {row['plan']:<8} {'admin' if row['admin'] else ''}")
    out.print(f"{len(rows)} user(s)")
