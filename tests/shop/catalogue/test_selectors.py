"""What the storefront lists."""
from decimal import Decimal

import pytest

from shop.catalogue import selectors
from tests.shop.catalogue.factories import (
    ProductFactory,
    ProductWithPictureFactory,
    VariantFactory,
)

pytestmark = pytest.mark.django_db


def test_product_list_on_sale_has_from_price_and_hides_inactive_and_empty():
    mug = ProductFactory(name="Mug")
    VariantFactory(product=mug, price=Decimal("12.00"))
    VariantFactory(product=mug, price=Decimal("9.50"))
    VariantFactory(product__active=False)
    ProductFactory(name="No variants yet")

    products = list(selectors.product_list_on_sale())
    assert products == [mug]
    assert products[0].from_price == Decimal("9.50")


def test_variant_get_on_sale_skips_inactive_products():
    variant = VariantFactory(product__active=False)
    assert selectors.variant_get_on_sale(variant_id=variant.pk) is None
    assert selectors.variant_get_on_sale(variant_id=VariantFactory().pk) is not None


def test_product_image_missing_when_none_or_the_file_is_gone(media_root):
    assert selectors.product_image_missing(product=ProductFactory())
    product = ProductWithPictureFactory()
    assert not selectors.product_image_missing(product=product)
    product.image.storage.delete(product.image.name)
    assert selectors.product_image_missing(product=product)
