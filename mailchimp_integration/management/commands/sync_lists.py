"""`manage.py sync_lists`: import every Mailchimp audience, group category and group now."""
import contextlib
import logging
import sys

from django.core.management.base import BaseCommand

from mailchimp_integration import services
from mailchimp_integration.models import SyncRun


@contextlib.contextmanager
def quiet_unless_verbose(verbosity: int, logger: str = "mailchimp_integration"):
    """Below -v 2 the command's own lines say it all: the logger says only errors, for the
    command's run (the level is put back after, for the rest of the process)."""
    log = logging.getLogger(logger)
    level = log.level
    if verbosity < 2:
        log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


class ProgressBar:
    """A one-line bar on stderr, redrawn with \\r; silent when stderr is not a terminal."""

    WIDTH = 30

    def __init__(self, stream, *, label: str = "Syncing Mailchimp lists", unit: str = "calls"):
        self.stream = stream
        self.label, self.unit = label, unit
        self.enabled = stream.isatty()
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        filled = int(self.WIDTH * min(done, total) / total)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{total} {self.unit}")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()


class Command(BaseCommand):
    help = (
        "Import every Mailchimp audience, group category and group (all pages). "
        "Prints one summary line; exits 1 with the reason if Mailchimp cannot be used."
    )

    def handle(self, *args, **options):
        bar = ProgressBar(sys.stderr)
        run = services.sync_run_create(trigger=SyncRun.Trigger.COMMAND)
        # The summary or the one error line says it all; retries are logged with -v 2.
        with quiet_unless_verbose(options["verbosity"]):
            try:
                run = services.sync_run_execute(run_id=run.pk, on_progress=bar)
            finally:
                bar.close()
        if run.state != SyncRun.State.SUCCEEDED:
            # One clear line and status 1 (CommandError would prefix "CommandError: ").
            self.stderr.write(f"sync_lists: {run.error}")
            sys.exit(1)
        self.stdout.write(run.summary)
