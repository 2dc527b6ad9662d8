"""Back office: the "Mailchimp integration" settings page (with the webhooks' health), the
"Mailchimp lists" page, and the webhook events as they came.

The two pages are ModelAdmins whose changelist is a page of their own; their small JSON
endpoints and buttons are registered through `get_urls`, so they live under /admin/, behind the
admin login, CSRF protection and model permissions. `subscriptions.admin` extends both pages
(reconciliation, the import of members): that work is the subscriptions'.
"""
import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from . import selectors, services
from .forms import ApiKeyForm, FlagChangeForm
from .models import (
    Audience,
    ConnectionCheck,
    Interest,
    MailchimpConnection,
    SyncRun,
    WebhookEvent,
)


def sync_run_json(run: SyncRun | None) -> dict | None:
    if run is None:
        return None
    return {
        "id": run.pk,
        "state": run.state,
        "trigger": run.get_trigger_display(),
        "finished": run.is_finished,
        "progress_done": run.progress_done,
        "progress_total": run.progress_total,
        "created": run.created,
        "updated": run.updated,
        "removed": run.removed,
        "error": run.error,
        "summary": run.summary,
        "queued_at": run.queued_at.isoformat() if run.queued_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def connection_check_json(check: ConnectionCheck) -> dict:
    return {
        "id": check.pk,
        "purpose": check.purpose,
        "state": check.state,
        "finished": check.is_finished,
        "ok": check.state == ConnectionCheck.State.SUCCEEDED,
        "message": check.message,
        "waiting_seconds": int((timezone.now() - check.requested_at).total_seconds()),
    }


@admin.register(MailchimpConnection)
class MailchimpConnectionAdmin(admin.ModelAdmin):
    """The settings page: the API key (masked), "Test connection", "Update Mailchimp Lists".

    Nothing here waits on Mailchimp: a key is checked (and saved) by a worker, a sync runs in
    a worker, and the page polls both. A GET changes nothing.
    """

    settings_template = "admin/mailchimp_integration/mailchimpconnection/settings.html"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("sync/", wrap(self.sync_start_view), name=f"{prefix}_sync"),
            path(
                "sync/<int:run_id>/",
                wrap(self.sync_status_view),
                name=f"{prefix}_sync_status",
            ),
            path(
                "check/<int:check_id>/",
                wrap(self.check_status_view),
                name=f"{prefix}_check_status",
            ),
            path(
                "webhooks/register/",
                wrap(require_POST(self.webhooks_register_view)),
                name=f"{prefix}_webhooks_register",
            ),
            *super().get_urls(),
        ]

    # The key form posts here: an error report (Django's admin emails, Sentry) must not show it.
    @method_decorator(sensitive_post_parameters("api_key"))
    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        can_change = self.has_change_permission(request)
        config = selectors.mailchimp_config_get()
        form = ApiKeyForm(require_key=False)
        if request.method == "POST":
            if not can_change:
                raise PermissionDenied
            response = self._settings_post(request, config)
            if isinstance(response, HttpResponseRedirect):
                return response
            form = response
        # A key from the environment is imported by the beat job within a minute; a GET
        # never starts anything.
        connection = selectors.connection_get()
        check = selectors.connection_check_latest()
        context = {
            **self.admin_site.each_context(request),
            "title": "Mailchimp integration",
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "config": config,
            "connection": connection,
            "form": form,
            "can_change": can_change,
            "latest_run": selectors.sync_run_latest(),
            "import_status": selectors.lists_import_status(),
            "check": check,
            "check_status_url": reverse(
                "admin:mailchimp_integration_mailchimpconnection_check_status", args=[check.pk]
            ) if check else "",
            "sync_url": reverse("admin:mailchimp_integration_mailchimpconnection_sync"),
            "lists_url": reverse("admin:mailchimp_integration_audience_changelist"),
            "health": self.health_get(),
            "webhooks_register_url": reverse(
                "admin:mailchimp_integration_mailchimpconnection_webhooks_register"
            ),
            **(extra_context or {}),
        }
        return TemplateResponse(request, self.settings_template, context)

    def _settings_post(self, request, config):
        """Queue a check of the key (and its saving), or clear it; a form with errors to
        re-show, or a redirect back to the page, which shows the check until it is done."""
        action = request.POST.get("action")
        here = HttpResponseRedirect(request.path)
        if action == "test":
            form = ApiKeyForm(request.POST, require_key=False)
            if not form.is_valid():
                return form
            services.connection_check_request(
                purpose=ConnectionCheck.Purpose.TEST, api_key=form.cleaned_data["api_key"]
            )
            return here
        if config.from_environment:
            self.message_user(
                request, "The API key comes from the environment (MAILCHIMP_API_KEY); change it "
                "there.", messages.ERROR,
            )
            return here
        if action == "clear":
            connection = services.connection_clear_api_key()
            self.log_change(request, connection, "Removed the Mailchimp API key.")
            self.message_user(request, "The Mailchimp API key was removed.", messages.SUCCESS)
            return here
        if action == "save":
            form = ApiKeyForm(request.POST)
            if not form.is_valid():
                return form
            services.connection_check_request(
                purpose=ConnectionCheck.Purpose.SAVE, api_key=form.cleaned_data["api_key"]
            )
            self.log_change(
                request, services.connection_get_or_create(),
                "Entered a new Mailchimp API key, saved once Mailchimp accepts it.",
            )
            return here
        self.message_user(request, "Unknown action.", messages.ERROR)
        return here

    def sync_start_view(self, request):
        """POST: queue a sync in a worker (or join the one already under way); JSON or redirect."""
        if request.method != "POST":
            return JsonResponse({"error": "POST only"}, status=405)
        if not self.has_change_permission(request):
            raise PermissionDenied
        if not selectors.mailchimp_config_get().is_configured:
            error = "Connect Mailchimp first: enter the API key."
            if _wants_json(request):
                return JsonResponse({"error": error}, status=409)
            self.message_user(request, error, messages.ERROR)
            return HttpResponseRedirect(_settings_url())
        run = services.sync_run_enqueue(trigger=SyncRun.Trigger.BUTTON)
        if _wants_json(request):
            return JsonResponse(
                {
                    "run": sync_run_json(run),
                    "status_url": reverse(
                        "admin:mailchimp_integration_mailchimpconnection_sync_status",
                        args=[run.pk],
                    ),
                },
                status=202,
            )
        self.message_user(request, "Updating the Mailchimp lists in the background…")
        return HttpResponseRedirect(_settings_url())

    def sync_status_view(self, request, run_id: int):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        run = selectors.sync_run_get(run_id=run_id)
        if run is None:
            return JsonResponse({"error": "No such sync."}, status=404)
        return JsonResponse({"run": sync_run_json(run)})

    def health_get(self) -> selectors.WebhookHealth:
        """The webhooks' health panel; `subscriptions.admin` adds each list's reconciliation."""
        return selectors.webhook_health()

    def webhooks_register_view(self, request):
        """POST: queue the registration of every audience's webhook ("Re-register webhooks")."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        if services.webhooks_register_enqueue():
            self.message_user(
                request, "Re-registering the webhooks with Mailchimp in the background; "
                "reload this page in a moment to see the outcome.", messages.SUCCESS,
            )
        else:
            self.message_user(
                request, "The task queue could not be reached, so nothing was queued: is the "
                "broker (Redis) running? Try again in a moment.", messages.ERROR,
            )
        return HttpResponseRedirect(_settings_url())

    def check_status_view(self, request, check_id: int):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        check = selectors.connection_check_get(check_id=check_id)
        if check is None:
            return JsonResponse({"error": "No such check."}, status=404)
        return JsonResponse({"check": connection_check_json(check)})


def _settings_url() -> str:
    return reverse("admin:mailchimp_integration_mailchimpconnection_changelist")


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@admin.register(Audience)
class AudienceAdmin(admin.ModelAdmin):
    """Marketing → Mailchimp lists: every audience with its groups, toggled in place."""

    lists_template = "admin/mailchimp_integration/audience/lists.html"
    per_page = 50

    def has_add_permission(self, request):
        return False  # audiences come from Mailchimp

    def has_delete_permission(self, request, obj=None):
        return False  # removed in Mailchimp means marked removed here, never deleted

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path(
                "flags/",
                self.admin_site.admin_view(require_POST(self.flags_view)),
                name=f"{prefix}_flags",
            ),
            path("ecommerce/connect/<int:audience_id>/",
                 wrap(require_POST(admin_ecommerce.connect_view)),
                 name=f"{prefix}_ecommerce_connect"),
            path("ecommerce/sync/", wrap(require_POST(admin_ecommerce.sync_view)),
                 name=f"{prefix}_ecommerce_sync"),
            path("ecommerce/disconnect/", wrap(require_POST(admin_ecommerce.disconnect_view)),
                 name=f"{prefix}_ecommerce_disconnect"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        paginator = Paginator(selectors.audiences_for_admin(), self.per_page)
        page = paginator.get_page(request.GET.get("p"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Mailchimp lists",
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "page": page,
            "audiences": page.object_list,
            "can_change": self.has_change_permission(request),
            "import_status": selectors.lists_import_status(),
            "flags_url": reverse("admin:mailchimp_integration_audience_flags"),
            "settings_url": _settings_url(),
            **admin_ecommerce.panel_context(),
            **(extra_context or {}),
        }
        return TemplateResponse(request, self.lists_template, context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Everything about an audience is on the lists page.
        return HttpResponseRedirect(reverse("admin:mailchimp_integration_audience_changelist"))

    def flags_view(self, request):
        """POST JSON {kind, id, field, value}: set one toggle; answer the object's state."""
        if not self.has_change_permission(request):
            return JsonResponse({"error": "You may not change the Mailchimp lists."}, status=403)
        try:
            payload = json.loads(request.body or b"{}")
        except ValueError:
            return JsonResponse({"error": "The request body is not JSON."}, status=400)
        form = FlagChangeForm(payload if isinstance(payload, dict) else {})
        if not form.is_valid():
            return JsonResponse({"error": form.errors.get_json_data()}, status=400)
        data = form.cleaned_data
        flags = {data["field"]: data["value"]}
        try:
            if data["kind"] == "audience":
                obj, changed = services.audience_flags_set(audience_id=data["id"], **flags)
            else:
                obj, changed = services.interest_flags_set(interest_id=data["id"], **flags)
        except (Audience.DoesNotExist, Interest.DoesNotExist):
            return JsonResponse({"error": "Not found."}, status=404)
        except services.RemovedInMailchimp as error:
            return JsonResponse({"error": str(error)}, status=409)
        if changed:
            self.log_change(request, obj, [{"changed": {"fields": changed}}])
        return JsonResponse(
            {
                "kind": data["kind"],
                "id": obj.pk,
                "active": obj.active,
                "subscribe_by_default": obj.subscribe_by_default,
            }
        )



