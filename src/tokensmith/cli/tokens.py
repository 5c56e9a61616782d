"""``tokensmith tokens``: housekeeping of issued access tokens."""

from __future__ import annotations

import typer

from tokensmith.cli.common import JSON_OPT, emit, run_with_runtime

tokens_app = typer.Typer(help="Issued access tokens: housekeeping.", no_args_is_help=True)


@tokens_app.command("purge")
def tokens_purge(
    older_than_days: int = typer.Option(7, "--older-than-days", min=0,
                                        help="Keep what expired less than this many days ago."),
    as_json: bool = JSON_OPT,
) -> None:
    """Delete expired opaque access tokens and revocation entries nothing can need any more (run it daily)."""
    from tokensmith.tokens.purge import purge_expired

    emit(run_with_runtime(lambda rt: purge_expired(rt, older_than_days=older_than_days)), as_json,
         lambda v: f"purged {v['accessTokens']} access tokens, {v['revocationEntries']} revocation entries")
