"""Back office: subscriptions, the "Mailchimp sync log", the newsletter settings, and on each
customer a "Mailchimp news lists" tab and a "Subscribe selected customers to…" action.

The customer admin is the storefront's own, subclassed only to add the tab and the action.
"""
from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from mailchimp_integration.admin import ReadOnlyModelAdmin
from mailchimp_integration.models import Audience

from . import delivery, inbound, selectors, services
from .forms import CustomerListsForm, SubscribeCustomersForm
from .models import ConsentEvent, MemberSyncRun, NewsSettings, Push, Source, Subscription


@admin.register(NewsSettings)
class NewsSettingsAdmin(admin.ModelAdmin):
    fieldsets = [
        (None, {"fields": ["double_opt_in", "pushes_paused", "customers_choose_lists"]}),
        *[
            (title, {
                "fields": [f"{entry_point}_wording", f"{entry_point}_lists"],
                "description": description,
            })
            for entry_point, title, description in [
                ("footer", "Footer signup box",
                 "The box at the bottom of every page."),
                ("registration", "Registration",
                 "The opt-in of the account registration form."),
                ("checkout", "Checkout", "The opt-in of the checkout form."),
            ]
        ],
    ]
    # The admin's words for the model's fields (until the model carries them itself).
    field_words = {
        "double_opt_in": (
            "Ask new subscribers to confirm",
            "New subscribers get Mailchimp's confirmation email and count as subscribed "
            "once they click its link (double opt-in).",
        ),
        "pushes_paused": (
            "Pause sending to Mailchimp",
            "Hold every change for Mailchimp (e.g. on a staging copy of the store); the "
            "changes go out when this is switched off again.",
        ),
        "customers_choose_lists": (
            "Let customers choose their lists",
            "Registration and checkout offer each list and group the store offers, instead "
            "of one checkbox.",
        ),
    }

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None and db_field.name in self.field_words:
            field.label, field.help_text = self.field_words[db_field.name]
        elif field is not None and db_field.name.endswith("_wording"):
            entry_point = db_field.name.removesuffix("_wording")
            field.label = "Consent wording"
            field.help_text = (
                "The exact sentence customers agree to here, kept with each consent as "
                "evidence. Leave empty for the store's default: "
                f"“{selectors.consent_wording(entry_point, NewsSettings())}”."
            )
            field.widget.attrs.update({"rows": 2, "cols": 80})
        return field

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        kwargs["queryset"] = Audience.objects.filter(removed_at__isnull=True).order_by("name")
        kwargs["widget"] = forms.CheckboxSelectMultiple
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        field.label = ("Lists a signup subscribes to" if db_field.name == "footer_lists"
                       else "Lists the tick subscribes to")
        field.help_text = (
            "None ticked: the lists marked “subscribe by default” on the lists page. Only "
            "lists the store offers are used."
        )
        if db_field.name != "footer_lists":
            field.help_text += (" While customers choose their lists, registration and "
                                "checkout offer every list instead.")
        return field

    def save_related(self, request, form, formsets, change):
        pass  # the lists are saved by the service, with the rest (save_model)

    def changelist_view(self, request, extra_context=None):
        # One row: the page is its change form. Checked here, since nothing else is; a GET
        # writes nothing (a never-saved row is shown with its defaults, saved on POST).
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return HttpResponseRedirect(
            reverse("admin:subscriptions_newssettings_change", args=[NewsSettings.SINGLETON_ID])
        )

    def get_object(self, request, object_id, from_field=None):
        if str(object_id) != str(NewsSettings.SINGLETON_ID):
            return None
        return selectors.news_settings_get()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}), "title": "Newsletter settings", "subtitle": None,
            "show_save_and_continue": False,  # one page of settings: "Save" says it all
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        services.news_settings_update(
            double_opt_in=obj.double_opt_in,
            pushes_paused=obj.pushes_paused,
            customers_choose_lists=obj.customers_choose_lists,
            wording={p: data.get(f"{p}_wording", "") for p in selectors.ENTRY_POINTS},
            lists={p: [a.pk for a in data.get(f"{p}_lists") or []]
                   for p in selectors.ENTRY_POINTS},
        )


