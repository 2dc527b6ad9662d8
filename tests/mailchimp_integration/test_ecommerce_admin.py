"""The back office of e-commerce (issue "E-commerce support"): "Connect e-commerce" on the
"Mailchimp lists" page, the store panel (state, counts by kind and state, the last "Sync store
data"), disconnecting (deleting in Mailchimp only with the store's id typed), the records with
Mailchimp's words and Retry, and the sync state on the product and order pages. Against the
sandbox over HTTP."""
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mailchimp_integration import ecommerce
from mailchimp_integration.models import (
    Audience,
    ConnectedStore,
    EcommerceRecord,
    StoreBackfill,
)
from mailchimp_integration.services import mailchimp_client_build
from shop.catalogue.models import Product, Variant
from tests.shop.accounts.factories import UserFactory
from tests.shop.checkout.factories import OrderFactory

pytestmark = pytest.mark.django_db(transaction=True)

LISTS = "admin:mailchimp_integration_audience_changelist"
Kind = EcommerceRecord.Kind


@pytest.fixture(autouse=True)
def queued(monkeypatch):
    """The tasks these pages queue, kept here: the session's worker (started by other tests)
    must not run them under this test's feet. What the worker does is tested elsewhere."""
    from mailchimp_integration import tasks

    sent = {"backfill": [], "send": []}
    monkeypatch.setattr(tasks.ecommerce_backfill, "delay",
                        lambda backfill_id: sent["backfill"].append(backfill_id))
    monkeypatch.setattr(tasks.ecommerce_send, "apply_async",
                        lambda args, **kwargs: sent["send"].append(args[0]))
    return sent


@pytest.fixture
def news(connected, settings):
    settings.SITE_URL = "https://shop.example.com"
    return Audience.objects.create(mailchimp_id=connected.create_list("Newsletter"),
                                   name="Newsletter", active=True, last_seen_at=timezone.now())


@pytest.fixture
def store(news):
    return ecommerce.store_connect(client=mailchimp_client_build(), audience=news).store


def page(admin_client) -> str:
    response = admin_client.get(reverse(LISTS))
    assert response.status_code == 200
    return response.content.decode()


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def connect_url(audience) -> str:
    return reverse("admin:mailchimp_integration_audience_ecommerce_connect", args=[audience.pk])


def test_connect_creates_the_store_and_queues_the_first_sync(
    admin_client, connected, news, queued
):
    off = Audience.objects.create(mailchimp_id=connected.create_list("Off"), name="Off",
                                  active=False, last_seen_at=timezone.now())
    html = page(admin_client)
    assert "Not connected" in html
    assert connect_url(news) in html and connect_url(off) not in html  # switched-off list

    response = admin_client.post(connect_url(news), follow=True)

    store = ConnectedStore.objects.get()
    assert store.audience == news and store.state == ConnectedStore.State.SYNCING
    assert "the store " + store.store_id + " was created" in messages_of(response)[-1]
    assert connected.ecommerce_store(store.store_id)["is_syncing"] is True
    backfill = StoreBackfill.objects.get(store=store)
    assert backfill.state == StoreBackfill.State.QUEUED and queued["backfill"] == [backfill.pk]
    html = response.content.decode()
    assert store.store_id in html and "Syncing" in html and "E-commerce: Syncing" in html
    assert connect_url(news) not in html  # one audience at a time: no more Connect buttons
    assert 'disabled title="A sync is going' in html


def test_connect_on_a_staging_copy_says_why_and_sends_nothing(
    admin_client, connected, news, settings
):
    settings.SUBSCRIPTIONS_PUSHES_PAUSED = True
    connected.clear_requests()
    response = admin_client.post(connect_url(news), follow=True)
    assert "paused" in messages_of(response)[-1]
    assert not ConnectedStore.objects.exists()
    assert [r for r in connected.request_log() if r["method"] != "GET"] == []


def test_connect_needs_the_change_permission(client, news):
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_audience"))
    client.force_login(staff)
    assert client.get(reverse(LISTS)).status_code == 200
    assert connect_url(news) not in client.get(reverse(LISTS)).content.decode()
    assert client.post(connect_url(news)).status_code == 403
    assert not ConnectedStore.objects.exists()


def test_the_panel_counts_records_by_kind_and_state_in_constant_queries(admin_client, store):
    def made(kind, state, n):
        EcommerceRecord.objects.bulk_create([
            EcommerceRecord(store=store, kind=kind, local_id=f"{kind}{state}{i}", state=state,
                            failure_reason="Invalid Resource: bad" if state == "failed" else "")
            for i in range(n)])

    made(Kind.PRODUCT, "synced", 3)
    made(Kind.ORDER, "synced", 2)
    made(Kind.ORDER, "failed", 1)
    StoreBackfill.objects.create(store=store, state=StoreBackfill.State.FINISHED, done=6,
                                 total=6, failed=1, batches=3, finished_at=timezone.now())
    with CaptureQueriesContext(connection) as few:
        html = page(admin_client)
    made(Kind.CART, "waiting", 40)
    made(Kind.PROMO, "synced", 40)
    with CaptureQueriesContext(connection) as many:
        html_many = page(admin_client)
    assert len(many.captured_queries) == len(few.captured_queries)

    assert '<tr data-kind="product"><th scope="row">Product</th>' in html
    order_row = html.split('<tr data-kind="order">')[1].split("</tr>")[0]
    assert [cell.split("</td>")[0].split(">")[-1] for cell in order_row.split("<td")[1:3]] \
        == ["2", "0"]
    failed_link = reverse("admin:mailchimp_integration_ecommercerecord_changelist") + \
        "?kind__exact=order&amp;state__exact=failed"
    assert failed_link in html
    assert "6 records in 3 batches, 1 failed" in html
    assert "See what failed and retry" in html
    cart_row = html_many.split('<tr data-kind="cart">')[1].split("</tr>")[0]
    assert '<td class="mc-num">40</td>' in cart_row


