"""The back office's site: the banner on every page while nothing can reach Mailchimp."""
import pytest
from django.test import Client
from django.urls import reverse

from mailchimp_integration import crypto
from mailchimp_integration.models import MailchimpConnection
from tests.mailchimp_integration.factories import (
    LIST_MANAGER_PERMISSIONS,
    SETTINGS_MANAGER_PERMISSIONS,
    staff_user,
)

pytestmark = pytest.mark.django_db

SETTINGS_URL = "admin:mailchimp_integration_mailchimpconnection_changelist"
PAGES = [
    "admin:index",
    "admin:checkout_order_changelist",
    "admin:catalogue_product_changelist",
    "admin:mailchimp_integration_audience_changelist",
]


def banner_of(html: str) -> str:
    start = html.find('data-testid="mailchimp-blocked"')
    return html[start:html.find("</li>", start)] if start != -1 else ""


@pytest.mark.parametrize("page", PAGES)
def test_with_no_api_key_every_admin_page_says_so_and_links_to_the_settings(
    admin_client, no_mailchimp_key_in_environment, page
):
    html = admin_client.get(reverse(page)).content.decode()
    banner = banner_of(html)
    assert "Mailchimp is not connected: no API key is set." in banner
    link = f'<a href="{reverse(SETTINGS_URL)}">Open the Mailchimp integration settings</a>'
    assert link in banner


def test_an_undecryptable_key_is_named_with_its_fix_and_never_shown(
    admin_user, no_mailchimp_key_in_environment, settings
):
    api_key = "0123456789abcdef0123456789ab9876-us6"
    MailchimpConnection.objects.create(
        pk=MailchimpConnection.SINGLETON_ID, api_key_encrypted=crypto.encrypt(api_key)
    )
    settings.SECRET_KEY = "a rotated secret key"
    client = Client()
    client.force_login(admin_user)  # the rotation ended the sessions signed with the old key
    html = client.get(reverse("admin:index")).content.decode()
    assert (
        "SECRET_KEY was changed. Put the old one in SECRET_KEY_FALLBACKS, or enter the API key "
        "again." in banner_of(html)
    )
    assert "9876" not in html


def test_on_the_settings_page_the_banner_does_not_link_to_itself(
    admin_client, no_mailchimp_key_in_environment
):
    banner = banner_of(admin_client.get(reverse(SETTINGS_URL)).content.decode())
    assert "Mailchimp is not connected" in banner and "<a " not in banner


def test_a_connected_store_shows_no_banner(admin_client, settings):
    settings.MAILCHIMP_API_KEY = "0123456789abcdef0123456789ab9876-us6"
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert "mailchimp-blocked" not in html and "Mailchimp is not connected" not in html


def test_only_staff_who_may_open_the_mailchimp_settings_see_the_banner(
    no_mailchimp_key_in_environment,
):
    def index_for(user) -> str:
        client = Client()
        client.force_login(user)
        return client.get(reverse("admin:index")).content.decode()

    others = staff_user(email="lists@example.com", permissions=LIST_MANAGER_PERMISSIONS)
    assert "mailchimp-blocked" not in index_for(others)
    managers = staff_user(email="settings@example.com", permissions=SETTINGS_MANAGER_PERMISSIONS)
    assert "Mailchimp is not connected" in banner_of(index_for(managers))