class ConsentEventInline(admin.TabularInline):
    """The consent history: evidence, shown read-only, newest first."""

    model = ConsentEvent
    fields = ["at", "action", "actor", "actor_user", "source", "ip", "wording",
              "permissions_given", "double_opt_in"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="marketing permissions (GDPR)")
    def permissions_given(self, event: ConsentEvent) -> str:
        """Each permission shown, in Mailchimp's words, and whether it was ticked."""
        return "; ".join(
            f"{p['text']}: {'yes' if p['enabled'] else 'no'}"
            for p in event.marketing_permissions or []
        ) or "—"


# A changelist with many columns and filters: without the navigation sidebar (the breadcrumbs
# stay) its table fits a 1280 px screen instead of being cut off on the right.
WIDE_LIST = {"is_nav_sidebar_enabled": False}


class SubscriptionStatusFilter(admin.SimpleListFilter):
    title = "status"  # "By status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [(value, SUBSCRIPTION_STATUS_WORDS.get(value, label))
                for value, label in Subscription.State.choices]

    def queryset(self, request, queryset):
        return queryset.filter(state=self.value()) if self.value() else queryset


class WantsNewsFilter(admin.SimpleListFilter):
    title = "wants the news"
    parameter_name = "wants_news"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No, opted out")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(opted_in=self.value() == "yes")
        return queryset


