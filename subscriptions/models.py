"""Subscriptions of an address to a Mailchimp audience, their outbox of pushes, the settings."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from mailchimp_integration.outbox import DeliveryState


class NewsSettings(models.Model):
    """The store's newsletter settings (a singleton row, pk=1), edited in the admin."""

    SINGLETON_ID = 1

    double_opt_in = models.BooleanField(
        "ask new subscribers to confirm",
        default=False,
        help_text="New subscribers get Mailchimp's confirmation email and count as subscribed "
        "once they click its link (double opt-in).",
    )
    pushes_paused = models.BooleanField(
        "pause sending to Mailchimp",
        default=False,
        help_text="Hold every change for Mailchimp (e.g. on a staging copy of the store); the "
        "changes go out when this is switched off again.",
    )
    customers_choose_lists = models.BooleanField(
        "let customers choose their lists",
        default=False,
        help_text="Registration and checkout offer each list and group the store offers, "
        "instead of one checkbox.",
    )

    # Each entry point: the exact words the customer agrees to (blank: the store's default
    # sentence) and the lists its one tick means (none chosen: the lists marked "subscribe by
    # default" on the lists page).
    footer_wording = models.TextField("footer: consent wording", blank=True, default="")
    footer_lists = models.ManyToManyField(
        "mailchimp_integration.Audience", blank=True, related_name="+",
        verbose_name="footer: lists a signup subscribes to",
    )
    registration_wording = models.TextField("registration: consent wording", blank=True,
                                            default="")
    registration_lists = models.ManyToManyField(
        "mailchimp_integration.Audience", blank=True, related_name="+",
        verbose_name="registration: lists the tick subscribes to",
    )
    checkout_wording = models.TextField("checkout: consent wording", blank=True, default="")
    checkout_lists = models.ManyToManyField(
        "mailchimp_integration.Audience", blank=True, related_name="+",
        verbose_name="checkout: lists the tick subscribes to",
    )

    class Meta:
        verbose_name = "newsletter settings"
        verbose_name_plural = "newsletter settings"

    def __str__(self) -> str:
        return "Newsletter settings"


class Source(models.TextChoices):
    FOOTER = "footer", "Footer"
    REGISTRATION = "registration", "Registration"
    CHECKOUT = "checkout", "Checkout"
    ACCOUNT = "account", "Account page"
    ADMIN = "admin", "Admin"
    ADMIN_BULK = "admin_bulk", "Admin: customers added in bulk"
    MAILCHIMP = "mailchimp", "Mailchimp"


class ConsentEvent(models.Model):
    """One consent given or withdrawn, kept as evidence: append-only, never changed.

    Who (the customer, an anonymous visitor, staff on the person's documented request,
    Mailchimp reporting the person's own action), where, when, from which IP, with the exact
    words they agreed to, and whether double opt-in was in force at that moment.
    """

    class Action(models.TextChoices):
        OPT_IN = "opt_in", "Opted in"
        OPT_OUT = "opt_out", "Opted out"
        CONTACT = "contact", "Added as a non-subscribed contact"
        CONFIRMED = "confirmed", "Confirmed by email"
        CLEANED = "cleaned", "Address bounced (cleaned)"
        # Marketing permissions (GDPR) given or withdrawn by someone already subscribed.
        PERMISSIONS = "permissions", "Changed marketing permissions"

    class Actor(models.TextChoices):
        PERSON = "person", "The person"
        ANONYMOUS = "anonymous", "A visitor (not signed in)"
        STAFF = "staff", "Staff"
        MAILCHIMP = "mailchimp", "Mailchimp"

    subscription = models.ForeignKey(
        "Subscription", on_delete=models.CASCADE, related_name="consent_events"
    )
    action = models.CharField(max_length=20, choices=Action.choices)
    actor = models.CharField(max_length=20, choices=Actor.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name="who",
    )
    source = models.CharField(max_length=20, choices=Source.choices)
    at = models.DateTimeField("when", default=timezone.now)
    ip = models.GenericIPAddressField("consent given from IP address", null=True, blank=True)
    wording = models.TextField("exact wording", blank=True, default="")
    double_opt_in = models.BooleanField("double opt-in in force", default=False)
    # The audience's GDPR marketing permissions shown with this consent, in Mailchimp's exact
    # wording, and whether the person ticked each: [{"id", "text", "enabled"}].
    marketing_permissions = models.JSONField("marketing permissions", default=list,
                                             blank=True)
    # Only a new consent of someone who opted out before, or of an anonymous visitor for an
    # address with an opt-out on record: Mailchimp must ask them to confirm (`pending`).
    needs_confirmation = models.BooleanField(default=False)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "consent record"
        verbose_name_plural = "consent history"
        indexes = [models.Index(fields=["subscription", "-at"], name="consent_subscription_at")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} ({self.get_source_display()}, {self.at:%Y-%m-%d})"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Consent records are evidence: they are never changed.")
        super().save(*args, **kwargs)


