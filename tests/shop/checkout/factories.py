"""Factories of orders and their lines."""
from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from shop.checkout.models import Order, OrderLine
from tests.shop.catalogue.factories import VariantFactory


class OrderFactory(DjangoModelFactory):
    class Meta:
        model = Order

    number = factory.Sequence(lambda n: f"TEST{n:04d}")
    user = None
    email = factory.Sequence(lambda n: f"buyer{n}@example.com")
    first_name = "Ann"
    last_name = "Buyer"
    address_line1 = "1 High Street"
    city = "Hilltown"
    postcode = "HT1 1AA"
    country = "GB"
    total = Decimal("10.00")


class OrderLineFactory(DjangoModelFactory):
    class Meta:
        model = OrderLine

    order = factory.SubFactory(OrderFactory)
    variant = factory.SubFactory(VariantFactory)
    product_name = factory.LazyAttribute(lambda line: line.variant.product.name)
    variant_name = factory.LazyAttribute(lambda line: line.variant.name)
    sku = factory.LazyAttribute(lambda line: line.variant.sku)
    unit_price = factory.LazyAttribute(lambda line: line.variant.price)
    quantity = 1
