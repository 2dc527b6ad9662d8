"""The store's records sent to the connected store on the outbox's mechanics.

A change marks the record (a new wanted version) and queues its send once the transaction
commits; the worker claims it (one send at a time), builds the body from the database, sends
it and records the outcome for the version it sent; a change made meanwhile is sent next.
Transient failures retry with backoff; Mailchimp's refusals show on the record with its
words. E-commerce calls never touch a member's subscription status: customers go inside
orders and carts with opt_in_status false (ecommerce_bodies).

What goes, per kind (EcommerceRecord.Kind):
- product: PUT with all variants; a deleted product's variants are hidden (variant records);
- variant ("<product id>/<variant id>"): a price or stock change, PUT of the variant only;
  deleted: hidden with stock 0, never DELETEd. Stock taken by sales is sent coalesced;
- order: PUT with customer, lines and attribution on the first push; then a PATCH of the
  statuses, the total less refunds and tracking. A campaign Mailchimp no longer knows is
  dropped and the order sent again; products Mailchimp lacks are sent first;
- cart: once its email is known and the store's first sync is over, POST then PATCH (lines
  taken out are DELETEd), at most one call a minute; DELETEd once ordered or emptied;
- promo: the promo rule and its code, POST then PATCH; a deleted code is disabled.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from . import ecommerce_bodies as bodies
from . import outbox
from .client import MailchimpClient
from .exceptions import (
    MailchimpError,
    MailchimpInvalidResource,
    MailchimpNotConfigured,
    MailchimpNotFound,
    MailchimpTransientError,
)
from .models import ConnectedStore, EcommerceRecord

logger = logging.getLogger(__name__)

Kind = EcommerceRecord.Kind

# Order saves that change nothing Mailchimp holds (the confirmation email, the news choice).
ORDER_FIELDS_NOT_SENT = frozenset({
    "confirmation_sent_at", "confirmation_claimed_at", "news_lists",
    "news_confirmation_needed", "news_asked",
})


def policy() -> outbox.Policy:
    return outbox.Policy.from_settings("ECOMMERCE")


def cart_interval() -> float:
    """At most one call per cart in this many seconds."""
    return float(getattr(settings, "ECOMMERCE_CART_INTERVAL_SECONDS", 60))


def stock_delay() -> float:
    """Stock taken by sales is sent this long after the sale, coalesced per variant."""
    return float(getattr(settings, "ECOMMERCE_STOCK_DELAY_SECONDS", 300))


def connected_store() -> ConnectedStore | None:
    return ConnectedStore.objects.exclude(state=ConnectedStore.State.DISCONNECTED).first()


def product_body(product_id: int) -> dict | None:
    """PUT body of a product with all its variants, or None if it no longer exists."""
    return bodies.product_bodies([product_id]).get(product_id)


# ----------------------------------------------------------------------------- marking
def record_changed(*, kind: str, local_id: int | str, delay: float = 0,
                   store: ConnectedStore | None = None) -> EcommerceRecord | None:
    """The store changed a record: a new version for the connected store, sent on commit
    (after `delay` seconds). A record already waiting for a later send keeps that send: the
    change goes with it (coalesced), so a burst of changes costs one call."""
    store = store or connected_store()
    if store is None:
        return None
    now = timezone.now()
    due_at = now + timedelta(seconds=delay)
    record, created = EcommerceRecord.objects.get_or_create(
        store=store, kind=kind, local_id=str(local_id), defaults={"next_attempt_at": due_at})
    if created:
        enqueue_on_commit(record.pk, countdown=delay)
        return record
    queued = (record.wanted_version > record.sent_version and not record.failed_permanently
              and not record.claim_token and record.next_attempt_at > now)
    changes = {"wanted_version": F("wanted_version") + 1, "failed_permanently": False,
               "state": EcommerceRecord.State.WAITING, "failure_reason": ""}
    if queued and record.next_attempt_at <= due_at:
        EcommerceRecord.objects.filter(pk=record.pk).update(**changes)
        return record
    EcommerceRecord.objects.filter(pk=record.pk).update(**changes, next_attempt_at=due_at)
    enqueue_on_commit(record.pk, countdown=delay)
    return record


def enqueue_on_commit(record_id: int, *, countdown: float = 0) -> None:
    from subscriptions.selectors import pushes_paused

    from . import tasks

    def send() -> None:
        if pushes_paused():
            return
        tasks.ecommerce_send.apply_async((record_id,), countdown=countdown or None)

    transaction.on_commit(send, robust=True)


# ----------------------------------------------------------------------------- sending
@dataclass
class Sent:
    """What a send did: a note for the admin, and whether Mailchimp now holds the record."""

    note: str = ""
    remote_exists: bool | None = None  # None: unchanged


class Deferred(Exception):
    """Not to be sent yet (a cart while the store's first sync runs): ask again later."""

    def __init__(self, note: str, seconds: float):
        super().__init__(note)
        self.note = note
        self.seconds = seconds


class NotSendable(Exception):
    """The store cannot build a body Mailchimp should get (a setting missing): a failure the
    admin sees, with what to do; Retry sends it once that is done."""


class NeedsProducts(Exception):
    """Mailchimp lacks a product the order or cart names: those go first, this one after."""


def _q(value: str) -> str:
    return quote(str(value), safe="")


def _store_path(record: EcommerceRecord) -> str:
    return f"/ecommerce/stores/{_q(record.store.store_id)}"


def _names_field(error: MailchimpError, field: str) -> bool:
    return isinstance(error, MailchimpInvalidResource) and field in (error.detail or "")


def _send_product(client: MailchimpClient, record: EcommerceRecord) -> Sent:
    body = product_body(int(record.local_id))
    if body is None:
        return Sent("Deleted in the store: its variants are hidden in Mailchimp, with stock "
                    "0, for older orders.")
    client.request("PUT", f"{_store_path(record)}/products/{_q(record.local_id)}", body=body)
    return Sent(remote_exists=True)


def variant_local_id(product_id: int, variant_id: int) -> str:
    return f"{product_id}/{variant_id}"


def _send_variant(client: MailchimpClient, record: EcommerceRecord) -> Sent:
    product_id, variant_id = record.local_id.split("/", 1)
    path = f"{_store_path(record)}/products/{_q(product_id)}/variants/{_q(variant_id)}"
    found = bodies.variant_bodies([int(variant_id)]).get(int(variant_id))
    try:
        if found is None:  # deleted in the store: hidden, never deleted (orders point at it)
            client.request("PATCH", path, body={"inventory_quantity": 0, "visibility": "hidden"})
            return Sent("Deleted in the store: hidden in Mailchimp with stock 0.")
        client.request("PUT", path, body=found[1])
    except MailchimpNotFound:
        if found is None:
            return Sent("Deleted in the store; Mailchimp never had it.")
        # Mailchimp lacks the product: the product goes, with this variant in it.
        record_changed(kind=Kind.PRODUCT, local_id=product_id, store=record.store)
        return Sent("Sent with its product (Mailchimp did not have the product).")
    return Sent(remote_exists=True)


def _order_lines_products(order_id: int) -> list[int]:
    from shop.checkout.models import OrderLine

    return sorted(set(OrderLine.objects.filter(order_id=order_id)
                      .values_list("variant__product_id", flat=True)))


def _products_first(record: EcommerceRecord, product_ids: list[int]) -> None:
    for product_id in product_ids:
        record_changed(kind=Kind.PRODUCT, local_id=product_id, store=record.store)
    raise NeedsProducts("Mailchimp did not have a product of it yet: the products go first.")


def _send_order(client: MailchimpClient, record: EcommerceRecord) -> Sent:
    from shop.checkout.models import Order

    order_id = int(record.local_id)
    order = Order.objects.filter(pk=order_id).only("number").first()
    if order is None:
        return Sent("Deleted in the store; Mailchimp keeps what it had.")
    path = f"{_store_path(record)}/orders/{_q(order.number)}"
    note = ""
    if record.remote_exists:
        state = bodies.order_state_fields(Order.objects.get(pk=order_id))
        try:
            client.request("PATCH", path, body=state)
            return Sent()
        except MailchimpNotFound:  # deleted in Mailchimp meanwhile: sent whole again
            note = "Mailchimp had lost it: sent again."
    body = bodies.order_bodies([order_id], first_push=not record.remote_exists)[order_id]
    while True:
        try:
            client.request("PUT", path, body=body)
            return Sent(note, remote_exists=True)
        except MailchimpInvalidResource as error:
            if _names_field(error, "campaign_id") and "campaign_id" in body:
                # A campaign Mailchimp no longer knows (deleted, or of another audience): the
                # order counts without it rather than not at all.
                note = (f"Mailchimp does not know the campaign {body.pop('campaign_id')}: "
                        "sent without it.")
                continue
            if _names_field(error, "product"):
                _products_first(record, _order_lines_products(order_id))
            raise


def _cart_restore_url(cart) -> str:
    from shop.cart.services import cart_restore_url

    return cart_restore_url(cart=cart)


def _send_cart(client: MailchimpClient, record: EcommerceRecord) -> Sent:
    from shop.cart.models import Cart

    path = f"{_store_path(record)}/carts/{_q(bodies.cart_remote_id(int(record.local_id)))}"
    cart = Cart.objects.filter(pk=int(record.local_id)).first()
    lines = list(cart.lines.select_related("variant")) if cart is not None else []
    if cart is None or cart.ordered_at or not lines:
        if not record.remote_exists:
            return Sent("Nothing to send: ordered, emptied or deleted before it was sent.")
        try:
            client.request("DELETE", path)
        except MailchimpNotFound:
            pass
        why = "ordered" if cart is not None and cart.ordered_at else "emptied"
        return Sent(f"Deleted in Mailchimp: the cart was {why}.", remote_exists=False)
    if not cart.email:
        return Sent("Not sent: the visitor has not given an email yet.")
    if record.store.state == ConnectedStore.State.SYNCING:
        raise Deferred("Waiting for the store's first sync to finish.", cart_interval())
    if not getattr(settings, "SITE_URL", ""):
        raise NotSendable("Not sent: SITE_URL is not set, so the cart's restore link would "
                          "lead nowhere. Set SITE_URL to the store's public address, then Retry.")
    body = bodies.cart_body(cart, restore_url=_cart_restore_url(cart))
    try:
        if record.remote_exists:
            try:
                answer = client.request("PATCH", path, body=body)
            except MailchimpNotFound:
                answer = client.request("POST", f"{_store_path(record)}/carts", body=body)
        else:
            try:
                answer = client.request("POST", f"{_store_path(record)}/carts", body=body)
            except MailchimpInvalidResource as error:
                if "already exists" not in (error.detail or ""):
                    raise
                answer = client.request("PATCH", path, body=body)
    except MailchimpInvalidResource as error:
        if _names_field(error, "product"):
            _products_first(record, sorted({line.variant.product_id for line in lines}))
        raise
    wanted = {line["id"] for line in body["lines"]}
    for line in (answer or {}).get("lines", []):
        if line.get("id") not in wanted:  # a PATCH merges lines: the ones taken out go
            try:
                client.request("DELETE", f"{path}/lines/{_q(line['id'])}")
            except MailchimpNotFound:
                pass
    return Sent(remote_exists=True)


def _upsert(client: MailchimpClient, *, collection: str, item: str, body: dict,
            exists: bool) -> None:
    """POST a new one (PATCH if Mailchimp has it), or PATCH a known one (POST if it lost it)."""
    patch = {key: value for key, value in body.items() if key != "id"}
    if exists:
        try:
            client.request("PATCH", item, body=patch)
            return
        except MailchimpNotFound:
            pass
    try:
        client.request("POST", collection, body=body)
    except MailchimpInvalidResource as error:
        if "already exists" not in (error.detail or ""):
            raise
        client.request("PATCH", item, body=patch)


def _send_promo(client: MailchimpClient, record: EcommerceRecord) -> Sent:
    pk = int(record.local_id)
    rules = f"{_store_path(record)}/promo-rules"
    rule_path = f"{rules}/{_q(bodies.promo_rule_id(pk))}"
    code_path = f"{rule_path}/promo-codes/{_q(bodies.promo_code_id(pk))}"
    pair = bodies.promo_bodies([pk]).get(pk)
    if pair is None:
        if not record.remote_exists:
            return Sent("Deleted in the store before it was sent.")
        for path in (code_path, rule_path):
            try:
                client.request("PATCH", path, body={"enabled": False})
            except MailchimpNotFound:
                pass
        return Sent("Deleted in the store: disabled in Mailchimp.")
    rule, code = pair
    _upsert(client, collection=rules, item=rule_path, body=rule, exists=record.remote_exists)
    _upsert(client, collection=f"{rule_path}/promo-codes", item=code_path, body=code,
            exists=record.remote_exists)
    return Sent(remote_exists=True)


SENDERS = {
    Kind.PRODUCT: _send_product,
    Kind.VARIANT: _send_variant,
    Kind.ORDER: _send_order,
    Kind.CART: _send_cart,
    Kind.PROMO: _send_promo,
}


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
    sent, deferred, problem, transient = Sent(), None, "", False
    try:
        if record.store.state == ConnectedStore.State.DISCONNECTED:
            raise NotSendable("Not sent: e-commerce was disconnected. Connect it again and "
                              "press Sync store data to send the store's data.")
        client = client or mailchimp_client_build()
        sent = SENDERS[record.kind](client, record)
    except Deferred as wait:
        deferred = wait
    except NotSendable as error:
        problem = str(error)
    except NeedsProducts as wait:
        problem, transient, retry_in = str(wait), True, 2.0
    except MailchimpNotConfigured as error:
        problem, transient = f"Mailchimp is not connected: {error}", True
    except MailchimpTransientError as error:
        problem, transient = str(error), True
        retry_in = getattr(error, "retry_after", None)
    except MailchimpError as error:
        problem = str(error)
    except Exception as error:  # a defect of ours: shown on the record, not a silent claim
        logger.exception("e-commerce record %s could not be sent", record_id)
        problem = f"The store could not build or send it ({type(error).__name__}: {error})."
    with transaction.atomic():
        held = outbox.held(EcommerceRecord, pk=record_id, token=token)
        if held is None:
            return True
        follow_up = 0.0
        if deferred is not None:
            outbox.release(held)
            held.next_attempt_at = timezone.now() + timedelta(seconds=deferred.seconds)
            held.failure_reason = deferred.note
            held.state = EcommerceRecord.State.WAITING
            enqueue_on_commit(held.pk, countdown=deferred.seconds)
        elif not problem:
            outbox.confirmed(held, version=version)
            held.synced_at = timezone.now()
            held.failure_reason = sent.note
            if sent.remote_exists is not None:
                held.remote_exists = sent.remote_exists
            more = held.wanted_version > held.sent_version
            held.state = EcommerceRecord.State.WAITING if more else EcommerceRecord.State.SYNCED
            if more:
                follow_up = cart_interval() if held.kind == Kind.CART else 0.0
                held.next_attempt_at = timezone.now() + timedelta(seconds=follow_up)
                enqueue_on_commit(held.pk, countdown=follow_up)
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
    return True


# ----------------------------------------------------------------------------- receivers
def _record(kind: str, local_id, *, delay: float = 0) -> None:
    record_changed(kind=kind, local_id=local_id, delay=delay)


def on_product_saved(sender, instance, **kwargs) -> None:
    _record(Kind.PRODUCT, instance.pk)


def on_product_deleted(sender, instance, **kwargs) -> None:
    _record(Kind.PRODUCT, instance.pk)


def variant_changed(*, product_id: int, variant_id: int, delay: float = 0) -> None:
    """A variant's price or stock changed: the variant alone, unless its product still has
    to go (never sent, or a send waiting), which then takes the change with it."""
    store = connected_store()
    if store is None:
        return
    product = EcommerceRecord.objects.filter(
        store=store, kind=Kind.PRODUCT, local_id=str(product_id)).first()
    if product is None or not product.remote_exists \
            or product.wanted_version > product.sent_version:
        record_changed(kind=Kind.PRODUCT, local_id=product_id, store=store)
    else:
        record_changed(kind=Kind.VARIANT, local_id=variant_local_id(product_id, variant_id),
                       delay=delay, store=store)


def on_variant_saved(sender, instance, **kwargs) -> None:
    variant_changed(product_id=instance.product_id, variant_id=instance.pk)


def on_variant_deleted(sender, instance, **kwargs) -> None:
    _record(Kind.VARIANT, variant_local_id(instance.product_id, instance.pk))


def on_order_line_saved(sender, instance, created, **kwargs) -> None:
    """A sale took stock (a queryset UPDATE, no signal of its own): sent coalesced, later."""
    if created:
        variant_changed(product_id=instance.variant.product_id, variant_id=instance.variant_id,
                        delay=stock_delay())


def on_order_saved(sender, instance, update_fields=None, **kwargs) -> None:
    if update_fields and set(update_fields) <= ORDER_FIELDS_NOT_SENT:
        return
    _record(Kind.ORDER, instance.pk)


def on_cart_changed(sender, instance, **kwargs) -> None:
    store = connected_store()
    if store is None:
        return
    delay = 0.0
    finished = getattr(instance, "ordered_at", None) or kwargs.get("signal_name") == "deleted"
    if not finished:
        # The interval runs from the last call: a cart Mailchimp does not hold yet (no email
        # until now, say) goes at once.
        record = EcommerceRecord.objects.filter(
            store=store, kind=Kind.CART, local_id=str(instance.pk)
        ).only("synced_at", "remote_exists").first()
        if record is not None and record.remote_exists and record.synced_at is not None:
            next_call = record.synced_at + timedelta(seconds=cart_interval())
            delay = max(0.0, (next_call - timezone.now()).total_seconds())
    record_changed(kind=Kind.CART, local_id=instance.pk, delay=delay, store=store)


def on_cart_deleted(sender, instance, **kwargs) -> None:
    on_cart_changed(sender, instance, signal_name="deleted")


def on_promo_changed(sender, instance, **kwargs) -> None:
    _record(Kind.PROMO, instance.pk)


def sweep(*, limit: int = 1000) -> int:
    """Free the claims of dead workers and queue every due record; how many were queued."""
    from subscriptions.selectors import pushes_paused

    from . import tasks

    records = EcommerceRecord.objects.exclude(store__state=ConnectedStore.State.DISCONNECTED)
    outbox.free_lapsed(records, policy=policy())
    if pushes_paused():
        return 0
    due = list(records.filter(outbox.due(timezone.now())).order_by("next_attempt_at")
               .values_list("pk", flat=True)[:limit])
    for record_id in due:
        tasks.ecommerce_send.delay(record_id)
    return len(due)


def records_retry(*, record_ids) -> int:
    """Staff pressed Retry: each record of the connected store is sent again, built afresh
    from the database; how many were queued."""
    store = connected_store()
    if store is None:
        return 0
    records = list(EcommerceRecord.objects.filter(pk__in=record_ids, store=store)
                   .values_list("kind", "local_id"))
    for kind, local_id in records:
        record_changed(kind=kind, local_id=local_id, store=store)
    return len(records)
