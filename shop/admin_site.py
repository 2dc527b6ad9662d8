"""The back office: Django admin, with apps grouped into the store's sections."""
from django.contrib import admin
from django.urls import reverse

# Admin index sections, in order, and the apps each one gathers. An app not named here
# keeps its own heading after these.
SECTIONS = {
    "Catalogue": ["catalogue"],
    "Sales": ["checkout"],
    "Customers": ["accounts"],
    "Marketing": ["mailchimp_integration", "subscriptions"],
    # Who may do what in the back office: Django's staff groups, kept apart from the
    # customers and from Mailchimp's groups.
    "Administration": ["auth"],
}

# Index names of Django's own models that would read ambiguously beside Mailchimp's groups.
RENAMED_MODELS = {("auth", "Group"): "Staff groups"}


class ShopAdminSite(admin.AdminSite):
    site_header = "Store back office"
    site_title = "Store back office"
    index_title = "Back office"

    def each_context(self, request):
        return {**super().each_context(request), **mailchimp_banner_context(request)}

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        if app_label:
            return apps
        by_label = {app["app_label"]: app for app in apps}
        grouped = []
        for section, labels in SECTIONS.items():
            members = [by_label.pop(label) for label in labels if label in by_label]
            if not members:
                continue
            models = [
                {**model, "name": RENAMED_MODELS.get((app["app_label"], model["object_name"]),
                                                     model["name"])}
                for app in members
                for model in app["models"]
            ]
            grouped.append(
                {
                    **members[0],
                    "name": section,
                    "models": models,
                }
            )
        return grouped + list(by_label.values())


def mailchimp_banner_context(request) -> dict:
    """The banner on every back-office page when nothing can reach Mailchimp (templates/admin/
    base_site.html), for the staff who may open the page where it is fixed."""
    user = getattr(request, "user", None)
    if user is None or not (
        user.has_perm("mailchimp_integration.view_mailchimpconnection")
        or user.has_perm("mailchimp_integration.change_mailchimpconnection")
    ):
        return {}
    from mailchimp_integration.selectors import delivery_blocked_reason

    reason = delivery_blocked_reason()
    if reason is None:
        return {}
    settings_url = reverse("admin:mailchimp_integration_mailchimpconnection_changelist")
    return {
        "mailchimp_blocked_reason": reason,
        # No link to the page the admin is already on.
        "mailchimp_settings_url": settings_url if request.path != settings_url else "",
    }
