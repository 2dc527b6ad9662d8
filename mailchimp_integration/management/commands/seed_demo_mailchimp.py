"""`manage.py seed_demo_mailchimp`: import the lists and offer one audience, for a demo store.

`make run` calls it against the local sandbox so the newsletter box works at once. It changes
no toggle once any audience is switched on, so an admin's choices survive a re-run.
"""
from django.core.management.base import BaseCommand, CommandError

from mailchimp_integration import services
from mailchimp_integration.models import SyncRun


class Command(BaseCommand):
    help = "Import the Mailchimp lists and, if none is on yet, offer the first audience."

    def handle(self, *args, **options):
        # Through a recorded run, so the admin's pages say when and how the lists came in.
        run = services.sync_run_create(trigger=SyncRun.Trigger.COMMAND)
        run = services.sync_run_execute(run_id=run.pk)
        if run.state != SyncRun.State.SUCCEEDED:
            raise CommandError(f"seed_demo_mailchimp: {run.error}")
        audience = services.audience_demo_default_offer()
        if audience is None:
            self.stdout.write("Mailchimp lists imported; the store's choices were kept.")
        else:
            self.stdout.write(
                f"Mailchimp lists imported; “{audience.name}” is offered by default."
            )
