"""E-commerce records sent to the connected store on the outbox's mechanics.

A change marks the record (a new wanted version) and queues its send once the transaction
commits; the worker claims it (one send at a time), builds the body from the database, PUTs
it and records the outcome for the version it sent; a change made meanwhile is sent next.
Transient failures retry with backoff; Mailchimp's refusals show on the record with its
words. E-commerce calls never touch a member's subscription status (customers go with
opt_in_status false; none is sent here yet).
"""
from __future__ import annotations

import logging
from decimal import Decimal
from urllib.parse import quote

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from . import outbox
from .client import MailchimpClient
from .exceptions import MailchimpError, MailchimpNotConfigured, MailchimpTransientError
from .models import ConnectedStore, EcommerceRecord

logger = logging.getLogger(__name__)

Kind = EcommerceRecord.Kind


def policy() -> outbox.Policy:
    return outbox.Policy.from_settings("ECOMMERCE")


def connected_store() -> ConnectedStore | None:
    return ConnectedStore.objects.exclude(state=ConnectedStore.State.DISCONNECTED).first()


def _absolute(path: str) -> str:
    return (getattr(settings, "SITE_URL", "") or "").rstrip("/") + path


def _money(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01")))


def product_body(product_id: int) -> dict | None:
    """PUT body of a product with all its variants, or None if it no longer exists."""
    from shop.catalogue.models import Product

    product = Product.objects.filter(pk=product_id).prefetch_related("variants").first()
    if product is None:
        return None
    url = _absolute(product.get_absolute_url())
    variants = [{
        "id": str(variant.pk), "title": variant.name or product.name, "sku": variant.sku,
        "price": _money(variant.price), "inventory_quantity": variant.stock, "url": url,
        "visibility": "visible" if product.active else "hidden",
    } for variant in product.variants.all()]
    if not variants:  # Mailchimp needs one; a product with none is offered as unavailable
        variants = [{"id": f"p{product.pk}", "title": product.name, "inventory_quantity": 0,
                     "visibility": "hidden", "url": url}]
    return {"id": str(product.pk), "title": product.name, "url": url,
            "description": product.description, "variants": variants}


def record_changed(*, kind: str, local_id: int | str) -> EcommerceRecord | None:
    """The store changed a record: a new version for the connected store, sent on commit."""
    store = connected_store()
    if store is None:
        return None
    record, created = EcommerceRecord.objects.get_or_create(
        store=store, kind=kind, local_id=str(local_id))
    if not created:
        EcommerceRecord.objects.filter(pk=record.pk).update(
            wanted_version=F("wanted_version") + 1, failed_permanently=False,
            next_attempt_at=timezone.now(), state=EcommerceRecord.State.WAITING,
            failure_reason="")
    enqueue_on_commit(record.pk)
    return record


def enqueue_on_commit(record_id: int, *, countdown: float = 0) -> None:
    from subscriptions.selectors import pushes_paused

    from . import tasks

    def send() -> None:
        if pushes_paused():
            return
        tasks.ecommerce_send.apply_async((record_id,), countdown=countdown or None)

    transaction.on_commit(send, robust=True)


def _path(record: EcommerceRecord) -> str:
    store = quote(record.store.store_id, safe="")
    return f"/ecommerce/stores/{store}/products/{quote(record.local_id, safe='')}"


def _send(client: MailchimpClient, record: EcommerceRecord) -> str:
    body = product_body(int(record.local_id))
    if body is None:
        return "The product was deleted in the store; Mailchimp keeps it for older orders."
    client.request("PUT", _path(record), body=body)
    return ""


def deliver(*, record_id: int, client: MailchimpClient | None = None) -> bool:
    """Claim the record, send its current state, record the outcome. False: nothing to do."""
    from mailchimp_integration.services import mailchimp_client_build

    records = EcommerceRecord.objects.all()
    token = outbox.claim_one(records, pk=record_id)
    if not token:
        return False
    record = EcommerceRecord.objects.select_related("store").get(pk=record_id)
    version = record.claimed_version
    retry_in = None
    try:
        client = client or mailchimp_client_build()
        note = _send(client, record)
    except MailchimpNotConfigured as error:
        note, problem = "", f"Mailchimp is not connected: {error}"
        transient = True
    except MailchimpTransientError as error:
        note, problem, transient = "", str(error), True
        retry_in = getattr(error, "retry_after", None)
    except MailchimpError as error:
        note, problem, transient = "", str(error), False
    else:
        problem, transient = "", False
    with transaction.atomic():
        held = outbox.held(EcommerceRecord, pk=record_id, token=token)
        if held is None:
            return True
        if not problem:
            outbox.confirmed(held, version=version)
            held.synced_at = timezone.now()
            held.failure_reason = note
            held.state = (EcommerceRecord.State.SYNCED if held.sent_version >= held.wanted_version
                          else EcommerceRecord.State.WAITING)
        elif transient:
            delay, spent = outbox.retry_later(held, policy=policy(), retry_after=retry_in,
                                              outcome_unknown=False)
            held.failure_reason = problem
            held.state = EcommerceRecord.State.FAILED if spent else EcommerceRecord.State.WAITING
            enqueue_on_commit(held.pk, countdown=delay)
        else:
            outbox.failed(held)
            held.failure_reason = problem
            held.state = EcommerceRecord.State.FAILED
        held.save()
        if not problem and held.wanted_version > held.sent_version:
            enqueue_on_commit(held.pk)
    return True


def on_product_saved(sender, instance, **kwargs) -> None:
    record_changed(kind=Kind.PRODUCT, local_id=instance.pk)


def on_variant_saved(sender, instance, **kwargs) -> None:
    record_changed(kind=Kind.PRODUCT, local_id=instance.product_id)


def sweep(*, limit: int = 1000) -> int:
    """Free the claims of dead workers and queue every due record; how many were queued."""
    from subscriptions.selectors import pushes_paused

    from . import tasks

    records = EcommerceRecord.objects.all()
    outbox.free_lapsed(records, policy=policy())
    if pushes_paused():
        return 0
    due = list(records.filter(outbox.due(timezone.now())).order_by("next_attempt_at")
               .values_list("pk", flat=True)[:limit])
    for record_id in due:
        tasks.ecommerce_send.delay(record_id)
    return len(due)
