"""In Chromium: a store admin connects e-commerce on the "Mailchimp lists" page, the worker sends
the store's history, the panel shows it synced with its counts, and the admin disconnects,
deleting the store in Mailchimp only after typing its id. All real: the live server, the worker
over HTTP to the sandbox, the browser."""
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from mailchimp_integration.models import Audience, ConnectedStore, StoreBackfill
from shop.catalogue.models import Product, Variant
from tests.conftest import wait_for
from tests.shop.checkout.factories import OrderFactory, OrderLineFactory

from .factories import LIST_MANAGER_PERMISSIONS, PASSWORD, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_an_admin_connects_e_commerce_sees_it_synced_and_disconnects(
    page, live_server, connected, settings, celery_worker_process
):
    settings.SITE_URL = "https://shop.example.com"
    Audience.objects.create(mailchimp_id=connected.create_list("Newsletter"),
                            name="Newsletter", active=True, last_seen_at=timezone.now())
    product = Product.objects.create(name="Enamel Mug", slug="enamel-mug")
    variant = Variant.objects.create(product=product, sku="MUG-1", name="Blue",
                                     price=Decimal("12.00"), stock=5)
    order = OrderFactory(subtotal=Decimal("12.00"), total=Decimal("12.00"))
    OrderLineFactory(order=order, variant=variant, unit_price=Decimal("12.00"), quantity=1)
    staff_user(email="shop@example.com", permissions=(
        *LIST_MANAGER_PERMISSIONS, "mailchimp_integration.view_ecommercerecord"))

    page.goto(live_server.url + reverse("admin:login"))
    page.locator("#id_username").fill("shop@example.com")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("input[type=submit]").click()
    lists = live_server.url + reverse("admin:mailchimp_integration_audience_changelist")
    page.goto(lists)
    panel = page.locator("#mc-store")
    expect(panel).to_contain_text("Not connected")

    page.get_by_role("button", name="Connect e-commerce to Newsletter").click()
    expect(page.locator(".messagelist")).to_contain_text("E-commerce is connected to")
    store = ConnectedStore.objects.get()
    wait_for(lambda: StoreBackfill.objects.filter(store=store, state="finished").exists(),
             timeout=30, message="the first sync of the store data did not finish")
    page.goto(lists)
    expect(panel.get_by_test_id("store-state")).to_have_text("Synced")
    expect(panel.locator('tr[data-kind="product"] td').first).to_have_text("1")
    expect(panel.locator('tr[data-kind="order"] td').first).to_have_text("1")
    expect(panel.get_by_test_id("last-backfill")).to_contain_text("2 records in")
    remote = connected.ecommerce_store(store.store_id)
    assert remote["is_syncing"] is False and order.number in remote["orders"]

    # Deleting needs the id typed: a wrong one is refused and nothing is lost.
    panel.get_by_label("Also delete the store in Mailchimp").check()
    panel.get_by_label("to confirm the deletion").fill("not-it")
    panel.get_by_role("button", name="Disconnect").click()
    expect(page.locator(".messagelist")).to_contain_text("Type the store's id to confirm")
    assert connected.ecommerce_store(store.store_id)["id"] == store.store_id

    panel.get_by_label("Also delete the store in Mailchimp").check()
    panel.get_by_label("to confirm the deletion").fill(store.store_id)
    panel.get_by_role("button", name="Disconnect").click()
    expect(page.locator(".messagelist")).to_contain_text("was deleted in Mailchimp")
    expect(panel).to_contain_text("Not connected")
    store.refresh_from_db()
    assert store.state == ConnectedStore.State.DISCONNECTED