class ReadOnlyModelAdmin(admin.ModelAdmin):
    """A log or evidence: shown, never added, changed or deleted in the admin."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AppliedFilter(admin.SimpleListFilter):
    title = "applied"
    parameter_name = "applied"

    def lookups(self, request, model_admin):
        return [("yes", "Applied"), ("no", "Not applied yet")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(applied_at__isnull=self.value() == "no")
        return queryset


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyModelAdmin):
    """What Mailchimp's webhooks posted, as it came (the evidence), and what applying it did."""

    list_display = ["type", "audience", "received_at", "applied_at", "outcome"]
    list_filter = ["type", AppliedFilter, "endpoint__audience"]
    list_select_related = ["endpoint__audience"]
    search_fields = ["outcome"]
    fields = ["type", "audience", "fired_at", "received_at", "applied_at", "outcome",
              "what_came"]
    readonly_fields = fields
    date_hierarchy = "received_at"

    @admin.display(ordering="endpoint__audience__name")
    def audience(self, event: WebhookEvent) -> str:
        return event.endpoint.audience.name

    @admin.display(description="what Mailchimp sent")
    def what_came(self, event: WebhookEvent) -> str:
        return json.dumps(event.data, indent=1, sort_keys=True) if event.data else "—"


# Last: the e-commerce admin builds on ReadOnlyModelAdmin, and the lists page's URLs above
# reach its views when they are called.
from . import admin_ecommerce  # noqa: E402

admin_ecommerce.extend_shop_admin()
