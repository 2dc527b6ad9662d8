"""`manage.py reencrypt_mailchimp_key`: the stored API key onto the current encryption key."""
import sys

from django.core.management.base import BaseCommand

from mailchimp_integration import crypto, services


class Command(BaseCommand):
    help = (
        "Encrypt the Mailchimp API key entered in the admin again with the current key (the "
        "first of MAILCHIMP_ENCRYPTION_KEYS, else SECRET_KEY). Run it after rotating SECRET_KEY "
        "with the old one in SECRET_KEY_FALLBACKS; the old one can then be removed."
    )

    def handle(self, *args, **options):
        try:
            reencrypted = services.connection_reencrypt_api_key()
        except crypto.UndecryptableSecret as error:
            # One clear line and status 1 (CommandError would prefix "CommandError: ").
            self.stderr.write(f"reencrypt_mailchimp_key: {error}")
            sys.exit(1)
        if reencrypted:
            self.stdout.write("The stored Mailchimp API key is now encrypted with the current key.")
        else:
            self.stdout.write("No Mailchimp API key is stored in the admin: nothing to re-encrypt.")