# The admin's words for a subscription's state (the model's labels are the engine's).
SUBSCRIPTION_STATUS_WORDS = {
    Subscription.State.WAITING: "Waiting to be sent to Mailchimp",
    Subscription.State.PENDING: "Waiting for the subscriber to confirm",
    Subscription.State.CONTACT: "A contact, not subscribed to the news",
    Subscription.State.FAILED: "Mailchimp refused it",
}


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    # Consent time and IP are on each subscription's page; the list stays within 1280 px.
    list_display = ["email", "audience", "status", "wants_news", "source", "last_sent_short"]
    list_filter = [SubscriptionStatusFilter, WantsNewsFilter, "source", "audience"]
    search_fields = ["email"]
    list_select_related = ["audience"]
    fieldsets = [
        (None, {"fields": ["email", "audience", "user", "first_name", "last_name", "interests"]}),
        ("With Mailchimp", {"fields": [
            "status", "wants_news", "failure_reason", "address_in_mailchimp",
            "status_in_mailchimp", "last_sent", "attempts", "next_attempt_at",
        ]}),
        ("Consent (the whole history is below)", {"fields": ["source", "consent"]}),
        ("Dates", {"fields": ["created_at", "updated_at"]}),
    ]
    readonly_fields = [
        "email", "audience", "user", "first_name", "last_name", "interests", "status",
        "wants_news", "failure_reason", "address_in_mailchimp", "status_in_mailchimp",
        "last_sent", "attempts", "next_attempt_at", "source", "consent", "created_at",
        "updated_at",
    ]
    inlines = [ConsentEventInline]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "title": "Subscriptions", **WIDE_LIST}
        return super().changelist_view(request, extra_context)

    @admin.display(description="status", ordering="state")
    def status(self, subscription: Subscription) -> str:
        return SUBSCRIPTION_STATUS_WORDS.get(subscription.state, subscription.get_state_display())

    @admin.display(description="wants the news", boolean=True, ordering="opted_in")
    def wants_news(self, subscription: Subscription) -> bool:
        return subscription.opted_in

    @admin.display(description="last sent to Mailchimp", ordering="last_pushed_at")
    def last_sent(self, subscription: Subscription):
        return subscription.last_pushed_at

    @admin.display(description="last sent", ordering="last_pushed_at")
    def last_sent_short(self, subscription: Subscription) -> str:
        if subscription.last_pushed_at is None:
            return "—"
        return formats.date_format(timezone.localtime(subscription.last_pushed_at), "j M Y H:i")

    @admin.display(description="address Mailchimp knows")
    def address_in_mailchimp(self, subscription: Subscription) -> str:
        return subscription.mailchimp_email

    @admin.display(description="status in Mailchimp")
    def status_in_mailchimp(self, subscription: Subscription) -> str:
        return subscription.mailchimp_status

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("customer/<int:user_id>/", wrap(self.customer_lists_view),
                 name="subscriptions_customer_lists"),
            *super().get_urls(),
        ]

    def customer_lists_view(self, request, user_id: int):
        """The customer's "Mailchimp news lists" tab: each active list, its groups, Update."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        can_change = self.has_change_permission(request)
        user = get_object_or_404(get_user_model(), pk=user_id)
        subscriptions = list(selectors.subscriptions_for_user(user=user))
        for subscription in subscriptions:
            subscription.status_text = SUBSCRIPTION_STATUS_WORDS.get(
                subscription.state, subscription.get_state_display()
            )
            subscription.mailchimp_text = mailchimp_side_text(subscription)
        form = CustomerListsForm(
            request.POST if request.method == "POST" else None,
            subscriptions=subscriptions,
            staff=True,
        )
        if request.method == "POST":
            if not can_change:
                raise PermissionDenied
            if form.is_valid():
                changed = services.subscription_set_for_customer(
                    user=user, choices=form.choices(), lists=form.shown_ids(),
                    source=Source.ADMIN,
                    consent_text="Set by a store admin",
                    permissions=form.permissions(),
                )
                self.log_change(request, user, f"Mailchimp news lists updated ({changed})")
                self.message_user(
                    request,
                    ngettext(
                        "Updated %(count)d list; the change is being sent to Mailchimp.",
                        "Updated %(count)d lists; the changes are being sent to Mailchimp.",
                        changed,
                    ) % {"count": changed} if changed else "Nothing was changed.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(request.path)
        user_opts = user._meta
        context = {
            **self.admin_site.each_context(request),
            "title": f"Mailchimp news lists: {user}",
            "customer": user,
            "form": form,
            "subscriptions": subscriptions,
            "can_change": can_change,
            "opts": user_opts,
            "customer_url": reverse(
                f"admin:{user_opts.app_label}_{user_opts.model_name}_change", args=[user.pk]
            ),
        }
        return TemplateResponse(request, "admin/subscriptions/customer_lists.html", context)


class SentHowFilter(admin.SimpleListFilter):
    title = "how it was sent"
    parameter_name = "sent"

    def lookups(self, request, model_admin):
        return [("member", "One address at a time"), ("bulk", "In a batch")]

    def queryset(self, request, queryset):
        return queryset.filter(channel=self.value()) if self.value() else queryset


@admin.register(Push)
class PushAdmin(admin.ModelAdmin):
    """Marketing → Mailchimp sync log: every change sent to Mailchimp, its state, attempts and
    Mailchimp's reason; failed ones can be sent again."""

    # Narrow enough that Mailchimp's reason shows without scrolling at 1280 px; how it was
    # sent and the next attempt are on each entry's page and in the filters.
    list_display = ["email", "audience", "state", "reason", "attempt", "change", "updated_at"]
    list_display_links = ["email"]
    list_filter = ["state", SentHowFilter, "subscription__audience", "created_at"]
    search_fields = ["subscription__email", "last_error"]
    list_select_related = ["subscription__audience"]
    actions = ["retry"]
    fields = ["email", "audience", "change", "state", "attempt", "reason", "sent_how",
              "what_was_sent", "mailchimp_status", "created_at", "finished_at", "updated_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        # A log is read, not edited: no "Select … to change".
        extra_context = {
            **(extra_context or {}), "title": "Mailchimp sync log", "module_name": "entries",
            **WIDE_LIST,
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "title": "Mailchimp sync log entry"}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(ordering="subscription__email")
    def email(self, push: Push) -> str:
        return push.subscription.email

    @admin.display(ordering="subscription__audience__name")
    def audience(self, push: Push) -> str:
        return push.subscription.audience.name

    @admin.display(description="change", ordering="action")
    def change(self, push: Push) -> str:
        return push.action or "—"

    @admin.display(description="what was sent")
    def what_was_sent(self, push: Push) -> str:
        return json.dumps(push.payload, indent=1, sort_keys=True) if push.payload else "—"

    @admin.display(description="Mailchimp's reason", ordering="last_error")
    def reason(self, push: Push) -> str:
        return push.last_error

    @admin.display(description="sent")
    def sent_how(self, push: Push) -> str:
        return {"member": "One address at a time", "bulk": "In a batch"}.get(push.channel, "—")

    @admin.action(description="Send the selected failed entries again", permissions=["change"])
    def retry(self, request, queryset):
        count = delivery.retry(
            subscription_ids=set(queryset.values_list("subscription_id", flat=True))
        )
        self.message_user(
            request,
            ngettext("%(count)d subscription will be sent again.",
                     "%(count)d subscriptions will be sent again.", count) % {"count": count},
        )


@admin.action(description="Subscribe selected customers to…")
def subscribe_customers_to(modeladmin, request, queryset):
    """An intermediate page choosing the lists, then a backlog pushed in bulk."""
    if not request.user.has_perm("subscriptions.change_subscription"):
        raise PermissionDenied
    # Two steps: "Show what it does" (a preview, list by list), then "Add to Mailchimp".
    applying, previewing = "apply" in request.POST, "preview" in request.POST
    form = SubscribeCustomersForm(request.POST if applying or previewing else None)
    user_ids = list(queryset.values_list("pk", flat=True))
    if applying and form.is_valid():
        result = services.subscriptions_subscribe_users(
            user_ids=user_ids,
            audience_ids=form.cleaned_data["audiences"],
            as_contacts=form.cleaned_data["add_as"] == SubscribeCustomersForm.AS_CONTACTS,
            staff_user=request.user,
        )
        modeladmin.message_user(request, _bulk_summary(result), messages.SUCCESS)
        return None
    preview = None
    if previewing and form.is_valid():
        preview = services.subscriptions_bulk_preview(
            user_ids=user_ids, audience_ids=form.cleaned_data["audiences"]
        )
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Subscribe customers to Mailchimp lists",
        "form": form,
        "queryset": queryset,
        "count": len(user_ids),
        "preview": preview,
        "opts": modeladmin.model._meta,
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        "select_across": request.POST.get("select_across", "0"),
    }
    return TemplateResponse(request, "admin/subscriptions/subscribe_customers.html", context)


