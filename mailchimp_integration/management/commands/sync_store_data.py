"""`manage.py sync_store_data`: send the store's history to the connected store now."""
import sys

from django.core.management.base import BaseCommand

from mailchimp_integration import ecommerce_backfill
from mailchimp_integration.exceptions import MailchimpError
from mailchimp_integration.management.commands.sync_lists import (
    ProgressBar,
    quiet_unless_verbose,
)
from mailchimp_integration.models import ConnectedStore
from mailchimp_integration.services import mailchimp_client_build


class Command(BaseCommand):
    help = (
        "Send every product, promo code and order (newest first) to the connected store "
        "through Mailchimp's /batches, in this process. Prints a summary; exits 1 with the "
        "reason if no store is connected, Mailchimp cannot be reached or a sync is going."
    )

    def add_arguments(self, parser):
        parser.add_argument("--audience", metavar="LIST_ID",
                            help="The Mailchimp list id of the connected store.")
        parser.add_argument("--fresh", action="store_true",
                            help="Start from the beginning rather than resume a failed sync.")

    def fail(self, line: str) -> None:
        # One clear line and status 1 (CommandError would prefix "CommandError: ").
        self.stderr.write(f"sync_store_data: {line}")
        sys.exit(1)

    def handle(self, *args, **options):
        stores = ConnectedStore.objects.exclude(state=ConnectedStore.State.DISCONNECTED)
        if options["audience"]:
            stores = stores.filter(audience__mailchimp_id=options["audience"])
        store = stores.select_related("audience").first()
        if store is None:
            self.fail("no store is connected" + (
                f" to the list {options['audience']}." if options["audience"] else "."))
        try:
            client = mailchimp_client_build()
            client.account_name()
        except MailchimpError as error:
            self.fail(f"Mailchimp cannot be reached: {error}")
        try:
            backfill = ecommerce_backfill.backfill_start(store=store, fresh=options["fresh"],
                                                         queue=False)
        except ecommerce_backfill.BackfillRefused as refused:
            self.fail(refused.reason)
        bar = ProgressBar(sys.stderr, label=f"Syncing {store.store_id}", unit="records")
        with quiet_unless_verbose(options["verbosity"]):
            try:
                runner = ecommerce_backfill.backfill_run(
                    backfill.pk, client, progress=lambda run: bar(run.done, run.total))
            finally:
                bar.close()
        backfill.refresh_from_db()
        if backfill.state != backfill.State.FINISHED:
            self.fail(backfill.error or "the sync did not finish.")
        self.stdout.write(f"Sent {backfill.done - backfill.failed} of {backfill.done} records "
                          f"to {store.store_id} in {backfill.batches} batches; "
                          f"{backfill.failed} failed.")
        for reason in (runner.first_reasons if runner else []):
            self.stdout.write(f"  {reason}")
