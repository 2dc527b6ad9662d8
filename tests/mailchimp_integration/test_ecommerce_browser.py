"""In Chromium, the abandoned-cart journey end to end (issue "E-commerce support"): a visitor
arrives from a Mailchimp campaign (?mc_cid=…), adds to the cart, types an email at checkout and
leaves; the sandbox holds the cart with a restore link; the visitor comes back through that
link and orders; the sandbox then holds the order with the campaign, and no cart.

All real: the live server, the worker sending over HTTP to the sandbox, the browser."""
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from mailchimp_integration import ecommerce
from mailchimp_integration.models import Audience, ConnectedStore, EcommerceRecord
from mailchimp_integration.services import mailchimp_client_build
from shop.cart.models import Cart
from shop.catalogue.models import Product, Variant
from shop.checkout.models import Order
from tests.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_visitor_from_a_campaign_leaves_a_cart_and_comes_back_through_its_link(
    page, live_server, connected, settings, celery_worker_process
):
    settings.SITE_URL = live_server.url
    list_id = connected.create_list("Newsletter")
    audience = Audience.objects.create(mailchimp_id=list_id, name="Newsletter", active=True,
                                       last_seen_at=timezone.now())
    store = ecommerce.store_connect(client=mailchimp_client_build(), audience=audience).store
    ConnectedStore.objects.filter(pk=store.pk).update(state=ConnectedStore.State.SYNCED)
    campaign = connected.create_campaign(list_id, title="Spring sale")
    product = Product.objects.create(name="Enamel Mug", slug="enamel-mug")
    variant = Variant.objects.create(product=product, sku="MUG-1", name="Blue",
                                     price=Decimal("12.00"), stock=5)
    wait_for(lambda: EcommerceRecord.objects.filter(kind="product", state="synced").exists(),
             timeout=20, message="the product did not reach Mailchimp")

    page.goto(f"{live_server.url}/?mc_cid={campaign}&mc_eid=abc123")
    page.get_by_role("link", name="Enamel Mug").first.click()
    page.locator("form.add-to-cart").get_by_role("button", name="Add to cart").click()
    expect(page.get_by_test_id("nav-cart")).to_have_text("Cart (1)")
    page.get_by_role("link", name="Go to checkout").click()
    email = page.locator("form.checkout-form").get_by_label("Email")
    email.fill("Visitor@Example.com")
    email.press("Tab")  # the checkout keeps the email as soon as it is entered

    held = wait_for(lambda: list(connected.ecommerce_store(store.store_id)["carts"].values()),
                    timeout=30, message="the cart did not reach Mailchimp")
    [cart] = held
    customer = connected.ecommerce_store(store.store_id)["customers"][cart["customer_id"]]
    assert customer["email_address"] == "visitor@example.com"
    assert customer["opt_in_status"] is False
    assert list(cart["lines"].values())[0]["product_variant_id"] == str(variant.pk)
    # The worker builds the link from its own SITE_URL; the path is what this server serves.
    assert cart["checkout_url"].startswith("https://shop.example.com/cart/restore/")
    restore = urlsplit(cart["checkout_url"])

    # The visitor leaves: the session (and the cart in it) is gone; a cookie keeps the
    # campaign, as a returning browser would.
    kept = [c for c in page.context.cookies() if c["name"] != "sessionid"]
    page.context.clear_cookies()
    page.context.add_cookies(kept)
    page.goto(live_server.url + "/cart/")
    expect(page.get_by_test_id("nav-cart")).to_have_text("Cart (0)")

    # Back through the link in the abandoned-cart email.
    page.goto(live_server.url + restore.path)
    expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
    expect(page.get_by_test_id("nav-cart")).to_have_text("Cart (1)")
    form = page.locator("form.checkout-form")
    form.get_by_label("Email").fill("visitor@example.com")
    form.get_by_label("First name").fill("Vera")
    form.get_by_label("Last name").fill("Visitor")
    form.get_by_label("Address line 1").fill("1 High Street")
    form.get_by_label("City").fill("Hilltown")
    form.get_by_label("Postcode").fill("HT1 1AA")
    form.get_by_label("Country").select_option(label="United Kingdom")
    form.get_by_role("button", name="Place order").click()
    expect(page.get_by_role("heading", name="Thank you for your order")).to_be_visible()

    order = Order.objects.get()
    assert order.campaign_id == campaign
    assert Cart.objects.get(order=order).ordered_at is not None
    remote = wait_for(lambda: connected.ecommerce_store(store.store_id)["orders"].get(
        order.number), timeout=30, message="the order did not reach Mailchimp")
    assert remote["campaign_id"] == campaign
    wait_for(lambda: not connected.ecommerce_store(store.store_id)["carts"], timeout=30,
             message="the cart was not deleted in Mailchimp once ordered")
    assert connected.campaign_revenue(campaign)["revenue"] == 12.0
