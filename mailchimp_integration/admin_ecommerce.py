"""Back office for e-commerce: the "E-commerce" panel of the "Mailchimp lists" page (connect an
audience's store, "Sync store data", disconnect), the e-commerce records with Mailchimp's words
and Retry, and the sync state on the product and order pages.

A module of its own so `admin.py` stays a page a reader can name; `admin.py` imports it last,
wires the panel's views into the lists page's URLs and calls `extend_shop_admin()`.

Connect and disconnect call Mailchimp in the request (two calls at most, bounded by the
client's timeouts): the admin asked and needs the answer, adopted, created or refused.
Everything long (the backfill, each record) runs in the worker.
"""
from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from . import ecommerce, ecommerce_backfill, ecommerce_delivery, selectors
from .admin import ReadOnlyModelAdmin
from .models import Audience, ConnectedStore, EcommerceRecord

CHANGE_PERMISSION = "mailchimp_integration.change_audience"


def _lists_url() -> str:
    return reverse("admin:mailchimp_integration_audience_changelist")


def _back(request, level, text: str) -> HttpResponseRedirect:
    messages.add_message(request, level, text)
    return HttpResponseRedirect(_lists_url() + "#mc-store")


def _require_change(request) -> None:
    if not request.user.has_perm(CHANGE_PERMISSION):
        raise PermissionDenied


def panel_context() -> dict:
    return {
        "ecommerce": selectors.store_panel(),
        "records_url": reverse("admin:mailchimp_integration_ecommercerecord_changelist"),
        "ecommerce_sync_url": reverse("admin:mailchimp_integration_audience_ecommerce_sync"),
        "ecommerce_disconnect_url": reverse(
            "admin:mailchimp_integration_audience_ecommerce_disconnect"),
    }


def connect_view(request, audience_id: int):
    """POST "Connect e-commerce" on an audience: its store connected (or adopted), then its
    first "Sync store data" queued."""
    from .services import mailchimp_client_build

    _require_change(request)
    audience = get_object_or_404(Audience, pk=audience_id)
    try:
        connected = ecommerce.store_connect_and_sync(client=mailchimp_client_build(),
                                                     audience=audience)
    except ecommerce.StoreRefused as refused:
        return _back(request, messages.ERROR, f"E-commerce was not connected: {refused.reason}")
    how = "adopted (it existed in Mailchimp already)" if connected.adopted else "created"
    return _back(request, messages.SUCCESS,
                 f"E-commerce is connected to “{audience.name}”: the store "
                 f"{connected.store.store_id} was {how}. Its products, promo codes and orders "
                 "are being sent; reload this page to follow.")


def _connected_or_none():
    return ConnectedStore.objects.exclude(state=ConnectedStore.State.DISCONNECTED).first()


def sync_view(request):
    """POST "Sync store data": the history sent again (resuming a failed run)."""
    _require_change(request)
    store = _connected_or_none()
    if store is None:
        return _back(request, messages.ERROR, "No store is connected.")
    try:
        ecommerce_backfill.backfill_start(store=store)
    except ecommerce_backfill.BackfillRefused as refused:
        return _back(request, messages.ERROR, refused.reason)
    return _back(request, messages.SUCCESS, "Sending the store data to Mailchimp in the "
                 "background; reload this page to follow it.")


def disconnect_view(request):
    """POST "Disconnect": nothing more is sent. The store is deleted in Mailchimp only when
    the admin ticked it and typed the store's id."""
    from .services import mailchimp_client_build

    _require_change(request)
    store = _connected_or_none()
    if store is None:
        return _back(request, messages.ERROR, "No store is connected.")
    delete = request.POST.get("delete_in_mailchimp") == "1"
    try:
        ecommerce.store_disconnect(
            client=mailchimp_client_build(), store=store, delete_in_mailchimp=delete,
            confirmation=request.POST.get("confirmation", "").strip())
    except ecommerce.StoreRefused as refused:
        return _back(request, messages.ERROR, f"Not disconnected: {refused.reason}")
    if delete:
        return _back(request, messages.SUCCESS, f"E-commerce is disconnected and the store "
                     f"{store.store_id} was deleted in Mailchimp with all its data.")
    return _back(request, messages.SUCCESS, f"E-commerce is disconnected: nothing more is sent. "
                 f"The store {store.store_id} and its data stay in Mailchimp.")


# ----------------------------------------------------------------------------- records
def _local_admin_url(record: EcommerceRecord) -> str | None:
    """The store's own admin page for the record, when it has one."""
    local_id = record.local_id.split(":", 1)[0]
    names = {EcommerceRecord.Kind.PRODUCT: "catalogue_product",
             EcommerceRecord.Kind.VARIANT: "catalogue_product",
             EcommerceRecord.Kind.ORDER: "checkout_order",
             EcommerceRecord.Kind.PROMO: "promotions_promocode"}
    name = names.get(record.kind)
    if name is None or not local_id.isdigit():
        return None
    return reverse(f"admin:{name}_change", args=[local_id])


