"""Writes to the catalogue. Products are mostly edited in the admin; these serve the seeding."""
from __future__ import annotations

from decimal import Decimal

from django.core.files.base import ContentFile
from django.db import transaction

from .models import Product, Variant


@transaction.atomic
def product_get_or_create(
    *, slug: str, name: str, description: str = "", active: bool = True
) -> tuple[Product, bool]:
    """The product with this slug, created with these details if it is missing.

    An existing product is left as it is, so re-seeding never undoes edits made in the admin.
    """
    return Product.objects.get_or_create(
        slug=slug, defaults={"name": name, "description": description, "active": active}
    )


@transaction.atomic
def variant_get_or_create(
    *, product: Product, sku: str, name: str, price: Decimal, stock: int
) -> tuple[Variant, bool]:
    """The variant with this SKU, created on `product` if it is missing (never changed)."""
    if stock < 0:
        raise ValueError("stock cannot be negative")
    return Variant.objects.get_or_create(
        sku=sku, defaults={"product": product, "name": name, "price": price, "stock": stock}
    )


def product_image_set(*, product: Product, content: bytes, filename: str, alt: str = "") -> Product:
    """Give `product` this picture (saved to the media storage) and its description."""
    product.image.save(filename, ContentFile(content), save=False)
    product.image_alt = alt
    product.save(update_fields=["image", "image_alt"])
    return product