class Subscription(DeliveryState):
    """One email address on one audience: what the store wants, and what Mailchimp confirmed.

    Its delivery state (`DeliveryState`: versions, the one claim, retries) is the outbox's;
    the `mailchimp_*` and `sent_*` fields hold exactly what the last confirmed call said.
    """

    class State(models.TextChoices):
        WAITING = "waiting", "Waiting to be sent"
        SUBSCRIBED = "subscribed", "Subscribed"
        PENDING = "pending", "Waiting for the person's confirmation"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
        CONTACT = "contact", "Contact (not subscribed)"
        FAILED = "failed", "Failed"

    email = models.EmailField(max_length=254, help_text="Lower-cased.")
    audience = models.ForeignKey(
        "mailchimp_integration.Audience", on_delete=models.PROTECT, related_name="subscriptions"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="news_subscriptions",
    )
    interests = models.ManyToManyField(
        "mailchimp_integration.Interest", blank=True, related_name="subscriptions"
    )
    first_name = models.CharField(max_length=150, blank=True, default="")
    last_name = models.CharField(max_length=150, blank=True, default="")
    # What the person wants (their latest consent), and where that stands with Mailchimp.
    opted_in = models.BooleanField("wants the news", default=True)
    consent = models.ForeignKey(
        ConsentEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name="latest consent",
        help_text="The latest consent record; the whole history is kept.",
    )
    state = models.CharField(max_length=20, choices=State.choices, default=State.WAITING)
    failure_reason = models.TextField("why it failed", blank=True, default="")
    source = models.CharField(max_length=20, choices=Source.choices)

    # Confirmed by Mailchimp: the address it knows, its status, and what the store last sent.
    mailchimp_email = models.EmailField(
        "address Mailchimp knows", max_length=254, blank=True, default=""
    )
    mailchimp_unique_id = models.CharField(
        "Mailchimp's id of the member", max_length=20, blank=True, default="",
        help_text="Mailchimp's unique_email_id: it finds the member after the person changed "
                  "their address in Mailchimp.",
    )
    mailchimp_status = models.CharField("status in Mailchimp", max_length=20, blank=True,
                                        default="")
    mailchimp_last_changed = models.DateTimeField(
        "last changed in Mailchimp", null=True, blank=True,
        help_text="Mailchimp's last_changed of the member, as the store last learnt it.",
    )
    mailchimp_changed_by = models.CharField(
        "status last changed through", max_length=20, blank=True, default="",
        choices=[("store", "The store's push"), ("webhook", "Mailchimp's webhook"),
                 ("reconciliation", "Reconciliation with Mailchimp"),
                 ("import", "Import from Mailchimp")],
    )
    # For staff: something Mailchimp did that the store could not follow (e.g. an address
    # change to one another subscription of the store has).
    mailchimp_notice = models.TextField("note from Mailchimp's side", blank=True, default="")
    sent_consent = models.ForeignKey(
        ConsentEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_interests = models.JSONField(default=list, blank=True)
    sent_merge_fields = models.JSONField(default=dict, blank=True)
    sent_tags = models.JSONField(default=list, blank=True)
    # GDPR marketing permissions: what the person said ({permission id: enabled}; a
    # permission never ticked is absent, not false) and what Mailchimp confirmed.
    marketing_permissions = models.JSONField(default=dict, blank=True)
    sent_marketing_permissions = models.JSONField(default=dict, blank=True)
    last_pushed_at = models.DateTimeField("last sent to Mailchimp", null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["email", "audience_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["email", "audience"], name="subscription_unique_email_audience"
            ),
        ]
        indexes = [
            models.Index(fields=["state"], name="subscription_state"),
            models.Index(
                fields=["next_attempt_at"], name="subscription_due",
                condition=models.Q(wanted_version__gt=models.F("sent_version")),
            ),
            models.Index(
                fields=["claimed_at"], name="subscription_claimed",
                condition=~models.Q(claim_token=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} on {self.audience}"

    @property
    def is_annulled(self) -> bool:
        """Its audience was deleted in Mailchimp: kept, held, sent again if it comes back."""
        return self.audience.removed_at is not None

    @property
    def is_disabled(self) -> bool:
        """Shown but not editable: its audience removed or switched off."""
        audience = self.audience
        return audience.removed_at is not None or not audience.active

    @property
    def disabled_reason(self) -> str:
        audience = self.audience
        if audience.removed_at is not None:
            return audience.removed_reason or "Deleted in Mailchimp"
        if not audience.active:
            return "This list is not offered by the store"
        return ""


class Push(models.Model):
    """The sync log: one attempt to send a version of a subscription, and how it ended.

    `payload` is exactly what was sent; the subscription's confirmed state is updated from it
    (never from the subscription as it is later), so a change made meanwhile is sent next.
    """

    class State(models.TextChoices):
        SENDING = "sending", "Sending"
        DONE = "done", "Done"
        RETRY = "retry", "Will retry"
        FAILED = "failed", "Failed"
        LOST = "lost", "Worker stopped; sent again"

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="pushes")
    version = models.PositiveIntegerField(default=0)
    action = models.CharField(max_length=40, blank=True, default="")
    state = models.CharField(max_length=20, choices=State.choices, default=State.SENDING)
    attempt = models.PositiveIntegerField(default=1)
    last_error = models.TextField("Mailchimp's reason", blank=True, default="")
    # How it went out: "member" (one call) or "bulk" (batch subscribe).
    channel = models.CharField(
        "sent", max_length=10, blank=True, default="",
        choices=[("member", "One address at a time"), ("bulk", "In a batch")],
    )
    payload = models.JSONField("what was sent", default=dict, blank=True)
    mailchimp_status = models.CharField("status in Mailchimp", max_length=20, blank=True,
                                        default="")
    claimed_at = models.DateTimeField("started at", default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Mailchimp sync log entry"
        verbose_name_plural = "Mailchimp sync log"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state", "finished_at"], name="push_state_finished"),
        ]

    def __str__(self) -> str:
        return f"Attempt #{self.pk} ({self.get_state_display()})"


class BouncedAddress(models.Model):
    """An address Mailchimp cleaned on an audience (its emails bounced): never sent again,
    whichever subscription of the store it comes back with."""

    audience = models.ForeignKey("mailchimp_integration.Audience", on_delete=models.CASCADE,
                                 related_name="+")
    email = models.EmailField(max_length=254)
    learnt_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "bounced address"
        verbose_name_plural = "bounced addresses"
        constraints = [models.UniqueConstraint(fields=["audience", "email"],
                                               name="bounced_address_once_per_audience")]

    def __str__(self) -> str:
        return self.email


class MemberSyncRun(models.Model):
    """One read of an audience's members from Mailchimp, applied to the subscriptions:
    a reconciliation (members changed since the last one's watermark, or all with --full) or
    an import (all, creating the subscriptions the store lacks)."""

    class Kind(models.TextChoices):
        RECONCILE = "reconcile", "Reconciliation"
        IMPORT = "import", "Import of Mailchimp's members"

    class State(models.TextChoices):
        QUEUED = "queued", "Waiting for a worker"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Finished"
        FAILED = "failed", "Failed"

    FINISHED_STATES = (State.SUCCEEDED, State.FAILED)

    audience = models.ForeignKey("mailchimp_integration.Audience", on_delete=models.CASCADE,
                                 related_name="member_sync_runs")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    full = models.BooleanField(default=False)
    dry_run = models.BooleanField(default=False)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    # Drift found, by kind ({"unsubscribed": 3, "groups": 1, …}), and its first examples.
    counts = models.JSONField(default=dict, blank=True)
    examples = models.JSONField(default=dict, blank=True)
    # The newest last_changed applied: the next reconciliation reads members changed after it.
    watermark = models.DateTimeField(null=True, blank=True)
    api_calls = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    queued_at = models.DateTimeField(default=timezone.now)
    # Written as the run starts and with every page: a running run whose worker was killed
    # stops moving, and the beat's watchdog fails it (inbound.runs_abandoned_fail).
    heartbeat_at = models.DateTimeField("last sign of life", null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "members read from Mailchimp"
        verbose_name_plural = "members read from Mailchimp"
        ordering = ["-queued_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.audience} ({self.get_state_display()})"

    @property
    def is_finished(self) -> bool:
        return self.state in self.FINISHED_STATES

    @property
    def drift(self) -> int:
        """Subscriptions that differed from Mailchimp (stale or deferred ones not counted)."""
        return sum(n for kind, n in self.counts.items()
                   if kind not in ("unchanged", "stale", "deferred", "not_in_store"))
