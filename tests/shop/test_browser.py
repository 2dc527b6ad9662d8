"""The paths a person clicks, in Chromium against a live server."""
from decimal import Decimal

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from shop.catalogue.demo_images import demo_picture
from shop.catalogue.services import product_image_set
from shop.checkout.models import Order
from tests.shop.accounts.factories import PASSWORD, StaffUserFactory
from tests.shop.catalogue.factories import ProductFactory, VariantFactory
from tests.shop.checkout.factories import OrderLineFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_customer_buys_something_and_finds_the_order_in_their_account(page, live_server):
    tee = ProductFactory(name="Organic Cotton Tee", slug="tee")
    VariantFactory(product=tee, name="Small / Navy", price=Decimal("28.00"), stock=5)
    large_blue = VariantFactory(product=tee, name="Large / Blue", price=Decimal("30.00"), stock=3)
    VariantFactory(product__name="Canvas Tote", price=Decimal("15.00"))

    page.goto(live_server.url + "/")
    expect(page.get_by_role("link", name="Organic Cotton Tee")).to_be_visible()
    expect(page.get_by_text("from $28.00")).to_be_visible()
    page.get_by_role("link", name="Organic Cotton Tee").click()

    expect(page.get_by_role("heading", name="Organic Cotton Tee")).to_be_visible()
    form = page.locator("form.add-to-cart")
    form.get_by_label("Option").select_option(label="Large / Blue – $30.00")
    form.get_by_label("Quantity").fill("2")
    form.get_by_role("button", name="Add to cart").click()

    added = "Added 2 × Organic Cotton Tee (Large / Blue) to your cart."
    expect(page.get_by_text(added)).to_be_visible()
    expect(page.get_by_test_id("nav-cart")).to_have_text("Cart (2)")

    # Register on the way to checkout; the cart survives signing in.
    page.get_by_role("link", name="register", exact=True).click()
    # Scoped to the form: the footer may hold a newsletter box with its own email field.
    form = page.locator("form.registration-form")
    form.get_by_label("Email address").fill("Newbie@Example.com")
    form.get_by_label("First name").fill("Nora")
    form.get_by_label("Last name").fill("Newbie")
    form.get_by_label("Password:", exact=True).fill("a-long-unusual-pass")
    form.get_by_label("Password again").fill("a-long-unusual-pass")
    form.get_by_role("button", name="Create account").click()

    expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
    form = page.locator("form.checkout-form")
    expect(form.get_by_label("Email")).to_have_value("newbie@example.com")
    expect(form.get_by_label("First name")).to_have_value("Nora")
    form.get_by_label("Address line 1").fill("1 High Street")
    form.get_by_label("City").fill("Hilltown")
    form.get_by_label("Postcode").fill("HT1 1AA")
    form.get_by_label("Country").select_option(label="United Kingdom")
    form.get_by_role("button", name="Place order").click()

    expect(page.get_by_role("heading", name="Thank you for your order")).to_be_visible()
    number = page.locator(".order-number").inner_text()
    order = Order.objects.get(number=number)
    assert order.user.email == "newbie@example.com"
    assert order.total == Decimal("60.00")
    large_blue.refresh_from_db()
    assert large_blue.stock == 1
    expect(page.get_by_test_id("nav-cart")).to_have_text("Cart (0)")

    page.get_by_role("link", name="Your account").click()
    order_section = page.locator(f'[data-order-number="{number}"]')
    expect(order_section).to_contain_text("Organic Cotton Tee")
    expect(order_section).to_contain_text("Large / Blue")
    expect(order_section).to_contain_text("$60.00")


def test_an_admin_signs_in_and_opens_an_order(page, live_server):
    StaffUserFactory(email="boss@example.com")
    line = OrderLineFactory(product_name="Enamel Camp Mug", order__number="ORDER123")

    page.goto(live_server.url + reverse("admin:index"))
    page.get_by_label("Email address").fill("boss@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    for section in ("Catalogue", "Sales", "Customers"):
        expect(page.get_by_title(f"Models in the {section} application")).to_have_text(section)
    page.get_by_role("link", name="Orders").click()
    page.get_by_role("link", name="ORDER123").click()
    content = page.locator("#content")
    expect(content).to_contain_text("Enamel Camp Mug")
    expect(content).to_contain_text(line.order.email)


def test_a_visitor_sees_product_pictures_and_picks_a_country_at_checkout(
    page, live_server, media_root
):
    mug = ProductFactory(name="Enamel Camp Mug", slug="enamel-camp-mug")
    content, description = demo_picture("enamel-camp-mug")
    product_image_set(product=mug, content=content, filename="mug.webp", alt=description)
    VariantFactory(product=mug, name="White", price=Decimal("12.00"))
    VariantFactory(product__name="Plain Socks")  # no picture yet

    page.goto(live_server.url + "/")
    picture = page.get_by_role("img", name=description)
    expect(picture).to_be_visible()
    # Loaded and decoded by the browser, not a broken image.
    assert picture.evaluate("img => img.decode().then(() => img.naturalWidth)") == 800
    placeholder = page.get_by_test_id("picture-placeholder")
    expect(placeholder).to_be_visible()
    assert placeholder.evaluate("img => img.decode().then(() => img.naturalWidth)") > 0
    favicon = page.locator('link[rel="icon"]').first.get_attribute("href")
    assert page.request.get(live_server.url + favicon).ok

    page.get_by_role("link", name="Enamel Camp Mug").click()
    expect(page.get_by_role("img", name=description)).to_be_visible()
    page.locator("form.add-to-cart").get_by_role("button", name="Add to cart").click()
    page.goto(live_server.url + reverse("checkout:checkout"))

    form = page.locator("form.checkout-form")
    country = form.get_by_label("Country")
    expect(country).to_have_value("GB")  # the store's own country, chosen already
    country.select_option(label="Ireland")
    form.get_by_label("Email").fill("aoife@example.com")
    form.get_by_label("First name").fill("Aoife")
    form.get_by_label("Last name").fill("Byrne")
    form.get_by_label("Address line 1").fill("2 Quay Street")
    form.get_by_label("City").fill("Galway")
    form.get_by_label("Postcode").fill("H91 X2Y3")
    form.get_by_role("button", name="Place order").click()

    expect(page.get_by_role("heading", name="Thank you for your order")).to_be_visible()
    expect(page.locator("address")).to_contain_text("Galway H91 X2Y3")
    expect(page.locator("address")).to_contain_text("Ireland")
    assert Order.objects.get().country == "IE"


def test_an_admin_sees_that_mailchimp_is_not_connected_and_follows_the_banner(
    page, live_server, no_mailchimp_key_in_environment
):
    StaffUserFactory(email="boss@example.com")
    page.goto(live_server.url + reverse("admin:index"))
    page.get_by_label("Email address").fill("boss@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    banner = page.get_by_test_id("mailchimp-blocked")
    expect(banner).to_contain_text("Mailchimp is not connected: no API key is set.")
    page.goto(live_server.url + reverse("admin:checkout_order_changelist"))
    expect(banner).to_be_visible()  # on every page, not only the index
    banner.get_by_role("link", name="Open the Mailchimp integration settings").click()
    expect(page.get_by_role("heading", name="Mailchimp integration")).to_be_visible()
    expect(banner).to_be_visible()
    expect(banner.get_by_role("link")).to_have_count(0)
