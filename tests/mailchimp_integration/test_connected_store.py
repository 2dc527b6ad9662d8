"""Connecting the store's e-commerce store in Mailchimp (issue "E-commerce support"): its id
is derived, stable and free of "server"; an existing store with that id is adopted, not
duplicated; one audience at a time; a staging copy (pushes paused) sends nothing; a store is
deleted in Mailchimp only with the admin's confirmation. Against the sandbox over HTTP."""
import pytest
from django.utils import timezone

from mailchimp_integration import ecommerce
from mailchimp_integration.models import Audience, ConnectedStore
from mailchimp_integration.services import mailchimp_client_build

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def news(connected, settings):
    settings.SITE_URL = "https://shop.example.com"
    list_id = connected.create_list("Newsletter")
    return Audience.objects.create(mailchimp_id=list_id, name="Newsletter", active=True,
                                   last_seen_at=timezone.now())


def writes(sandbox) -> list[str]:
    return [f"{r['method']} {r['path']}" for r in sandbox.request_log() if r["method"] != "GET"]


def test_the_store_id_is_derived_stable_and_never_contains_server(news, settings):
    first = ecommerce.store_id_for(news)
    assert first == ecommerce.store_id_for(news) == f"shop-example-com-{news.mailchimp_id}"
    settings.MAILCHIMP_STORE_ID_PREFIX = "webserver.example.com"
    assert "server" not in ecommerce.store_id_for(news).lower()
    assert len(ecommerce.store_id_for(news)) <= 50


def test_connecting_creates_the_store_once_and_then_adopts_it(connected, news):
    client = mailchimp_client_build()
    made = ecommerce.store_connect(client=client, audience=news)
    assert not made.adopted and made.store.state == ConnectedStore.State.SYNCING
    remote = connected.ecommerce_store(made.store.store_id)
    assert remote["list_id"] == news.mailchimp_id
    assert remote["is_syncing"] is True and remote["domain"] == "shop.example.com"

    # A redeploy or a staging copy restored from a backup: the same id, adopted.
    ConnectedStore.objects.all().delete()
    connected.clear_requests()
    again = ecommerce.store_connect(client=client, audience=news)
    assert again.adopted and again.store.store_id == made.store.store_id
    assert writes(connected) == []


def test_one_audience_at_a_time(connected, news):
    other = Audience.objects.create(mailchimp_id=connected.create_list("Other"), name="Other",
                                    active=True, last_seen_at=timezone.now())
    client = mailchimp_client_build()
    ecommerce.store_connect(client=client, audience=news)
    with pytest.raises(ecommerce.StoreRefused, match="disconnect it first"):
        ecommerce.store_connect(client=client, audience=other)


def test_a_staging_copy_sends_nothing(connected, news, settings):
    settings.SUBSCRIPTIONS_PUSHES_PAUSED = True
    connected.clear_requests()
    with pytest.raises(ecommerce.StoreRefused, match="paused"):
        ecommerce.store_connect(client=mailchimp_client_build(), audience=news)
    assert connected.request_log() == []
    assert not ConnectedStore.objects.exists()


def test_disconnecting_keeps_the_store_in_mailchimp_unless_confirmed(connected, news):
    client = mailchimp_client_build()
    store = ecommerce.store_connect(client=client, audience=news).store
    ecommerce.store_disconnect(client=client, store=store)
    assert store.state == ConnectedStore.State.DISCONNECTED
    assert client.store_get(store.store_id) is not None

    with pytest.raises(ecommerce.StoreRefused, match="confirm"):
        ecommerce.store_disconnect(client=client, store=store, delete_in_mailchimp=True,
                                   confirmation="yes")
    assert client.store_get(store.store_id) is not None
    ecommerce.store_disconnect(client=client, store=store, delete_in_mailchimp=True,
                               confirmation=store.store_id)
    assert client.store_get(store.store_id) is None
