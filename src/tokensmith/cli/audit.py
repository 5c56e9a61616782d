"""``tokensmith audit``: verify, checkpoint, archive (and prune), export."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from tokensmith.cli.common import JSON_OPT, emit, fail, run_with_runtime

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

app = typer.Typer(help="The audit log.", no_args_is_help=True)


def _report(result: dict[str, Any], as_json: bool) -> None:
    emit(result, as_json, _verify_text)
    if not result["ok"]:
        raise typer.Exit(1)


def _verify_text(r: dict[str, Any]) -> str:
    if r.get("chain_ok", r["ok"]):
        text = (f"audit chain OK ({r['events']} events"
                + (f"; head seq {r['head']['seq']} hash {r['head']['hash']}" if r.get("head") else "") + ")")
    else:
        text = "audit chain BROKEN:\n" + "\n".join(f"  seq {p['seq']}: {p['problem']}" for p in r["problems"])
    u = r.get("unwritten")
    if u and u["missing"]:
        text += (f"\nevents recorded but not written: {u['missing']} (crashed process: {u['crashed']}, "
                 f"stalled writer: {u['overdue']}, dead letter: {u['dead_letter']})")
        text += "".join(f"\n  {e['at']} {e['type']} {e['id']}" for e in u["examples"])
    if u and u["sanitised"]:
        text += f"\nevents stored in sanitised form (refused by the database as sent): {u['sanitised']}"
    return text


@app.command("verify")
def verify(
    archive: list[Path] = typer.Option([], "--archive", help="Check these archive files (and their hand-over "
                                       "to the database) instead of the database."),
    since_checkpoint: bool = typer.Option(False, "--since-checkpoint", help="Only the events after the newest "
                                          "signed checkpoint (fast: bounded by the checkpoint interval)."),
    workers: int | None = typer.Option(None, "--workers", min=1, help="Processes to check a long chain with "
                                       "(default: TOKENSMITH_AUDIT_VERIFY_WORKERS, 0 there: one per core)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Check the audit hash chain and look for events recorded but never written (crash spool, dead
    letters); exit status 1 when the chain was tampered with (the seq is reported) or events are missing.

    Without options the whole database is checked, from the newest archived checkpoint on."""
    from tokensmith.audit.archive import verify_archives
    from tokensmith.audit.parallel import default_workers
    from tokensmith.audit.unwritten import unwritten_report
    from tokensmith.audit.verification import verify_database

    async def work(rt: Runtime) -> dict[str, Any]:
        if archive:
            count, problems, handover = await verify_archives(rt, list(archive))
            return {"ok": not problems, "events": count, **handover,
                    "problems": [{"seq": p.seq, "problem": p.problem} for p in sorted(problems, key=lambda p: p.seq)]}
        processes = workers or default_workers(rt.settings.audit_verify_workers)
        view = (await verify_database(rt, since_checkpoint=since_checkpoint, workers=processes)).view()
        unwritten = await unwritten_report(rt, after_seq=(view["first_seq"] or 1) - 1 if since_checkpoint else 0)
        return {**view, "ok": view["ok"] and not unwritten["missing"], "chain_ok": view["ok"],
                "unwritten": unwritten}

    _report(run_with_runtime(work), as_json)


@app.command("checkpoint")
def checkpoint(as_json: bool = JSON_OPT) -> None:
    """Record a signed checkpoint of the chain head now."""
    from tokensmith.audit.checkpoints import create_checkpoint

    async def work(rt: Runtime) -> dict[str, Any]:
        made = await create_checkpoint(rt)
        if made is None:
            return {"seq": None}
        return {"seq": made.seq, "hash": made.hash, "events": made.events, "at": made.at, "jws": made.jws}

    emit(run_with_runtime(work), as_json, lambda r: f"checkpoint of seq {r['seq']} ({r.get('hash')})"
         if r["seq"] else "the audit log is empty: no checkpoint")


def _date(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--before: not an ISO 8601 date or time: {value!r}", 2)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@app.command("archive")
def archive(
    before: str = typer.Option(..., "--before", help="Archive the events up to the newest checkpoint before "
                               "this date/time (ISO 8601, UTC unless an offset is given)."),
    to: Path = typer.Option(..., "--to", help="The archive file to write (gzip JSON lines; never overwritten)."),
    prune: bool = typer.Option(False, "--prune", help="Then delete the archived events from the database."),
    rate: float | None = typer.Option(None, "--rate", min=0, help="Events per second to archive (and then "
                                      "prune) at most; default TOKENSMITH_AUDIT_ARCHIVE_RATE, 0: no cap."),
    nice: int | None = typer.Option(None, "--nice", min=0, max=19, help="Run at this lower priority; default "
                                    "TOKENSMITH_AUDIT_ARCHIVE_NICE."),
    as_json: bool = JSON_OPT,
) -> None:
    """Write old events (with the checkpoints that cover them) to a compressed file; optionally prune.
    Paced and at a lower priority by default, so that it can run beside the serving instances."""
    import os

    from tokensmith.audit.archive import archive as run_archive
    from tokensmith.audit.pacing import Pacing
    from tokensmith.storage.compact import to_micros

    cutoff = to_micros(_date(before))

    async def work(rt: Runtime) -> Any:
        s = rt.settings
        pacing = Pacing(rate=s.audit_archive_rate if rate is None else rate,
                        nice=s.audit_archive_nice if nice is None else nice)
        if pacing.nice:
            os.nice(pacing.nice)  # the whole process: the driver's decoding too, not only the CPU thread
        return await run_archive(rt, cutoff, to, prune=prune, pacing=pacing)

    result = run_with_runtime(work)
    emit(result.view(), as_json, lambda r: f"archived seq {r['first_seq']}..{r['last_seq']} ({r['events']} events)"
         f" to {r['path']}" + (f"; {r['pruned']} pruned" if prune else ""))


@app.command("export")
def export(
    since_seq: int = typer.Option(0, "--since-seq", help="Only events after this sequence number."),
    event_type: str | None = typer.Option(None, "--type", help="Only events of this type."),
) -> None:
    """Print events as JSON lines (with their chain hashes), streamed: constant memory at any size."""
    from tokensmith.audit.operations import export_lines

    async def work(rt: Runtime) -> None:
        out = sys.stdout.buffer
        async for line in export_lines(rt, since_seq, event_type):
            out.write(line + b"\n")
        out.flush()

    run_with_runtime(work)
