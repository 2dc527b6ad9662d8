"""The store's connected store in Mailchimp's e-commerce API: its id, connecting (adopting
one that exists), disconnecting. Deleting the store in Mailchimp (which deletes all its
customers, orders, products and carts there) happens only when an admin confirmed it."""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from .client import MailchimpClient
from .exceptions import MailchimpError
from .models import Audience, ConnectedStore

STORE_ID_MAX = 50


def store_domain() -> str:
    """The store's public host (SITE_URL), as Mailchimp's Connected Sites expect it."""
    return urlsplit(getattr(settings, "SITE_URL", "") or "").netloc or "localhost"


def store_id_for(audience: Audience) -> str:
    """`{site}-{list id}`, from MAILCHIMP_STORE_ID_PREFIX or the site's host: stable across
    deploys, never random, and never containing "server" (the official client rewrites it)."""
    prefix = getattr(settings, "MAILCHIMP_STORE_ID_PREFIX", "") or store_domain()
    slug = slugify(prefix.replace(".", "-").replace(":", "-")) or "store"
    slug = re.sub("server", "srv", slug, flags=re.IGNORECASE)
    store_id = f"{slug[:STORE_ID_MAX - len(audience.mailchimp_id) - 1]}-{audience.mailchimp_id}"
    return re.sub("server", "srv", store_id, flags=re.IGNORECASE)


class StoreRefused(Exception):
    """A connect or disconnect that cannot go ahead; `reason` is for the admin."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Connected:
    store: ConnectedStore
    adopted: bool


def _pushes_paused() -> bool:
    from subscriptions.selectors import pushes_paused

    return pushes_paused()


def store_connect(*, client: MailchimpClient, audience: Audience) -> Connected:
    """Connect the audience's store: adopt Mailchimp's store with our id, or create it
    (is_syncing on until the first backfill ends). One audience at a time; a staging copy
    (pushes paused) sends nothing."""
    if _pushes_paused():
        raise StoreRefused("Pushes to Mailchimp are paused here (a staging copy?): "
                           "nothing is sent, so no store is connected.")
    if audience.removed_at is not None:
        raise StoreRefused("This list was deleted in Mailchimp.")
    current = ConnectedStore.objects.exclude(state=ConnectedStore.State.DISCONNECTED).first()
    if current is not None and current.audience_id != audience.pk:
        raise StoreRefused(f"E-commerce is connected to the list “{current.audience.name}”; "
                           "disconnect it first (Mailchimp ties a store to one audience).")
    store_id = store_id_for(audience)
    try:
        remote = client.store_get(store_id)
        if remote is not None and remote.list_id != audience.mailchimp_id:
            raise StoreRefused(f"Mailchimp's store {store_id} belongs to another audience.")
        adopted = remote is not None
        if remote is None:
            remote = client.store_create(
                store_id=store_id, list_id=audience.mailchimp_id,
                name=getattr(settings, "STORE_NAME", "Store"), domain=store_domain(),
                currency_code=getattr(settings, "STORE_CURRENCY", "USD"), is_syncing=True)
    except MailchimpError as error:
        raise StoreRefused(f"Mailchimp refused: {error}") from None
    with transaction.atomic():
        store, _ = ConnectedStore.objects.update_or_create(
            audience=audience,
            defaults={"store_id": store_id, "adopted": adopted, "error": "",
                      "disconnected_at": None,
                      "state": (ConnectedStore.State.SYNCING if remote.is_syncing or not adopted
                                else ConnectedStore.State.SYNCED)})
    return Connected(store=store, adopted=adopted)


def store_disconnect(*, client: MailchimpClient, store: ConnectedStore,
                     delete_in_mailchimp: bool = False, confirmation: str = "") -> ConnectedStore:
    """Stop sending e-commerce data. The store stays in Mailchimp unless the admin asked to
    delete it and typed its id as confirmation."""
    if delete_in_mailchimp:
        if confirmation != store.store_id:
            raise StoreRefused("Type the store's id to confirm: deleting it deletes all its "
                               "orders, products, customers and carts in Mailchimp.")
        try:
            client.store_delete(store.store_id)
        except MailchimpError as error:
            raise StoreRefused(f"Mailchimp refused: {error}") from None
    with transaction.atomic():
        if delete_in_mailchimp:
            store.records.all().delete()  # Mailchimp holds none of them any more
        store.state = ConnectedStore.State.DISCONNECTED
        store.disconnected_at = timezone.now()
        store.save(update_fields=["state", "disconnected_at"])
    return store


def store_connect_and_sync(*, client: MailchimpClient, audience: Audience) -> Connected:
    """"Connect e-commerce": connect the audience's store, then queue its first "Sync store
    data" (the store stays is_syncing, so no automation fires on the history)."""
    from .ecommerce_backfill import BackfillRefused, backfill_start

    connected = store_connect(client=client, audience=audience)
    try:
        backfill_start(store=connected.store)
    except BackfillRefused:
        pass  # one is going already (a second press): it covers this connection too
    return connected
