"""Products in the connected store (issue "E-commerce support"), sent by a real worker over
HTTP to the sandbox on the outbox's mechanics: a product saved appears with all its variants;
a price change arrives; a transient failure is retried; Mailchimp's refusal shows on the
record with its words; no connected store, or pushes paused, sends nothing."""
from decimal import Decimal

import pytest
from django.utils import timezone

from mailchimp_integration import ecommerce, ecommerce_delivery
from mailchimp_integration.models import Audience, EcommerceRecord
from mailchimp_integration.services import mailchimp_client_build
from shop.catalogue.models import Product, Variant
from tests.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

PRODUCTS = "/ecommerce/stores/*/products/*"


@pytest.fixture
def store(connected, settings):
    settings.SITE_URL = "https://shop.example.com"
    list_id = connected.create_list("Newsletter")
    audience = Audience.objects.create(mailchimp_id=list_id, name="Newsletter", active=True,
                                       last_seen_at=timezone.now())
    return ecommerce.store_connect(client=mailchimp_client_build(), audience=audience).store


def product_made(name="Mug", price="12.50", stock=3) -> Product:
    product = Product.objects.create(name=name, slug=name.lower())
    Variant.objects.create(product=product, sku=f"{name}-1", name="Blue",
                           price=Decimal(price), stock=stock)
    return product


def remote_product(sandbox, store, product) -> dict:
    """The product as Mailchimp's API answers it (a GET, as the store would read it)."""
    return mailchimp_client_build().request(
        "GET", f"/ecommerce/stores/{store.store_id}/products/{product.pk}")


def synced(product) -> EcommerceRecord | None:
    record = EcommerceRecord.objects.filter(local_id=str(product.pk)).first()
    return record if record and record.state == EcommerceRecord.State.SYNCED \
        and record.sent_version >= record.wanted_version else None


def test_a_saved_product_arrives_with_its_variants_and_then_its_new_price(
    connected, store, celery_worker_process
):
    product = product_made()
    wait_for(lambda: synced(product), timeout=20, message="the product was not sent")
    remote = remote_product(connected, store, product)
    assert remote["title"] == "Mug"
    [variant] = remote["variants"]
    assert (variant["price"], variant["inventory_quantity"], variant["sku"]) == (12.5, 3, "Mug-1")

    Variant.objects.filter(product=product).update(price=Decimal("9.99"))
    Variant.objects.get(product=product).save()
    wait_for(lambda: remote_product(connected, store, product)["variants"][0]["price"] == 9.99,
             timeout=20, message="the new price did not arrive")
    puts = [r for r in connected.request_log() if r["method"] == "PUT"
            and "/products/" in r["path"]]
    assert len(puts) >= 2


def test_a_transient_failure_is_retried_and_a_refusal_shows_mailchimps_words(
    connected, store, celery_worker_process
):
    connected.fail_status(503, times=2, route=PRODUCTS, method="PUT")
    product = product_made()
    wait_for(lambda: synced(product), timeout=30, message="the product was not retried")

    connected.fail_status(403, times=None, route=PRODUCTS, method="PUT")
    other = product_made(name="Bowl")
    record = wait_for(lambda: EcommerceRecord.objects.filter(
        local_id=str(other.pk), state=EcommerceRecord.State.FAILED).first(), timeout=20,
        message="the refusal was not recorded")
    assert record.failed_permanently and record.failure_reason


def test_nothing_is_sent_without_a_connected_store_or_while_pushes_are_paused(
    connected, store, settings
):
    settings.SUBSCRIPTIONS_PUSHES_PAUSED = True
    connected.clear_requests()
    product = product_made()
    assert EcommerceRecord.objects.filter(local_id=str(product.pk)).exists()
    assert ecommerce_delivery.sweep() == 0
    assert connected.request_log() == []

    store.delete()
    settings.SUBSCRIPTIONS_PUSHES_PAUSED = False
    product_made(name="Plate")
    assert not EcommerceRecord.objects.exists()
