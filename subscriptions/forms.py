"""Forms: the footer box, the opt-in fields of registration and checkout, the account page."""
from __future__ import annotations

from dataclasses import dataclass, field

from django import forms
from django.conf import settings

from . import selectors
from .models import Subscription


class FooterSignupForm(forms.Form):
    """Email only. `website` is a honeypot: hidden from people, filled in by bots."""

    email = forms.EmailField(
        label="Email address",
        max_length=254,
        error_messages={
            "required": "Please enter your email address.",
            "invalid": "Please enter a valid email address, like name@example.com.",
        },
        widget=forms.EmailInput(attrs={"placeholder": "you@example.com", "autocomplete": "email"}),
    )
    website = forms.CharField(
        required=False,
        label="Leave this field empty",
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )

    @property
    def heading(self) -> str:
        return f"Sign up for {settings.STORE_NAME} news"

    def is_bot(self) -> bool:
        return bool(self.data.get("website"))


@dataclass
class NewsChoice:
    """What a registration or checkout form's opt-in fields said."""

    use_defaults: bool = False
    audience_ids: list[int] = field(default_factory=list)
    interest_ids: list[int] = field(default_factory=list)
    consent_text: str = selectors.CHECKBOX_TEXT

    @property
    def any(self) -> bool:
        return self.use_defaults or bool(self.audience_ids)


AUDIENCE_PREFIX = "news_list_"
GROUPS_PREFIX = "news_groups_"


def _groups_field(audience, *, required=False) -> forms.TypedMultipleChoiceField:
    return forms.TypedMultipleChoiceField(
        label=f"Groups of {audience.name}",
        required=required,
        coerce=int,
        choices=[(i.pk, i.name) for i in audience.interests.all()],
        widget=forms.CheckboxSelectMultiple,
    )


def news_fields_add(form: forms.Form) -> None:
    """Add the opt-in fields to a registration or checkout form.

    One checkbox (the default lists and groups), or, when the store lets customers choose,
    a checkbox per active list with its active groups. Unticked means no change.
    """
    if not selectors.news_settings_get().customers_choose_lists:
        form.fields["news_opt_in"] = forms.BooleanField(
            required=False, label=selectors.CHECKBOX_TEXT
        )
        return
    for audience in selectors.offered_audiences():
        form.fields[f"{AUDIENCE_PREFIX}{audience.pk}"] = forms.BooleanField(
            required=False, label=f"{selectors.CHECKBOX_TEXT}: {audience.name}"
        )
        if audience.interests.all():
            form.fields[f"{GROUPS_PREFIX}{audience.pk}"] = _groups_field(audience)
            form.fields[f"{GROUPS_PREFIX}{audience.pk}"].initial = [
                i.pk for i in audience.interests.all() if i.subscribe_by_default
            ]


def news_choice_from(cleaned_data: dict) -> NewsChoice:
    """The NewsChoice of a valid form that had `news_fields_add`."""
    if cleaned_data.get("news_opt_in"):
        return NewsChoice(use_defaults=True)
    choice = NewsChoice()
    for name, value in cleaned_data.items():
        if name.startswith(AUDIENCE_PREFIX) and value:
            audience_id = int(name[len(AUDIENCE_PREFIX):])
            choice.audience_ids.append(audience_id)
            choice.interest_ids.extend(cleaned_data.get(f"{GROUPS_PREFIX}{audience_id}") or [])
    return choice


class CustomerListsForm(forms.Form):
    """Every active list with its groups, as one customer holds them: the account page and
    the admin's "Mailchimp news lists" tab. Disabled subscriptions are shown, not edited."""

    def __init__(self, *args, subscriptions: list[Subscription], select_widget=False, **kwargs):
        super().__init__(*args, **kwargs)
        by_audience = {s.audience_id: s for s in subscriptions}
        self.disabled_subscriptions = [s for s in subscriptions if s.is_disabled]
        self.audience_rows = []
        for audience in selectors.offered_audiences():
            subscription = by_audience.get(audience.pk)
            if subscription is not None and subscription.is_disabled:
                continue
            subscribed = bool(subscription and subscription.opted_in)
            name = f"{AUDIENCE_PREFIX}{audience.pk}"
            if select_widget:
                self.fields[name] = forms.TypedChoiceField(
                    label=audience.name,
                    choices=[("1", "Subscribed"), ("", "Not subscribed")],
                    coerce=lambda value: value == "1",
                    empty_value=False,
                    required=False,
                    initial="1" if subscribed else "",
                )
            else:
                self.fields[name] = forms.BooleanField(
                    label=audience.name, required=False, initial=subscribed
                )
            groups = None
            if audience.interests.all():
                groups = f"{GROUPS_PREFIX}{audience.pk}"
                self.fields[groups] = _groups_field(audience)
                self.fields[groups].initial = (
                    [i.pk for i in subscription.interests.all()] if subscription else []
                )
            self.audience_rows.append((audience, self[name], self[groups] if groups else None))

    def choices(self) -> dict[int, list[int]]:
        """audience id -> group ids, for the audiences ticked (or selected) as subscribed."""
        result = {}
        for name, value in self.cleaned_data.items():
            if name.startswith(AUDIENCE_PREFIX) and value:
                audience_id = int(name[len(AUDIENCE_PREFIX):])
                result[audience_id] = list(self.cleaned_data.get(f"{GROUPS_PREFIX}{audience_id}")
                                           or [])
        return result


class SubscribeCustomersForm(forms.Form):
    """The admin action's intermediate page: which lists, and how to add the customers."""

    AS_SUBSCRIBED = "subscribed"
    AS_CONTACTS = "contacts"

    audiences = forms.TypedMultipleChoiceField(
        label="Mailchimp lists", coerce=int, widget=forms.CheckboxSelectMultiple
    )
    add_as = forms.ChoiceField(
        label="Add them as",
        choices=[
            (AS_SUBSCRIBED, "Subscribed: they agreed to receive our news elsewhere "
                            "(this is recorded as their consent)"),
            (AS_CONTACTS, "Contacts who are not subscribed (no news is sent to them)"),
        ],
        initial=AS_CONTACTS,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["audiences"].choices = [
            (a.pk, a.name) for a in selectors.offered_audiences()
        ]
