"""Mailchimp audiences, group categories and groups as the store knows them, and the connection."""
from __future__ import annotations

from django.db import models
from django.utils.translation import ngettext

from .outbox import DeliveryState


def count_of(number: int, singular: str, plural: str) -> str:
    """"1 group", "2 groups": Django's pluralisation, with the number."""
    return ngettext("%(count)d " + singular, "%(count)d " + plural, number) % {"count": number}


class MailchimpConnection(models.Model):
    """The store's one Mailchimp connection (a singleton row, pk=1).

    Also the lock that serialises the write phase of concurrent list syncs.
    """

    SINGLETON_ID = 1

    # Fernet token of the API key entered in the admin; empty when none was entered.
    api_key_encrypted = models.TextField(blank=True, default="")
    api_key_updated_at = models.DateTimeField(null=True, blank=True)
    account_name = models.CharField(max_length=255, blank=True, default="")
    # The fetch start of the newest snapshot of lists written: an older snapshot never
    # overwrites a newer one.
    lists_synced_at = models.DateTimeField(null=True, blank=True)
    # Set once, when the first automatic sync of a newly connected store was enqueued.
    first_sync_requested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "Mailchimp integration"
        verbose_name_plural = "Mailchimp integration"

    def __str__(self) -> str:
        return "Mailchimp integration"


class ConnectionCheck(models.Model):
    """One check of an API key with Mailchimp, run by a worker, never in a page request.

    "Test connection" checks the key typed (or the key in force); "Save key" checks the new
    key and saves it only if Mailchimp does not refuse it. The key waits here encrypted and is
    wiped once checked.
    """

    class Purpose(models.TextChoices):
        TEST = "test", "Test connection"
        SAVE = "save", "Save key"

    class State(models.TextChoices):
        QUEUED = "queued", "Waiting for a worker"
        RUNNING = "running", "Checking"
        SUCCEEDED = "succeeded", "Connected"
        FAILED = "failed", "Failed"

    purpose = models.CharField(max_length=10, choices=Purpose.choices)
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    # Fernet token of the key to check; empty: the key in force. Wiped once checked.
    api_key_encrypted = models.TextField(blank=True, default="")
    message = models.TextField(blank=True, default="")
    requested_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "connection check"
        verbose_name_plural = "connection checks"
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} ({self.get_state_display()})"

    @property
    def is_finished(self) -> bool:
        return self.state in (self.State.SUCCEEDED, self.State.FAILED)


class MailchimpEntity(models.Model):
    """What a synced Mailchimp object has: its id, name, and when Mailchimp last listed it."""

    mailchimp_id = models.CharField(max_length=100)
    name = models.CharField(max_length=255)
    last_seen_at = models.DateTimeField(help_text="When a sync last found it in Mailchimp.")
    # Deleted in Mailchimp: kept (subscriptions point here), hidden from the forms.
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_reason = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.name

    @property
    def is_removed(self) -> bool:
        return self.removed_at is not None


class Audience(MailchimpEntity):
    """A Mailchimp audience (list). New ones arrive inactive."""

    member_count = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=False, help_text="Offered to customers by the store.")
    subscribe_by_default = models.BooleanField(default=False)
    # Mailchimp's GDPR fields: switched on for the audience there, and its marketing
    # permissions [{"id", "text"}] as read from a member (no endpoint lists them).
    gdpr_enabled = models.BooleanField("GDPR fields on in Mailchimp", default=False)
    marketing_permissions = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = "Mailchimp list"
        verbose_name_plural = "Mailchimp lists"
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["mailchimp_id"], name="audience_unique_mailchimp_id"),
        ]


class InterestCategory(MailchimpEntity):
    """A group category ("interest category") of an audience, e.g. "Topics"."""

    audience = models.ForeignKey(Audience, on_delete=models.CASCADE, related_name="categories")
    type = models.CharField(max_length=20, blank=True, default="")  # checkboxes, radio, …
    display_order = models.IntegerField(default=0)

    class Meta:
        verbose_name = "group category"
        verbose_name_plural = "group categories"
        ordering = ["display_order", "name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["audience", "mailchimp_id"], name="category_unique_per_audience"
            ),
        ]


