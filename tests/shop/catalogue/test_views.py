"""The catalogue pages."""
from decimal import Decimal

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

from tests.shop.catalogue.factories import (
    ProductFactory,
    ProductWithPictureFactory,
    VariantFactory,
)

pytestmark = pytest.mark.django_db


def test_product_list_shows_active_products_with_from_price(client):
    VariantFactory(product__name="Enamel Mug", price=Decimal("12.00"))
    VariantFactory(product__name="Hidden Thing", product__active=False)
    response = client.get(reverse("catalogue:product_list"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Enamel Mug" in page and "from $12.00" in page
    assert "Hidden Thing" not in page
    assert "Hilltop Goods" in page or response.context["store_name"] in page


def test_product_page_has_variants_quantity_and_add_to_cart(client):
    variant = VariantFactory(product__slug="tee", name="Large / Blue", price=Decimal("30.00"))
    VariantFactory(product=variant.product, name="Small / Red", stock=0)
    response = client.get(reverse("catalogue:product_detail", args=["tee"]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Large / Blue – $30.00" in page
    assert "Small / Red – $10.00 (out of stock)" in page
    assert 'name="quantity"' in page and "Add to cart" in page
    assert "csrfmiddlewaretoken" in page


def test_product_page_of_an_inactive_or_unknown_product_is_not_found(client):
    VariantFactory(product__slug="gone", product__active=False)
    assert client.get(reverse("catalogue:product_detail", args=["gone"])).status_code == 404
    assert client.get(reverse("catalogue:product_detail", args=["nope"])).status_code == 404


def test_product_page_out_of_stock(client):
    product = ProductFactory(slug="sold-out")
    VariantFactory(product=product, stock=0)
    page = client.get(product.get_absolute_url()).content.decode()
    assert "out of stock" in page and "Add to cart" not in page


def test_product_list_and_page_show_the_picture_with_its_description(client, media_root):
    product = ProductWithPictureFactory(name="Mug", slug="mug", image_alt="A green mug")
    VariantFactory(product=product)
    tag = f'src="{product.image.url}" alt="A green mug"'
    listing = client.get(reverse("catalogue:product_list")).content.decode()
    assert tag in listing and 'loading="lazy"' in listing
    page = client.get(product.get_absolute_url()).content.decode()
    assert tag in page
    # The picture is served, and is the file that was uploaded.
    picture = client.get(product.image.url)
    assert picture.status_code == 200 and picture["Content-Type"] == "image/png"
    assert b"".join(picture.streaming_content) == (media_root / product.image.name).read_bytes()


def test_a_product_without_a_picture_shows_the_placeholder(client):
    VariantFactory(product__name="Plain", product__slug="plain")
    for url in (reverse("catalogue:product_list"), "/products/plain/"):
        page = client.get(url).content.decode()
        assert 'src="/static/shop/product-placeholder.svg" alt=""' in page
    assert finders.find("shop/product-placeholder.svg")  # a static file, like the CSS
