"""`manage.py register_webhooks [--rotate]`: make Mailchimp hold one webhook of the store's for
every audience it hears from (also done after every list sync)."""
import sys

from django.core.management.base import BaseCommand

from mailchimp_integration import selectors, services

from .sync_lists import quiet_unless_verbose


class Command(BaseCommand):
    help = (
        "Register the store's webhook (at SITE_URL) with every Mailchimp audience that is on "
        "for the store or holds subscriptions: one line per audience; exits 1 if any failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--rotate", action="store_true",
                            help="give every webhook a new secret (the old URL is accepted "
                                 "24 more hours)")

    def handle(self, *args, **options):
        if not selectors.mailchimp_config_get().is_configured:
            self.stderr.write("register_webhooks: Mailchimp is not connected: set "
                              "MAILCHIMP_API_KEY or enter a key in the admin.")
            sys.exit(1)
        with quiet_unless_verbose(options["verbosity"]):
            registrations = services.webhooks_register(rotate=options["rotate"])
        if not registrations:
            self.stdout.write("No audience is on for the store or holds subscriptions: "
                              "no webhook to register.")
        for registration in registrations:
            name = f"{registration.audience.name} ({registration.audience.mailchimp_id})"
            if registration.ok:
                extra = f", {registration.removed} extra removed" if registration.removed else ""
                self.stdout.write(f"{name}: {registration.outcome}, {registration.url}{extra}")
            else:
                self.stderr.write(f"{name}: failed: {registration.error}")
        if not all(registration.ok for registration in registrations):
            sys.exit(1)
