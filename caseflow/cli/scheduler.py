"""`caseflow scheduler run`: the foreground scheduler."""

from typing import Annotated

import typer

from caseflow.cli.base import bad_usage, scheduler_app, workspace_context
from caseflow.i18n import N_, _

RUN_HELP = N_(
    "Run the scheduler in the foreground, for instance as a systemd service.\n\n"
    "It sweeps escalations at start and every scheduler.sweep_every_minutes, and runs the "
    "campaigns on the cron schedules of caseflow.toml [scheduler] (publicity letters, "
    "monthly report) in the workspace's time zone. Only one runs per database: a second "
    "exits 3 naming the holder, unless --wait. SIGTERM or Ctrl-C finishes the current batch, "
    "releases the lease and exits 0."
)


@scheduler_app.command("run", help=RUN_HELP)
def scheduler_run(
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help=N_(
                "If another scheduler holds the lease, wait and take over when it stops "
                "(or when its lease runs out, if it crashed) instead of exiting 3."
            ),
        ),
    ] = False,
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help=N_(
                "Run each interval job (the sweep, then the dispatch) once, then exit; for "
                "hosts that start it from cron. Exits non-zero if a job failed."
            ),
        ),
    ] = False,
    sweep_every: Annotated[
        float | None,
        typer.Option(
            "--sweep-every",
            help=N_("Seconds between sweeps (default: scheduler.sweep_every_minutes)."),
            hidden=True,
        ),
    ] = None,
    lease_seconds: Annotated[
        float | None,
        typer.Option(
            "--lease-seconds",
            help=N_("Lease time to live (default: scheduler.lease_seconds)."),
            hidden=True,
        ),
    ] = None,
    batch_size: Annotated[
        int,
        typer.Option("--batch-size", help=N_("Cases per sweep transaction."), hidden=True),
    ] = 500,
) -> None:
    from datetime import timedelta

    from caseflow.scheduler import Settings, run

    if sweep_every is not None and sweep_every <= 0:
        bad_usage(
            _("--sweep-every must be a number of seconds above 0, got {value:g}").format(
                value=sweep_every
            )
        )
    if lease_seconds is not None and lease_seconds < 1:
        bad_usage(
            _("--lease-seconds must be at least 1, got {value:g}").format(value=lease_seconds)
        )
    if batch_size < 1:
        bad_usage(_("--batch-size must be at least 1"))
    ctx = workspace_context()
    settings = Settings.of(
        ctx.workspace,
        sweep_every=None if sweep_every is None else timedelta(seconds=sweep_every),
        lease_ttl=None if lease_seconds is None else timedelta(seconds=lease_seconds),
        batch_size=batch_size,
    )
    code = run(
        ctx,
        settings,
        wait=wait,
        once=once,
        say=typer.echo,
        warn=lambda message: typer.echo(message, err=True),
    )
    if code:
        raise typer.Exit(code)
