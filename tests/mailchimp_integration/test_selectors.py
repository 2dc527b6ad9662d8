"""Reads of the Mailchimp integration: why nothing can be sent to Mailchimp right now."""
import pytest

from mailchimp_integration import crypto
from mailchimp_integration.models import MailchimpConnection
from mailchimp_integration.selectors import delivery_blocked_reason

pytestmark = pytest.mark.django_db


def store_key(api_key: str) -> None:
    MailchimpConnection.objects.update_or_create(
        pk=MailchimpConnection.SINGLETON_ID,
        defaults={"api_key_encrypted": crypto.encrypt(api_key)},
    )


def test_with_no_api_key_delivery_is_blocked_until_one_is_entered(no_mailchimp_key_in_environment):
    assert delivery_blocked_reason() == (
        "Mailchimp is not connected: no API key is set. Enter it on the Mailchimp integration "
        "page."
    )


def test_a_stored_key_that_cannot_be_decrypted_blocks_delivery_and_names_the_fix(
    no_mailchimp_key_in_environment, settings
):
    store_key("0123456789abcdef0123456789ab9876-us6")
    settings.SECRET_KEY = "a new secret key"
    reason = delivery_blocked_reason()
    assert reason == (
        "Mailchimp is not connected. The stored Mailchimp API key cannot be decrypted: the "
        "site's SECRET_KEY was changed. Put the old one in SECRET_KEY_FALLBACKS, or enter the "
        "API key again."
    )
    assert "9876" not in reason


def test_a_key_without_its_data_centre_blocks_delivery(no_mailchimp_key_in_environment, settings):
    settings.MAILCHIMP_API_URL = ""
    store_key("0123456789abcdef0123456789ab9876")
    assert delivery_blocked_reason() == (
        "Mailchimp is not connected: the API key must end with its data centre, e.g. …-us6 (or "
        "set MAILCHIMP_API_URL)."
    )


def test_a_usable_stored_key_leaves_delivery_open_in_one_query_and_no_call_to_mailchimp(
    no_mailchimp_key_in_environment, settings, mailchimp, django_assert_max_num_queries
):
    settings.MAILCHIMP_API_URL = mailchimp.url
    store_key(mailchimp.api_key)
    with django_assert_max_num_queries(1):
        assert delivery_blocked_reason() is None
    assert mailchimp.requests() == []


def test_a_key_from_the_environment_leaves_delivery_open_without_a_query(
    connected, django_assert_num_queries
):
    with django_assert_num_queries(0):
        assert delivery_blocked_reason() is None
    assert connected.requests() == []
