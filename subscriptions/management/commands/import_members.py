"""`manage.py import_members`: Mailchimp's existing members become the store's subscriptions."""
from django.core.management.base import BaseCommand

from subscriptions.models import MemberSyncRun

from ._members import execute


class Command(BaseCommand):
    help = (
        "Read every member of Mailchimp's lists and add those the store lacks as "
        "subscriptions (linked to customers by email; no accounts are created), with "
        "Mailchimp's own consent evidence (timestamp_opt, ip_opt). Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--audience", help="Mailchimp's id of one list (default: every "
                                               "list the store uses)")

    def handle(self, *args, **options):
        self.name = "import_members"
        execute(self, kind=MemberSyncRun.Kind.IMPORT, audience_id=options["audience"])
