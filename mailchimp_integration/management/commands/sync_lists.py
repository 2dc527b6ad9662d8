"""`manage.py sync_lists`: import every Mailchimp audience, group category and group now."""
import logging
import sys

from django.core.management.base import BaseCommand

from mailchimp_integration import services
from mailchimp_integration.models import SyncRun


class ProgressBar:
    """A one-line bar on stderr, redrawn with \\r; silent when stderr is not a terminal."""

    WIDTH = 30

    def __init__(self, stream):
        self.stream = stream
        self.enabled = stream.isatty()
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        filled = int(self.WIDTH * min(done, total) / total)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self.stream.write(f"\rSyncing Mailchimp lists [{bar}] {done}/{total} calls")
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
        if options["verbosity"] < 2:
            # The summary or the one error line says it all; retries are logged with -v 2.
            logging.getLogger("mailchimp_integration").setLevel(logging.ERROR)
        bar = ProgressBar(sys.stderr)
        run = services.sync_run_create(trigger=SyncRun.Trigger.COMMAND)
        try:
            run = services.sync_run_execute(run_id=run.pk, on_progress=bar)
        finally:
            bar.close()
        if run.state != SyncRun.State.SUCCEEDED:
            # One clear line and status 1 (CommandError would prefix "CommandError: ").
            self.stderr.write(f"sync_lists: {run.error}")
            sys.exit(1)
        self.stdout.write(run.summary)
