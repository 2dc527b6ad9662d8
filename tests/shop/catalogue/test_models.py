"""Products and variants."""
from decimal import Decimal

import pytest
from django.db import IntegrityError

from shop.catalogue.models import Variant
from tests.shop.catalogue.factories import ProductFactory, VariantFactory

pytestmark = pytest.mark.django_db


def test_product_url_and_name():
    product = ProductFactory(name="Enamel Mug", slug="enamel-mug")
    assert product.get_absolute_url() == "/products/enamel-mug/"
    assert str(product) == "Enamel Mug"


def test_variant_str_and_in_stock():
    variant = VariantFactory(product__name="Tee", name="Large / Blue", stock=0)
    assert str(variant) == "Tee – Large / Blue"
    assert not variant.in_stock


def test_sku_is_unique():
    VariantFactory(sku="MUG-1")
    with pytest.raises(IntegrityError):
        VariantFactory(sku="MUG-1")


def test_stock_cannot_go_below_zero():
    variant = VariantFactory(stock=1)
    with pytest.raises(IntegrityError):
        Variant.objects.filter(pk=variant.pk).update(stock=-1)


def test_price_cannot_be_negative():
    with pytest.raises(IntegrityError):
        VariantFactory(price=Decimal("-1.00"))


def test_picture_description_falls_back_to_the_name():
    product = ProductFactory(name="Enamel Mug", image_alt="")
    assert product.image_description == "Enamel Mug"
    product.image_alt = "A white mug with a blue rim"
    assert product.image_description == "A white mug with a blue rim"

