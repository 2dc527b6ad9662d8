"""The catalogue's back-office pages."""
import pytest
from django.urls import reverse

from tests.shop.catalogue.factories import VariantFactory

pytestmark = pytest.mark.django_db


def test_product_changelist_and_change_page(admin_client):
    variant = VariantFactory(product__name="Enamel Mug", sku="MUG-BLU")
    changelist = admin_client.get(reverse("admin:catalogue_product_changelist"))
    assert changelist.status_code == 200 and "Enamel Mug" in changelist.content.decode()
    assert "Enamel Mug" in admin_client.get(
        reverse("admin:catalogue_product_changelist"), {"q": "MUG-BLU"}
    ).content.decode()
    change = admin_client.get(
        reverse("admin:catalogue_product_change", args=[variant.product_id])
    )
    assert change.status_code == 200
    assert "MUG-BLU" in change.content.decode()  # the variants inline


def test_product_add_page(admin_client):
    assert admin_client.get(reverse("admin:catalogue_product_add")).status_code == 200
