"""`manage.py reencrypt_mailchimp_key`: rotating SECRET_KEY without losing the stored API key."""
import io

import pytest
from django.core.management import call_command

from mailchimp_integration import crypto, selectors
from mailchimp_integration.models import MailchimpConnection

pytestmark = pytest.mark.django_db

API_KEY = "0123456789abcdef0123456789ab9876-us6"
OLD_SECRET, NEW_SECRET = "the old secret key", "the new secret key"


@pytest.fixture
def stored_under_old_secret_key(no_mailchimp_key_in_environment, settings):
    settings.SECRET_KEY = OLD_SECRET
    return MailchimpConnection.objects.create(
        pk=MailchimpConnection.SINGLETON_ID, api_key_encrypted=crypto.encrypt(API_KEY)
    )


def reencrypt() -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("reencrypt_mailchimp_key", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_rotating_secret_key_with_the_old_one_in_fallbacks_keeps_the_store_connected(
    stored_under_old_secret_key, settings
):
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW_SECRET, [OLD_SECRET]
    config = selectors.mailchimp_config_get()
    assert config.api_key == API_KEY and not config.problem


def test_after_reencrypting_the_old_secret_key_can_be_removed(
    stored_under_old_secret_key, settings
):
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW_SECRET, [OLD_SECRET]
    out, err = reencrypt()
    assert out == "The stored Mailchimp API key is now encrypted with the current key.\n"
    assert err == "" and API_KEY not in out

    settings.SECRET_KEY_FALLBACKS = []
    config = selectors.mailchimp_config_get()
    assert config.api_key == API_KEY and not config.problem
    stored = MailchimpConnection.objects.get().api_key_encrypted
    assert stored != stored_under_old_secret_key.api_key_encrypted and API_KEY not in stored


def test_without_the_old_secret_key_the_command_says_how_to_fix_it(
    stored_under_old_secret_key, settings
):
    settings.SECRET_KEY = NEW_SECRET
    err = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("reencrypt_mailchimp_key", stdout=io.StringIO(), stderr=err)
    assert exited.value.code == 1
    assert err.getvalue() == (
        "reencrypt_mailchimp_key: The stored Mailchimp API key cannot be decrypted: the site's "
        "SECRET_KEY was changed. Put the old one in SECRET_KEY_FALLBACKS, or enter the API key "
        "again.\n"
    )
    # The row is left as it was: putting the old key back in the fallbacks still works.
    assert (
        MailchimpConnection.objects.get().api_key_encrypted
        == stored_under_old_secret_key.api_key_encrypted
    )
    assert "SECRET_KEY_FALLBACKS" in selectors.mailchimp_config_get().problem


def test_with_no_stored_key_there_is_nothing_to_reencrypt(settings):
    out, _ = reencrypt()
    assert out == "No Mailchimp API key is stored in the admin: nothing to re-encrypt.\n"
