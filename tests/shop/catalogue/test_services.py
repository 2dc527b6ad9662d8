"""Catalogue writes used by seeding."""
from decimal import Decimal

import pytest

from shop.catalogue.services import (
    product_get_or_create,
    product_image_set,
    variant_get_or_create,
)
from tests.shop.catalogue.factories import ProductFactory, picture_bytes

pytestmark = pytest.mark.django_db


def test_get_or_create_leaves_an_existing_product_and_variant_alone():
    product, created = product_get_or_create(slug="mug", name="Mug")
    assert created
    variant, created = variant_get_or_create(
        product=product, sku="MUG-1", name="Blue", price=Decimal("5.00"), stock=3
    )
    assert created
    variant.stock = 1
    variant.save(update_fields=["stock"])

    again, created = product_get_or_create(slug="mug", name="Renamed")
    assert not created and again.name == "Mug"
    again_variant, created = variant_get_or_create(
        product=product, sku="MUG-1", name="Blue", price=Decimal("5.00"), stock=3
    )
    assert not created and again_variant.stock == 1


def test_variant_stock_cannot_be_negative():
    product, _ = product_get_or_create(slug="mug", name="Mug")
    with pytest.raises(ValueError):
        variant_get_or_create(product=product, sku="X", name="X", price=Decimal(1), stock=-1)


def test_product_image_set_saves_the_file_and_its_description(media_root):
    product = ProductFactory(slug="mug")
    product_image_set(product=product, content=picture_bytes(), filename="mug.png", alt="A mug")
    product.refresh_from_db()
    assert product.image.name == "products/mug.png"
    assert (media_root / "products" / "mug.png").read_bytes() == picture_bytes()
    assert product.image_alt == "A mug"
    assert product.image.url == "/media/products/mug.png"
