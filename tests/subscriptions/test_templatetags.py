"""The footer box: on every page while an audience is offered by default, else hidden."""
import pytest
from django.urls import reverse

from tests.mailchimp_integration.factories import AudienceFactory

pytestmark = pytest.mark.django_db


def test_no_box_while_no_audience_is_offered_by_default(client):
    AudienceFactory(active=True, subscribe_by_default=False)
    AudienceFactory(active=False, subscribe_by_default=True)
    page = client.get(reverse("catalogue:product_list")).content.decode()
    assert "news-box" not in page


def test_the_box_is_on_every_page_once_an_audience_is_offered(client, settings):
    AudienceFactory(active=True, subscribe_by_default=True)
    for url in (reverse("catalogue:product_list"), reverse("cart:detail")):
        page = client.get(url).content.decode()
        assert f"Sign up for {settings.STORE_NAME} news" in page