class Interest(MailchimpEntity):
    """A group ("interest") inside a category."""

    audience = models.ForeignKey(Audience, on_delete=models.CASCADE, related_name="interests")
    category = models.ForeignKey(
        InterestCategory, on_delete=models.CASCADE, related_name="interests"
    )
    member_count = models.PositiveIntegerField(default=0)
    display_order = models.IntegerField(default=0)
    active = models.BooleanField(default=False, help_text="Offered to customers by the store.")
    subscribe_by_default = models.BooleanField(default=False)

    class Meta:
        verbose_name = "group"
        verbose_name_plural = "groups"
        ordering = ["display_order", "name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["audience", "mailchimp_id"], name="interest_unique_per_audience"
            ),
        ]


class SyncRun(models.Model):
    """One import of the lists: queued by a button, the schedule or a first connection."""

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    class Trigger(models.TextChoices):
        BUTTON = "button", "the Update button"
        SCHEDULE = "schedule", "the schedule"
        FIRST_CONNECTION = "first_connection", "the new connection"
        COMMAND = "command", "the command line"

    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    audiences = models.PositiveIntegerField(default=0)
    categories = models.PositiveIntegerField(default=0)
    interests = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    removed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "list import"
        verbose_name_plural = "list imports"
        ordering = ["-queued_at", "-id"]
        indexes = [models.Index(fields=["state"], name="syncrun_state")]

    def __str__(self) -> str:
        return f"List import of {self.queued_at:%Y-%m-%d %H:%M} ({self.get_state_display()})"

    @property
    def is_finished(self) -> bool:
        return self.state in (self.State.SUCCEEDED, self.State.FAILED)

    @property
    def summary(self) -> str:
        if self.state == self.State.FAILED:
            return f"Failed: {self.error}"
        if self.state != self.State.SUCCEEDED:
            return f"{self.get_state_display()}…"
        return (
            f"Synced {count_of(self.audiences, 'audience', 'audiences')}, "
            f"{count_of(self.categories, 'category', 'categories')}, "
            f"{count_of(self.interests, 'group', 'groups')}: {self.created} created, "
            f"{self.updated} updated, {self.removed} removed."
        )


class WebhookEndpoint(models.Model):
    """The store's webhook URL for one audience: `/mailchimp/webhooks/<pk>/<secret>/`.

    Only the secret's SHA-256 is kept; a new secret (a new URL) is made when the webhook is
    registered with Mailchimp.
    """

    audience = models.OneToOneField(Audience, on_delete=models.CASCADE,
                                    related_name="webhook_endpoint")
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_event_at = models.DateTimeField("last event received", null=True, blank=True)
    # The secret before the last new one, still accepted for a while: Mailchimp retries a
    # delivery for over an hour, to the URL it had when the event fired.
    previous_secret_hash = models.CharField(max_length=64, blank=True, default="")
    previous_valid_until = models.DateTimeField(null=True, blank=True)
    # What Mailchimp holds: its webhook's id, our URL as registered (secret masked), when it
    # was last checked or written, and the reason when registering failed.
    mailchimp_webhook_id = models.CharField(max_length=100, blank=True, default="")
    registered_url = models.CharField("registered URL (secret masked)", max_length=500,
                                      blank=True, default="")
    registered_at = models.DateTimeField(null=True, blank=True)
    registration_checked_at = models.DateTimeField(null=True, blank=True)
    registration_error = models.TextField(blank=True, default="")

    class Meta:
        verbose_name = "webhook endpoint"

    def __str__(self) -> str:
        return f"Webhook of {self.audience}"