def _bulk_summary(result: services.BulkAddResult) -> str:
    parts = [ngettext("%(n)d customer added; they are being sent to Mailchimp.",
                      "%(n)d customers added; they are being sent to Mailchimp.",
                      result.added) % {"n": result.added}]
    if result.already_in:
        parts.append(ngettext("%(n)d was already on the list and left as is.",
                              "%(n)d were already on the list and left as they are.",
                              result.already_in) % {"n": result.already_in})
    if result.opted_out:
        parts.append(ngettext(
            "%(n)d was left out because they unsubscribed; only they can sign up again.",
            "%(n)d were left out because they unsubscribed; only they can sign up again.",
            result.opted_out) % {"n": result.opted_out})
    if result.bounced:
        parts.append(ngettext(
            "%(n)d was left out because its address bounced; it is never sent again.",
            "%(n)d were left out because their addresses bounced; they are never sent again.",
            result.bounced) % {"n": result.bounced})
    return " ".join(parts)


def _extend_customer_admin() -> None:
    """The storefront's customer admin, subclassed: our action, the tab's link, and an email
    change carried over to the customer's subscriptions."""
    User = get_user_model()
    base = admin.site._registry.get(User)
    if base is None:
        return
    base_class = type(base)

    class CustomerAdmin(base_class):
        actions = [*(base_class.actions or []), subscribe_customers_to]

        def change_view(self, request, object_id, form_url="", extra_context=None):
            extra_context = {
                **(extra_context or {}),
                "news_lists_url": reverse("admin:subscriptions_customer_lists",
                                          args=[object_id]),
            }
            return super().change_view(request, object_id, form_url, extra_context)

        def save_model(self, request, obj, form, change):
            super().save_model(request, obj, form, change)
            old_email = form.initial.get("email") if change else None
            if old_email and "email" in form.changed_data:
                # In the admin's own transaction: the new address and its pushes commit together.
                services.subscription_email_change(
                    user=obj, old_email=old_email, new_email=obj.email
                )
            if change and {"first_name", "last_name"} & set(form.changed_data):
                services.subscription_customer_renamed(user=obj)

    CustomerAdmin.__name__ = base_class.__name__
    CustomerAdmin.__qualname__ = base_class.__qualname__
    admin.site.unregister(User)
    admin.site.register(User, CustomerAdmin)


