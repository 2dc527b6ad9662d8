"""The cart pages, including what a customer sees when they type something odd."""
import pytest
from django.urls import reverse

from shop.cart.cart import Cart
from tests.shop.catalogue.factories import VariantFactory

pytestmark = pytest.mark.django_db


def cart_of(client) -> dict:
    return Cart(client.session).quantities()


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def add(client, variant, quantity, **extra):
    return client.post(
        reverse("cart:add", args=[variant.product_id]),
        {"variant": variant.pk, "quantity": quantity, **extra},
        follow=True,
    )


def test_add_then_view_the_cart(client):
    variant = VariantFactory(product__name="Mug", name="Blue", stock=5)
    response = add(client, variant, 2)
    assert response.redirect_chain[-1][0] == reverse("cart:detail")
    assert "Added 2 × Mug (Blue) to your cart." in messages_of(response)
    assert cart_of(client) == {variant.pk: 2}
    page = response.content.decode()
    assert "Mug" in page and "$20.00" in page
    assert "Cart (2)" in page  # the header count


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        ("two", "Please enter the quantity as a whole number, for example 1 or 2."),
        ("1.5", "Please enter the quantity as a whole number, for example 1 or 2."),
        ("", "Please enter a quantity."),
        ("0", "Please choose a quantity of at least 1."),
        ("-3", "Please choose a quantity of at least 1."),
        ("6", "Sorry, we only have 5 of Mug (Blue) in stock."),
    ],
)
def test_add_with_bad_quantity_changes_nothing(client, quantity, message):
    variant = VariantFactory(product__name="Mug", name="Blue", stock=5)
    response = add(client, variant, quantity)
    assert response.redirect_chain[-1][0] == variant.product.get_absolute_url()
    assert messages_of(response) == [message]
    assert cart_of(client) == {}


def test_add_a_variant_of_another_product_is_refused(client):
    variant = VariantFactory()
    other = VariantFactory()
    response = client.post(
        reverse("cart:add", args=[variant.product_id]),
        {"variant": other.pk, "quantity": 1},
        follow=True,
    )
    assert messages_of(response) == ["Please choose one of the options shown."]
    assert cart_of(client) == {}


def test_add_needs_post(client):
    variant = VariantFactory()
    assert client.get(reverse("cart:add", args=[variant.product_id])).status_code == 405


def test_update_quantity(client, client_cart):
    variant = VariantFactory(stock=5)
    client_cart(variant, 1)
    response = client.post(
        reverse("cart:update", args=[variant.pk]), {"quantity": 4}, follow=True
    )
    assert cart_of(client) == {variant.pk: 4}
    assert any(message.startswith("Updated") for message in messages_of(response))


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        ("lots", "Please enter the quantity as a whole number, for example 1 or 2."),
        ("0", "Please choose a quantity of at least 1."),
        ("-1", "Please choose a quantity of at least 1."),
        ("9", "Sorry, we only have 5 of Mug (Blue) in stock."),
    ],
)
def test_update_with_bad_quantity_changes_nothing(client, client_cart, quantity, message):
    variant = VariantFactory(product__name="Mug", name="Blue", stock=5)
    client_cart(variant, 2)
    response = client.post(
        reverse("cart:update", args=[variant.pk]), {"quantity": quantity}, follow=True
    )
    assert messages_of(response) == [message]
    assert cart_of(client) == {variant.pk: 2}


def test_remove(client, client_cart):
    variant = VariantFactory()
    client_cart(variant, 1)
    response = client.post(reverse("cart:remove", args=[variant.pk]), follow=True)
    assert cart_of(client) == {}
    assert "Your cart is empty" in response.content.decode()


def test_empty_cart_page(client):
    response = client.get(reverse("cart:detail"))
    assert response.status_code == 200
    assert "Your cart is empty" in response.content.decode()
