"""Catalogue writes used by seeding."""
from decimal import Decimal

import pytest

from shop.catalogue.services import product_get_or_create, variant_get_or_create

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