# --- Members read from Mailchimp: the reconciliations and imports -------------------------

MAILCHIMP_STATUS_WORDS = {
    "subscribed": "Subscribed",
    "pending": "Waiting for the person to confirm",
    "unsubscribed": "Unsubscribed",
    "cleaned": "Cleaned: the address bounced, it is never sent again",
    "archived": "Archived in Mailchimp",
    "transactional": "A contact, not subscribed to the news",
}
CHANGED_THROUGH_WORDS = {
    "store": "sent by the store",
    "webhook": "told by Mailchimp's webhook",
    "reconciliation": "found by the reconciliation with Mailchimp",
    "import": "imported from Mailchimp",
}


def mailchimp_side_text(subscription: Subscription) -> str:
    """What Mailchimp holds for the subscription, when it last changed and how the store
    learnt it, in an admin's words ("" before the first answer from Mailchimp)."""
    if not subscription.mailchimp_status and not subscription.mailchimp_changed_by:
        return ""
    status = MAILCHIMP_STATUS_WORDS.get(subscription.mailchimp_status,
                                        subscription.mailchimp_status or "Not in Mailchimp")
    parts = [f"In Mailchimp: {status}"]
    if subscription.mailchimp_last_changed:
        when = timezone.localtime(subscription.mailchimp_last_changed)
        parts.append(f"since {formats.date_format(when, 'DATETIME_FORMAT')}")
    through = CHANGED_THROUGH_WORDS.get(subscription.mailchimp_changed_by)
    if through:
        parts.append(f"({through})")
    return " ".join(parts)


def member_sync_run_text(run: MemberSyncRun | None) -> str:
    """One line on a run for the admin's pages."""
    if run is None:
        return "None yet"
    if run.state == MemberSyncRun.State.QUEUED:
        return "Waiting for a worker"
    if run.state == MemberSyncRun.State.RUNNING:
        return (f"Running: {run.progress_done:,} of {run.progress_total:,} members read"
                if run.progress_total else "Running")
    when = formats.date_format(timezone.localtime(run.finished_at or run.queued_at),
                               "DATETIME_FORMAT")
    if run.state == MemberSyncRun.State.FAILED:
        return f"Failed {when}: {run.error}"
    if run.kind == MemberSyncRun.Kind.IMPORT:
        added = run.counts.get("new", 0)
        return (f"Finished {when}: {run.progress_done:,} members read, "
                f"{added:,} new here, {run.drift - added:,} brought up to date")
    return (f"{when}: " + ngettext("%(n)s member differed", "%(n)s members differed",
                                   run.drift) % {"n": f"{run.drift:,}"})