def test_sync_store_data_is_queued_once(admin_client, store):
    url = reverse("admin:mailchimp_integration_audience_ecommerce_sync")
    first = admin_client.post(url, follow=True)
    assert "in the background" in messages_of(first)[-1]
    second = admin_client.post(url, follow=True)
    assert "already going" in messages_of(second)[-1]
    assert StoreBackfill.objects.filter(store=store).count() == 1


def test_disconnect_keeps_the_store_in_mailchimp_unless_its_id_is_typed(
    admin_client, connected, store
):
    url = reverse("admin:mailchimp_integration_audience_ecommerce_disconnect")
    refused = admin_client.post(url, {"delete_in_mailchimp": "1", "confirmation": "oops"},
                                follow=True)
    assert "Type the store's id to confirm" in messages_of(refused)[-1]
    store.refresh_from_db()
    assert store.state != ConnectedStore.State.DISCONNECTED

    kept = admin_client.post(url, follow=True)
    assert "stay in Mailchimp" in messages_of(kept)[-1]
    assert connected.ecommerce_store(store.store_id)["id"] == store.store_id
    assert "Not connected" in kept.content.decode()

    # Connected again (adopted), then deleted for good with the id typed.
    admin_client.post(connect_url(store.audience))
    store.refresh_from_db()
    EcommerceRecord.objects.create(store=store, kind=Kind.PRODUCT, local_id="1",
                                   state="synced", remote_exists=True)
    deleted = admin_client.post(url, {"delete_in_mailchimp": "1",
                                      "confirmation": store.store_id}, follow=True)
    assert "was deleted in Mailchimp" in messages_of(deleted)[-1]
    assert store.store_id not in [s["id"] for s in mailchimp_client_build().request(
        "GET", "/ecommerce/stores")["stores"]]
    assert not EcommerceRecord.objects.filter(store=store).exists()


def test_a_failed_record_shows_mailchimps_words_and_retry_sends_it_again(
    admin_client, store, queued
):
    product = Product.objects.create(name="Mug", slug="mug")
    Variant.objects.create(product=product, sku="M-1", name="Blue", price=Decimal("5"),
                           stock=1)
    record = EcommerceRecord.objects.get(kind=Kind.PRODUCT, local_id=str(product.pk))
    EcommerceRecord.objects.filter(pk=record.pk).update(
        state="failed", failed_permanently=True, sent_version=0,
        failure_reason="Invalid Resource: The resource submitted could not be validated.")

    changelist = admin_client.get(
        reverse("admin:mailchimp_integration_ecommercerecord_changelist") + "?state__exact=failed")
    assert "The resource submitted could not be validated." in changelist.content.decode()
    product_page = admin_client.get(reverse("admin:catalogue_product_change",
                                            args=[product.pk])).content.decode()
    assert "Failed: Invalid Resource: The resource submitted could not be validated." \
        in product_page
    detail = reverse("admin:mailchimp_integration_ecommercerecord_change", args=[record.pk])
    assert detail in product_page
    assert "Retry: send it again" in admin_client.get(detail).content.decode()

    before = EcommerceRecord.objects.get(pk=record.pk).wanted_version
    response = admin_client.post(
        reverse("admin:mailchimp_integration_ecommercerecord_retry", args=[record.pk]),
        follow=True)
    assert messages_of(response)[-1] == "It will be sent again shortly."
    again = EcommerceRecord.objects.get(pk=record.pk)
    assert again.wanted_version == before + 1 and not again.failed_permanently
    assert again.state == "waiting" and again.failure_reason == ""
    assert queued["send"][-1] == record.pk

    EcommerceRecord.objects.filter(pk=record.pk).update(state="failed", failed_permanently=True)
    action = admin_client.post(
        reverse("admin:mailchimp_integration_ecommercerecord_changelist"),
        {"action": "retry_records", "_selected_action": [record.pk]}, follow=True)
    assert "1 record(s) will be sent again shortly." in messages_of(action)
    assert not EcommerceRecord.objects.get(pk=record.pk).failed_permanently


def test_the_order_page_shows_its_sync_state(admin_client, store):
    order = OrderFactory()
    url = reverse("admin:checkout_order_change", args=[order.pk])
    html = admin_client.get(url).content.decode()
    assert "Mailchimp" in html
    record = EcommerceRecord.objects.get(kind=Kind.ORDER, local_id=str(order.pk))
    EcommerceRecord.objects.filter(pk=record.pk).update(state="synced",
                                                        synced_at=timezone.now())
    assert "Synced " in admin_client.get(url).content.decode()


def test_without_a_store_the_pages_say_nothing_is_sent(admin_client, news):
    order = OrderFactory()
    html = admin_client.get(reverse("admin:checkout_order_change", args=[order.pk]))
    assert "E-commerce is not connected: nothing is sent to Mailchimp." in html.content.decode()
    assert not EcommerceRecord.objects.exists()


def test_a_disconnected_stores_waiting_records_are_not_sent(connected, store):
    from mailchimp_integration import ecommerce_delivery

    product = Product.objects.create(name="Bowl", slug="bowl")
    record = EcommerceRecord.objects.get(kind=Kind.PRODUCT, local_id=str(product.pk))
    ecommerce.store_disconnect(client=mailchimp_client_build(), store=store)
    connected.clear_requests()
    assert ecommerce_delivery.deliver(record_id=record.pk) is True
    record.refresh_from_db()
    assert record.state == "failed" and "disconnected" in record.failure_reason
    assert [r for r in connected.request_log() if "/products" in r["path"]] == []
    assert ecommerce_delivery.sweep() == 0