@admin.action(description="Retry: send the selected records again", permissions=["retry"])
def retry_records(modeladmin, request, queryset):
    queued = ecommerce_delivery.records_retry(record_ids=list(queryset.values_list("pk",
                                                                                   flat=True)))
    modeladmin.message_user(request, f"{queued} record(s) will be sent again shortly."
                            if queued else "Nothing to retry: no store is connected.",
                            messages.SUCCESS if queued else messages.WARNING)


@admin.register(EcommerceRecord)
class EcommerceRecordAdmin(ReadOnlyModelAdmin):
    """Marketing → E-commerce records: what Mailchimp holds of each product, order, cart and
    promo code, and why not when it does not. Shown, never edited; Retry sends again."""

    list_display = ["__str__", "store_page", "state", "failure_reason", "synced_at",
                    "attempts", "next_attempt_at"]
    list_filter = ["state", "kind", "store"]
    search_fields = ["local_id", "failure_reason"]
    list_select_related = ["store"]
    actions = [retry_records]
    change_form_template = "admin/mailchimp_integration/ecommercerecord/change_form.html"

    def has_retry_permission(self, request):
        return request.user.has_perm(CHANGE_PERMISSION)

    @admin.display(description="In the store")
    def store_page(self, record: EcommerceRecord):
        url = _local_admin_url(record)
        return format_html('<a href="{}">open</a>', url) if url else "—"

    def get_urls(self):
        return [
            path("<int:record_id>/retry/",
                 self.admin_site.admin_view(require_POST(self.retry_view)),
                 name="mailchimp_integration_ecommercerecord_retry"),
            *super().get_urls(),
        ]

    def retry_view(self, request, record_id: int):
        if not self.has_retry_permission(request):
            raise PermissionDenied
        queued = ecommerce_delivery.records_retry(record_ids=[record_id])
        self.message_user(request, "It will be sent again shortly." if queued
                          else "Nothing to retry: the store is not connected any more.",
                          messages.SUCCESS if queued else messages.WARNING)
        return HttpResponseRedirect(
            reverse("admin:mailchimp_integration_ecommercerecord_change", args=[record_id]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}),
                         "can_retry": self.has_retry_permission(request)}
        return super().change_view(request, object_id, form_url, extra_context)


# ----------------------------------------------------------------------------- shop pages
def sync_state_html(*, kind: str, local_id) -> str:
    """One line for a product's or order's change page: synced, waiting or failed (with
    Mailchimp's words), linked to the record with its Retry."""
    store = _connected_or_none()
    if store is None:
        return "E-commerce is not connected: nothing is sent to Mailchimp."
    record = EcommerceRecord.objects.filter(store=store, kind=kind,
                                            local_id=str(local_id)).first()
    if record is None:
        return "Not sent yet: it goes with the next “Sync store data”, or when it changes."
    url = reverse("admin:mailchimp_integration_ecommercerecord_change", args=[record.pk])
    if record.state == EcommerceRecord.State.FAILED:
        return format_html('<span class="errornote">Failed: {}</span> <a href="{}">Retry…</a>',
                           record.failure_reason, url)
    if record.state == EcommerceRecord.State.SYNCED:
        return format_html('Synced {} <a href="{}">details</a>',
                           record.synced_at.strftime("%Y-%m-%d %H:%M") if record.synced_at
                           else "", url)
    return format_html('Waiting to be sent{} <a href="{}">details</a>',
                       f" ({record.failure_reason})" if record.failure_reason else "", url)


def extend_shop_admin() -> None:
    """The product and order pages, subclassed: a "Mailchimp" section with the sync state."""
    from shop.catalogue.models import Product
    from shop.checkout.models import Order

    for model, kind in ((Product, EcommerceRecord.Kind.PRODUCT),
                        (Order, EcommerceRecord.Kind.ORDER)):
        base = admin.site._registry.get(model)
        if base is None:
            continue
        base_class = type(base)

        def mailchimp_sync(self, obj, kind=kind):
            return sync_state_html(kind=kind, local_id=obj.pk) if obj and obj.pk else "—"

        mailchimp_sync.short_description = "Mailchimp"

        def get_readonly_fields(self, request, obj=None, base_class=base_class):
            return [*base_class.get_readonly_fields(self, request, obj), "mailchimp_sync"]

        def get_fieldsets(self, request, obj=None, base_class=base_class):
            fieldsets = list(base_class.get_fieldsets(self, request, obj))
            if obj is None:
                return fieldsets
            return [*fieldsets, ("Mailchimp", {"fields": ["mailchimp_sync"]})]

        extended = type(base_class.__name__, (base_class,), {
            "__module__": base_class.__module__, "mailchimp_sync": mailchimp_sync,
            "get_readonly_fields": get_readonly_fields, "get_fieldsets": get_fieldsets})
        admin.site.unregister(model)
        admin.site.register(model, extended)