def member_sync_run_json(run: MemberSyncRun) -> dict:
    return {
        "id": run.pk,
        "audience": run.audience.name,
        "audience_id": run.audience_id,
        "kind": run.kind,
        "state": run.state,
        "finished": run.is_finished,
        "failed": run.state == MemberSyncRun.State.FAILED,
        "progress_done": run.progress_done,
        "progress_total": run.progress_total,
        "drift": run.drift,
        "text": member_sync_run_text(run),
    }


def _may_read_members(request) -> bool:
    """Importing and reconciling write subscriptions: the staff member must be allowed to."""
    return request.user.has_perm(f"{Subscription._meta.app_label}.change_subscription")


@admin.register(MemberSyncRun)
class MemberSyncRunAdmin(ReadOnlyModelAdmin):
    """Every reconciliation and import, with what it found: a log, read-only."""

    list_display = ["audience", "kind", "state", "queued_at", "finished_at", "progress",
                    "drift_found", "api_calls"]
    list_filter = ["kind", "state", "audience"]
    list_select_related = ["audience"]
    date_hierarchy = "queued_at"
    fields = ["audience", "kind", "state", "full", "dry_run", "queued_at", "heartbeat_at",
              "finished_at", "progress", "drift_found", "by_kind", "first_examples",
              "watermark", "api_calls", "error"]
    readonly_fields = fields

    @admin.display(description="members read")
    def progress(self, run: MemberSyncRun) -> str:
        return f"{run.progress_done:,} of {run.progress_total:,}"

    @admin.display(description="differed")
    def drift_found(self, run: MemberSyncRun) -> int:
        return run.drift

    @admin.display(description="by kind")
    def by_kind(self, run: MemberSyncRun) -> str:
        return ", ".join(f"{kind}: {n:,}" for kind, n in sorted(run.counts.items())) or "—"

    @admin.display(description="first examples")
    def first_examples(self, run: MemberSyncRun) -> str:
        return "; ".join(f"{kind}: {', '.join(emails)}"
                         for kind, emails in sorted(run.examples.items())) or "—"