class WebhookEvent(models.Model):
    """One event Mailchimp posted, stored as it came (the evidence), before it is applied."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE,
                                 related_name="events")
    type = models.CharField(max_length=20)
    fired_at = models.CharField("fired at (Mailchimp's words)", max_length=40, blank=True)
    data = models.JSONField(default=dict)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    outcome = models.TextField(blank=True, default="")

    class Meta:
        verbose_name = "webhook event"
        ordering = ["-received_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.type} at {self.fired_at or self.received_at}"


class ConnectedStore(models.Model):
    """The store's connected store in Mailchimp's e-commerce API, on the audience an admin
    chose (one at a time). Its id is derived, never random: the same on every deploy and
    staging copy, so an existing store is adopted rather than duplicated."""

    class State(models.TextChoices):
        SYNCING = "syncing", "Syncing"
        SYNCED = "synced", "Synced"
        FAILING = "failing", "Failing"
        DISCONNECTED = "disconnected", "Disconnected"

    audience = models.OneToOneField(Audience, on_delete=models.PROTECT,
                                    related_name="connected_store")
    store_id = models.CharField(max_length=50, unique=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.SYNCING)
    error = models.TextField(blank=True, default="")
    adopted = models.BooleanField(default=False,
                                  help_text="The store existed in Mailchimp already.")
    connected_at = models.DateTimeField(auto_now_add=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "connected store"
        constraints = [
            models.UniqueConstraint(
                fields=["state"], condition=~models.Q(state="disconnected"),
                name="connected_store_one_at_a_time"),
        ]

    def __str__(self) -> str:
        return f"{self.store_id} ({self.get_state_display()})"


class EcommerceRecord(DeliveryState):
    """One of the store's records (a product, order, cart or promo code) kept
    in step with the connected store, on the same outbox mechanics as subscriptions: the
    body is built from the database when it is sent, and changes made meanwhile coalesce."""

    class Kind(models.TextChoices):
        PRODUCT = "product", "Product"
        VARIANT = "variant", "Product variant"
        ORDER = "order", "Order"
        CART = "cart", "Cart"
        PROMO = "promo", "Promo code"

    class State(models.TextChoices):
        WAITING = "waiting", "Waiting"
        SYNCED = "synced", "Synced"
        FAILED = "failed", "Failed"

    store = models.ForeignKey(ConnectedStore, on_delete=models.CASCADE, related_name="records")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    local_id = models.CharField(max_length=50)
    state = models.CharField(max_length=20, choices=State.choices, default=State.WAITING)
    failure_reason = models.TextField(blank=True, default="")
    synced_at = models.DateTimeField(null=True, blank=True)
    # Mailchimp holds it: the next send is a PATCH (carts, promo codes, orders after the first
    # push) rather than a POST or the first PUT; a deleted cart is False again.
    remote_exists = models.BooleanField(default=False)

    class Meta:
        verbose_name = "e-commerce record"
        constraints = [
            models.UniqueConstraint(fields=["store", "kind", "local_id"],
                                    name="ecommerce_record_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.local_id}: {self.get_state_display()}"


class StoreBackfill(models.Model):
    """One run of "Sync store data": the store's history (products, promo codes, then orders
    newest first) sent through /batches while the store is marked is_syncing. Resumable: the
    cursor says what each kind has done; a watchdog finishes a run whose worker died, so
    is_syncing never stays on."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Failed"

    store = models.ForeignKey(ConnectedStore, on_delete=models.CASCADE, related_name="backfills")
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    # Which kind is being sent (product, promo, order) and, per kind, the last local id done.
    phase = models.CharField(max_length=20, blank=True, default="")
    cursor = models.JSONField(default=dict, blank=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    batches = models.PositiveIntegerField(default=0, help_text="Batches submitted to Mailchimp.")
    error = models.TextField(blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "store data sync"
        ordering = ["-created", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["store"], condition=models.Q(state__in=["queued", "running"]),
                name="store_backfill_one_running"),
        ]

    def __str__(self) -> str:
        return f"Sync of {self.store.store_id}: {self.get_state_display()}"
