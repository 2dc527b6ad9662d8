"""`manage.py reconcile_members`: apply Mailchimp's members changed since the last run."""
from django.core.management.base import BaseCommand

from subscriptions.models import MemberSyncRun

from ._members import execute


class Command(BaseCommand):
    help = (
        "Read the members Mailchimp changed since the last reconciliation (all with --full) "
        "and apply them to the store's subscriptions by the consent rules; prints a drift "
        "report. Exits 1 with one line when Mailchimp cannot be reached."
    )

    def add_arguments(self, parser):
        parser.add_argument("--audience", help="Mailchimp's id of one list (default: every "
                                               "list the store uses)")
        parser.add_argument("--dry-run", action="store_true",
                            help="report the drift, change nothing")
        parser.add_argument("--full", action="store_true",
                            help="read every member, not only those changed since last time")

    def handle(self, *args, **options):
        self.name = "reconcile_members"
        execute(self, kind=MemberSyncRun.Kind.RECONCILE, audience_id=options["audience"],
                full=options["full"], dry_run=options["dry_run"])
