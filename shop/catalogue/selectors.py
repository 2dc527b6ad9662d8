"""Reads of the catalogue: what is on sale, and from what price."""
from __future__ import annotations

from django.db.models import Min, QuerySet

from .models import Product, Variant


def product_list_on_sale() -> QuerySet[Product]:
    """Active products that have something to buy, each with `from_price`."""
    return (
        Product.objects.filter(active=True)
        .annotate(from_price=Min("variants__price"))
        .filter(from_price__isnull=False)
        .order_by("name")
    )


def product_get_on_sale(*, slug: str) -> Product | None:
    return product_list_on_sale().filter(slug=slug).first()


def product_variants(*, product: Product) -> QuerySet[Variant]:
    return product.variants.order_by("price", "name")


def variant_get_on_sale(*, variant_id: int) -> Variant | None:
    return (
        Variant.objects.select_related("product")
        .filter(pk=variant_id, product__active=True)
        .first()
    )


def product_image_missing(*, product: Product) -> bool:
    """True when the product has no picture, or its file is gone (a wiped media folder)."""
    return not product.image or not product.image.storage.exists(product.image.name)