def _extend_integration_admin() -> None:
    """The integration's settings page gets each list's last reconciliation and "Reconcile
    now"; the lists page gets "Import members from Mailchimp" with its progress."""
    from mailchimp_integration.models import MailchimpConnection

    settings_base = type(admin.site._registry[MailchimpConnection])
    lists_base = type(admin.site._registry[Audience])

    class MailchimpConnectionAdmin(settings_base):
        settings_template = "admin/subscriptions/mailchimp_settings.html"

        def get_urls(self):
            return [
                path("webhooks/reconcile/",
                     self.admin_site.admin_view(require_POST(self.reconcile_view)),
                     name="subscriptions_members_reconcile"),
                *super().get_urls(),
            ]

        def health_get(self):
            health = super().health_get()
            audience_ids = [row.audience.pk for row in health.rows]
            finished = selectors.member_sync_runs_latest(
                audience_ids=audience_ids, kind=MemberSyncRun.Kind.RECONCILE, finished=True)
            unfinished = selectors.member_sync_runs_unfinished(
                audience_ids=audience_ids, kind=MemberSyncRun.Kind.RECONCILE)
            for row in health.rows:
                # What the last one found stays in view while another waits or runs.
                last, now = finished.get(row.audience.pk), unfinished.get(row.audience.pk)
                row.more["reconciliation"] = last or now
                row.more["reconciliation_text"] = (
                    f"{member_sync_run_text(last)}; {member_sync_run_text(now).lower()} now"
                    if last and now else member_sync_run_text(last or now))
            return health

        def changelist_view(self, request, extra_context=None):
            extra_context = {**(extra_context or {}),
                             "reconcile_url": reverse("admin:subscriptions_members_reconcile"),
                             "can_read_members": _may_read_members(request)}
            return super().changelist_view(request, extra_context)

        def reconcile_view(self, request):
            """POST ("Reconcile now"): a reconciliation of every list in use, in the worker."""
            if not (self.has_change_permission(request) and _may_read_members(request)):
                raise PermissionDenied
            audiences = inbound.audiences_to_reconcile()
            if not audiences:
                self.message_user(request, "No list is in use, so there is nothing to "
                                  "reconcile.", messages.WARNING)
            else:
                inbound.runs_enqueue(audiences=audiences, kind=MemberSyncRun.Kind.RECONCILE)
                self.message_user(request, ngettext(
                    "Reconciling %(n)d list with Mailchimp in the background; reload this "
                    "page in a moment to see what it found.",
                    "Reconciling %(n)d lists with Mailchimp in the background; reload this "
                    "page in a moment to see what they found.", len(audiences),
                ) % {"n": len(audiences)}, messages.SUCCESS)
            return HttpResponseRedirect(
                reverse("admin:mailchimp_integration_mailchimpconnection_changelist"))

    class AudienceAdmin(lists_base):
        lists_template = "admin/subscriptions/mailchimp_lists.html"

        def get_urls(self):
            wrap = self.admin_site.admin_view
            return [
                path("members/import/", wrap(require_POST(self.members_import_view)),
                     name="subscriptions_members_import"),
                path("members/runs/", wrap(self.members_runs_view),
                     name="subscriptions_members_runs"),
                *super().get_urls(),
            ]

        def changelist_view(self, request, extra_context=None):
            audiences = selectors.audiences_for_members_import()
            latest = selectors.member_sync_runs_latest(audience_ids=[a.pk for a in audiences],
                                                       kind=MemberSyncRun.Kind.IMPORT)
            for run in latest.values():
                run.text = member_sync_run_text(run)
            extra_context = {
                **(extra_context or {}),
                "members_imports": [(audience, latest.get(audience.pk))
                                    for audience in audiences],
                "members_import_url": reverse("admin:subscriptions_members_import"),
                "members_runs_url": reverse("admin:subscriptions_members_runs"),
                "can_import_members": (self.has_change_permission(request)
                                       and _may_read_members(request)),
            }
            return super().changelist_view(request, extra_context)

        def members_import_view(self, request):
            """POST: import every switched-on list's members, in the worker; answers the
            runs (JSON) for the page to follow."""
            if not (self.has_change_permission(request) and _may_read_members(request)):
                return JsonResponse({"error": "You may not import members."}, status=403)
            audiences = selectors.audiences_for_members_import()
            if not audiences:
                return JsonResponse({"error": "No list is switched on: switch on the lists "
                                              "whose members the store should know first."},
                                    status=409)
            runs = inbound.runs_enqueue(audiences=audiences, kind=MemberSyncRun.Kind.IMPORT)
            return JsonResponse({"runs": [member_sync_run_json(run) for run in runs]})

        def members_runs_view(self, request):
            """GET ?id=…&id=…: those runs as they stand (the page polls it)."""
            if not self.has_view_or_change_permission(request):
                return JsonResponse({"error": "You may not see the Mailchimp lists."},
                                    status=403)
            try:
                ids = [int(value) for value in request.GET.getlist("id")][:100]
            except ValueError:
                return JsonResponse({"error": "Run ids are numbers."}, status=400)
            runs = selectors.member_sync_runs_get(run_ids=ids)
            return JsonResponse({"runs": [member_sync_run_json(run) for run in runs]})

    for model, admin_class in ((MailchimpConnection, MailchimpConnectionAdmin),
                               (Audience, AudienceAdmin)):
        base = type(admin.site._registry[model])
        admin_class.__name__, admin_class.__qualname__ = base.__name__, base.__qualname__
        admin.site.unregister(model)
        admin.site.register(model, admin_class)


_extend_customer_admin()
_extend_integration_admin()
