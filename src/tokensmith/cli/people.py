"""``tokensmith users|roles|sessions|usertokens``: people of a tenant, their roles, sign-in sessions and
personal user tokens. Every create/list command takes ``--json`` (one JSON document on stdout).

Other features may add commands to these Typer apps (e.g. ``users block`` for exchange users)."""

from __future__ import annotations

import typer

users_app = typer.Typer(help="Users (people who sign in) and exchange users.", no_args_is_help=True)
roles_app = typer.Typer(help="Roles: named permission sets.", no_args_is_help=True)
sessions_app = typer.Typer(help="Sign-in and user-token sessions.", no_args_is_help=True)
usertokens_app = typer.Typer(help="Personal user tokens (long-lived, revocable).", no_args_is_help=True)
