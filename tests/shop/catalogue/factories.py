"""Factories of products and variants."""
import io
from decimal import Decimal

import factory
from factory.django import DjangoModelFactory
from PIL import Image

from shop.catalogue.models import Product, Variant


def picture_bytes(colour: str = "#3d7a55", size=(40, 30), format: str = "PNG") -> bytes:
    """A small, real image file."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format=format)
    return buffer.getvalue()


class ProductFactory(DjangoModelFactory):
    class Meta:
        model = Product

    name = factory.Sequence(lambda n: f"Product {n}")
    slug = factory.Sequence(lambda n: f"product-{n}")
    description = "A fine thing."
    active = True


class ProductWithPictureFactory(ProductFactory):
    """Needs the `media_root` fixture, so the file lands in the test's own folder."""

    image = factory.django.ImageField(
        filename="picture.png", width=40, height=30, color="#3d7a55", format="PNG"
    )
    image_alt = "A green square mug"


class VariantFactory(DjangoModelFactory):
    class Meta:
        model = Variant

    product = factory.SubFactory(ProductFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"Option {n}")
    price = Decimal("10.00")
    stock = 10
