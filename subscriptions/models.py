"""Subscriptions of an address to a Mailchimp audience, their outbox of pushes, the settings."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class NewsSettings(models.Model):
    """The store's newsletter settings (a singleton row, pk=1), edited in the admin."""

    SINGLETON_ID = 1

    double_opt_in = models.BooleanField(
        default=False,
        help_text="New subscribers get Mailchimp's confirmation email (status 'pending').",
    )
    pushes_paused = models.BooleanField(
        default=False,
        help_text="Hold every push to Mailchimp (e.g. on a staging copy); they go out when lifted.",
    )
    customers_choose_lists = models.BooleanField(
        default=False,
        help_text="Registration and checkout offer each active list and group, not one checkbox.",
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
    MAILCHIMP = "mailchimp", "Mailchimp"


class Subscription(models.Model):
    """One email address on one audience: what the customer asked for and what Mailchimp holds."""

    class State(models.TextChoices):
        WAITING = "waiting", "Waiting to be pushed"
        SUBSCRIBED = "subscribed", "Subscribed"
        PENDING = "pending", "Pending double opt-in"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
        ANNULLED = "annulled", "Annulled (removed in Mailchimp)"
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
    # Groups Mailchimp deleted while chosen here: [{"id", "name", "reason"}], shown disabled.
    annulled_interests = models.JSONField(default=list, blank=True)
    first_name = models.CharField(max_length=150, blank=True, default="")
    last_name = models.CharField(max_length=150, blank=True, default="")
    # What the customer wants; `state` is where that stands with Mailchimp.
    opted_in = models.BooleanField(default=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.WAITING)
    failure_reason = models.TextField(blank=True, default="")
    annulled_reason = models.CharField(max_length=255, blank=True, default="")
    source = models.CharField(max_length=20, choices=Source.choices)
    # Consent: the opt-in as the customer gave it.
    consent_source = models.CharField(max_length=20, choices=Source.choices, blank=True)
    consent_at = models.DateTimeField(null=True, blank=True)
    consent_ip = models.GenericIPAddressField(null=True, blank=True)
    consent_text = models.TextField(blank=True, default="")
    # Last confirmed by Mailchimp: the address it knows (an email change is carried over), its
    # member status, and when.
    mailchimp_email = models.EmailField(max_length=254, blank=True, default="")
    mailchimp_status = models.CharField(max_length=20, blank=True, default="")
    last_pushed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["email", "audience_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["email", "audience"], name="subscription_unique_email_audience"
            ),
        ]
        indexes = [models.Index(fields=["state"], name="subscription_state")]

    def __str__(self) -> str:
        return f"{self.email} on {self.audience}"

    @property
    def is_disabled(self) -> bool:
        """Shown but not editable: annulled, or its audience removed or switched off."""
        audience = self.audience
        return (
            self.state == self.State.ANNULLED
            or audience.removed_at is not None
            or not audience.active
        )

    @property
    def disabled_reason(self) -> str:
        audience = self.audience
        if self.state == self.State.ANNULLED:
            return self.annulled_reason or "Removed in Mailchimp"
        if audience.removed_at is not None:
            return audience.removed_reason or "Removed in Mailchimp"
        if not audience.active:
            return "This list is not offered by the store"
        return ""


class Push(models.Model):
    """The outbox: one pending change of a subscription to send to Mailchimp, and its attempts.

    A push carries no data of its own: it sends the subscription as it is when claimed, so a
    duplicate delivery or a later change sends the same final state (PUT is idempotent).
    """

    class State(models.TextChoices):
        WAITING = "waiting", "Waiting"
        SENDING = "sending", "Sending"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Action(models.TextChoices):
        SUBSCRIBE = "subscribe", "Subscribe / update"
        UNSUBSCRIBE = "unsubscribe", "Unsubscribe"

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="pushes")
    action = models.CharField(max_length=20, choices=Action.choices)
    state = models.CharField(max_length=20, choices=State.choices, default=State.WAITING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    # How it went out: "member" (one PUT/PATCH) or "bulk" (batch subscribe).
    channel = models.CharField(max_length=10, blank=True, default="")
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Mailchimp sync log entry"
        verbose_name_plural = "Mailchimp sync log"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="push_state_next"),
        ]

    def __str__(self) -> str:
        return f"Push #{self.pk} {self.action} ({self.state})"
