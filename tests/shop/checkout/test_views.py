"""The checkout page and the confirmation."""
from decimal import Decimal

import pytest
from django.urls import reverse

from shop.cart.cart import Cart
from shop.checkout.models import Order
from tests.shop.accounts.factories import UserFactory
from tests.shop.catalogue.factories import VariantFactory
from tests.shop.checkout.factories import OrderFactory

pytestmark = pytest.mark.django_db

ADDRESS = {
    "first_name": "Ann",
    "last_name": "Smith",
    "email": "ann@example.com",
    "address_line1": "1 High Street",
    "address_line2": "",
    "city": "Hilltown",
    "postcode": "HT1 1AA",
    "country": "GB",
}


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_empty_cart_goes_back_to_the_cart_with_a_message(client):
    response = client.get(reverse("checkout:checkout"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("cart:detail")
    assert messages_of(response) == ["Your cart is empty. Add something before checking out."]
    response = client.post(reverse("checkout:checkout"), ADDRESS)
    assert response.status_code == 302 and not Order.objects.exists()


def test_guest_checkout(client, client_cart):
    variant = VariantFactory(product__name="Mug", price=Decimal("12.00"), stock=3)
    client_cart(variant, 2)
    page = client.get(reverse("checkout:checkout"))
    assert page.status_code == 200
    assert "Place order" in page.content.decode() and "$24.00" in page.content.decode()

    response = client.post(reverse("checkout:checkout"), ADDRESS, follow=True)

    order = Order.objects.get()
    assert order.user is None and order.email == "ann@example.com"
    assert response.redirect_chain[-1][0] == reverse("checkout:confirmation", args=[order.number])
    confirmation = response.content.decode()
    assert "Thank you for your order" in confirmation and order.number in confirmation
    assert Cart(client.session).quantities() == {}
    assert "Cart (0)" in confirmation
    variant.refresh_from_db()
    assert variant.stock == 1


def test_signed_in_checkout_is_prefilled_and_linked_to_the_account(client, client_cart):
    user = UserFactory(email="me@example.com", first_name="Me", last_name="Myself")
    client.force_login(user)
    client_cart(VariantFactory(), 1)
    form = client.get(reverse("checkout:checkout")).context["form"]
    assert form.initial == {"email": "me@example.com", "first_name": "Me", "last_name": "Myself"}

    client.post(reverse("checkout:checkout"), {**ADDRESS, "email": "me@example.com"})
    order = Order.objects.get()
    assert order.user == user
    account = client.get(reverse("accounts:account")).content.decode()
    assert order.number in account


def test_invalid_email_is_a_form_error_and_nothing_is_saved(client, client_cart):
    variant = VariantFactory(stock=3)
    client_cart(variant, 1)
    response = client.post(reverse("checkout:checkout"), {**ADDRESS, "email": "ann@"})
    assert response.status_code == 200
    assert response.context["form"].errors["email"] == [
        "Please enter a valid email address, like name@example.com."
    ]
    assert not Order.objects.exists()
    assert Cart(client.session).quantities() == {variant.pk: 1}


def test_missing_address_is_a_form_error(client, client_cart):
    client_cart(VariantFactory(), 1)
    response = client.post(reverse("checkout:checkout"), {**ADDRESS, "city": ""})
    assert response.context["form"].errors["city"] == ["Please enter your town or city."]


def test_out_of_stock_at_place_time_saves_nothing(client, client_cart):
    variant = VariantFactory(product__name="Mug", name="Blue", stock=2)
    client_cart(variant, 2)
    variant.stock = 1  # someone else bought one meanwhile
    variant.save()
    response = client.post(reverse("checkout:checkout"), ADDRESS, follow=True)
    assert response.redirect_chain[-1][0] == reverse("cart:detail")
    (message,) = messages_of(response)
    assert "only 1 of Mug (Blue) left (you asked for 2)" in message
    assert not Order.objects.exists()
    variant.refresh_from_db()
    assert variant.stock == 1
    assert Cart(client.session).quantities() == {variant.pk: 2}  # kept, to fix


def test_confirmation_of_someone_elses_order_is_not_found(client):
    order = OrderFactory(user=UserFactory())
    url = reverse("checkout:confirmation", args=[order.number])
    assert client.get(url).status_code == 404
    client.force_login(UserFactory())
    assert client.get(url).status_code == 404
    client.force_login(order.user)
    assert client.get(url).status_code == 200


def test_the_confirmation_names_the_chosen_country(client, client_cart):
    client_cart(VariantFactory(), 1)
    page = client.get(reverse("checkout:checkout")).content.decode()
    assert '<option value="GB" selected>United Kingdom</option>' in page
    response = client.post(reverse("checkout:checkout"), {**ADDRESS, "country": "IE"}, follow=True)
    assert Order.objects.get().country == "IE"
    assert "<br>\n    Ireland\n  </address>" in response.content.decode()


def test_checkout_without_a_country_says_what_to_do(client, client_cart):
    client_cart(VariantFactory(), 1)
    response = client.post(reverse("checkout:checkout"), {**ADDRESS, "country": ""})
    assert response.status_code == 200 and not Order.objects.exists()
    assert "Please choose your country from the list." in response.content.decode()
