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

    def __init__(self, *args, audience_ids: list[int] | None = None, **kwargs):
        # On every page, beside the page's own forms: ids of its own.
        kwargs.setdefault("auto_id", "news-box-%s")
        super().__init__(*args, **kwargs)
        self.wording = selectors.consent_wording("footer")
        if audience_ids is None:
            audience_ids = selectors.default_audience_ids(source="footer")
        # The GDPR marketing permissions of the lists a footer signup subscribes to.
        permissions_field_add(self, selectors.audiences_with_permissions(audience_ids))

    @property
    def heading(self) -> str:
        return f"Sign up for {settings.STORE_NAME} news"

    @property
    def custom_wording(self) -> str:
        """The settings' own sentence for the footer, shown under the box ("" if none)."""
        return self.wording if self.wording != selectors.footer_consent_text() else ""

    def is_bot(self) -> bool:
        return bool(self.data.get("website"))

    def permissions(self) -> dict[int, list[dict]]:
        return permissions_chosen(self)


@dataclass
class NewsChoice:
    """What a registration or checkout form's opt-in fields said."""

    use_defaults: bool = False
    audience_ids: list[int] = field(default_factory=list)
    interest_ids: list[int] = field(default_factory=list)
    consent_text: str = selectors.CHECKBOX_TEXT
    # audience id -> its GDPR marketing permissions as shown: [{"id", "text", "enabled"}].
    permissions: dict[int, list[dict]] = field(default_factory=dict)

    @property
    def any(self) -> bool:
        return self.use_defaults or bool(self.audience_ids)


# The layout of a form with `news_fields_add`: set it as the form class's `template_name`.
NEWS_FORM_TEMPLATE = "subscriptions/form_with_news.html"
OPT_IN_FIELD = "news_opt_in"
AUDIENCE_PREFIX = "news_list_"
GROUPS_PREFIX = "news_groups_"
INVALID_GROUP = "Please choose from the options shown."


# GDPR marketing permissions ------------------------------------------------------------------

PERMISSIONS_FIELD = "news_permissions"
PERMISSIONS_PREFIX = "news_permissions_"
PERMISSIONS_LABEL = "Please select all the ways you would like to hear from us:"


def permissions_field_add(form: forms.Form, audiences: list) -> None:
    """One unticked box per marketing permission of these audiences, in Mailchimp's words (a
    wording two lists share is one box, meaning both). Nothing when none has GDPR fields."""
    form.news_permission_audiences = audiences
    texts: list[str] = []
    for audience in audiences:
        texts += [p["text"] for p in audience.marketing_permissions if p["text"] not in texts]
    if texts:
        form.fields[PERMISSIONS_FIELD] = forms.MultipleChoiceField(
            label=PERMISSIONS_LABEL, required=False, choices=[(t, t) for t in texts],
            widget=forms.CheckboxSelectMultiple,
            error_messages={"invalid_choice": INVALID_GROUP},
        )


def permissions_chosen(form: forms.Form) -> dict[int, list[dict]]:
    """audience id -> its permissions as shown, each ticked or not (the evidence)."""
    ticked = set(form.cleaned_data.get(PERMISSIONS_FIELD) or [])
    return {
        audience.pk: [{"id": p["id"], "text": p["text"], "enabled": p["text"] in ticked}
                      for p in audience.marketing_permissions]
        for audience in getattr(form, "news_permission_audiences", [])
    }


def _permission_field(audience, *, subscription: Subscription | None, subscribed: bool):
    wanted = (subscription.marketing_permissions or {}) if subscribed and subscription else {}
    return forms.MultipleChoiceField(
        label=PERMISSIONS_LABEL, required=False,
        choices=[(p["id"], p["text"]) for p in audience.marketing_permissions],
        initial=[p["id"] for p in audience.marketing_permissions if wanted.get(p["id"])],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": INVALID_GROUP},
    )


# Groups, as Mailchimp's category types mean them ------------------------------------------

class _MarksDefaults:
    """A choice widget whose options the store ticks by default carry `data-news-default`:
    the page's script ticks them when the customer ticks the list (never the server)."""

    def __init__(self, *args, defaults=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.defaults = {str(value) for value in defaults}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        if str(value) in self.defaults:
            option["attrs"] = {**option["attrs"], "data-news-default": ""}
        return option


class _OneValue:
    """Keeps every value posted under the name, so that two answers to a one-answer
    question are refused rather than silently cut to the last."""

    def value_from_datadict(self, data, files, name):
        values = data.getlist(name) if hasattr(data, "getlist") else [data.get(name)]
        values = [value for value in values if value not in (None, "")]
        if len(values) > 1:
            return values
        return values[0] if values else ""


class GroupCheckboxes(_MarksDefaults, forms.CheckboxSelectMultiple):
    pass


class GroupRadios(_OneValue, _MarksDefaults, forms.RadioSelect):
    pass


class GroupDropdown(_OneValue, _MarksDefaults, forms.Select):
    pass


class OneGroupField(forms.TypedChoiceField):
    """A "radio buttons" or "dropdown" category: one group at most."""

    def to_python(self, value):
        if isinstance(value, list):
            raise forms.ValidationError(
                f"Please choose only one option under “{self.label}”.", code="one_only"
            )
        return super().to_python(value)


SINGLE_CHOICE_TYPES = {"radio", "dropdown"}
HIDDEN_TYPE = "hidden"


@dataclass
class GroupQuestion:
    """One category's groups in a form: its field, and how it reads."""

    category: object
    name: str
    bound: forms.BoundField | None = None

    @property
    def is_dropdown(self) -> bool:
        return self.category.type == "dropdown"


def _by_category(interests) -> list[tuple[object, list]]:
    categories: dict[int, tuple[object, list]] = {}
    for interest in interests:
        categories.setdefault(interest.category_id, (interest.category, []))[1].append(interest)
    return list(categories.values())


def _group_field(category, interests, *, chosen: set[int], defaults: set[int]):
    choices = [(i.pk, i.name) for i in interests]
    if category.type in SINGLE_CHOICE_TYPES:
        picked = [i.pk for i in interests if i.pk in chosen]
        empty = [("", "No preference")] if category.type == "dropdown" else []
        widget = GroupDropdown if category.type == "dropdown" else GroupRadios
        return OneGroupField(
            label=category.name, required=False, coerce=int, empty_value=None,
            choices=empty + choices, widget=widget(defaults=defaults),
            initial=picked[0] if picked else None,
            error_messages={"invalid_choice": INVALID_GROUP},
        )
    return forms.TypedMultipleChoiceField(
        label=category.name, required=False, coerce=int, choices=choices,
        widget=GroupCheckboxes(defaults=defaults),
        initial=[i.pk for i in interests if i.pk in chosen],
        error_messages={"invalid_choice": INVALID_GROUP},
    )


@dataclass
class ListRow:
    """One list in a form: its tick box, its groups by category, and a word for the customer.

    `kept_interest_ids` are groups the form does not show but that stay as they are (a hidden
    category's, or those of a list that can only be left)."""

    audience: object
    name: str
    questions: list[GroupQuestion] = field(default_factory=list)
    subscribed: bool = False
    leave_only: bool = False
    note: str = ""
    kept_interest_ids: list[int] = field(default_factory=list)
    bound: forms.BoundField | None = None
    permissions_name: str = ""
    permissions_bound: forms.BoundField | None = None

    def permissions(self, cleaned_data: dict) -> list[dict]:
        """The list's marketing permissions as shown, each ticked or not ([] if none)."""
        if not self.permissions_name:
            return []
        ticked = set(cleaned_data.get(self.permissions_name) or [])
        return [{"id": p["id"], "text": p["text"], "enabled": p["id"] in ticked}
                for p in self.audience.marketing_permissions]

    def chosen_interest_ids(self, cleaned_data: dict) -> list[int]:
        ids = []
        for question in self.questions:
            value = cleaned_data.get(question.name)
            if isinstance(value, list):
                ids.extend(value)
            elif value is not None:
                ids.append(value)
        return ids

    def is_ticked(self, cleaned_data: dict) -> bool:
        """Ticked, or (when joining) a group was chosen: choosing a group means the list."""
        if cleaned_data.get(self.name):
            return True
        ticked_permission = any(p["enabled"] for p in self.permissions(cleaned_data))
        return not self.subscribed and (
            bool(self.chosen_interest_ids(cleaned_data)) or ticked_permission
        )


def _list_row(form: forms.Form, audience, *, subscription: Subscription | None, staff: bool,
              interests) -> ListRow:
    """Add a list's fields to `form`; groups the customer is on start ticked, else none."""
    subscribed = bool(subscription and subscription.opted_in)
    chosen = {i.pk for i in subscription.interests.all()} if subscribed else set()
    row = ListRow(audience=audience, name=f"{AUDIENCE_PREFIX}{audience.pk}",
                  subscribed=subscribed)
    for category, items in _by_category(interests):
        if category.type == HIDDEN_TYPE and not staff:
            # Never shown to customers: what the store set stays, a new member gets defaults.
            row.kept_interest_ids += [
                i.pk for i in items
                if (i.pk in chosen if subscribed else i.subscribe_by_default)
            ]
            continue
        question = GroupQuestion(category=category,
                                 name=f"{GROUPS_PREFIX}{audience.pk}_{category.pk}")
        form.fields[question.name] = _group_field(
            category, items, chosen=chosen,
            defaults={i.pk for i in items if i.subscribe_by_default},
        )
        row.questions.append(question)
    if audience.gdpr_enabled and audience.marketing_permissions:
        row.permissions_name = f"{PERMISSIONS_PREFIX}{audience.pk}"
        form.fields[row.permissions_name] = _permission_field(
            audience, subscription=subscription, subscribed=subscribed)
    if subscription is not None and subscribed and subscription.state == \
            Subscription.State.PENDING:
        row.note = selectors.PENDING_NOTE
    elif subscription is not None and not subscribed:
        row.note = selectors.left_in_mailchimp_note(subscription)
    return row


def _bind_rows(form: forms.Form, rows: list[ListRow]) -> None:
    for row in rows:
        row.bound = form[row.name]
        for question in row.questions:
            question.bound = form[question.name]
        if row.permissions_name:
            row.permissions_bound = form[row.permissions_name]


# Registration and checkout -----------------------------------------------------------------

def news_fields_add(form: forms.Form, *, user=None, source: str = "") -> None:
    """Add the opt-in fields to a registration or checkout form, when they can do something.

    One checkbox (the entry point's lists and the default groups, with the lists' GDPR
    marketing permissions under it) while such a list is offered; or, when the store lets
    customers choose, a checkbox per offered list with its groups and permissions under it. A
    signed-in customer sees the lists they are on ticked. Unticked means no change.
    `source` (registration, checkout) picks the settings' wording and lists.
    """
    news_settings = selectors.news_settings_get()
    form.news_field_names = []
    form.news_rows = []
    form.news_source = source
    form.news_intro = form.news_wording = selectors.consent_wording(source, news_settings)
    if not news_settings.customers_choose_lists:
        default_ids = selectors.default_audience_ids(source=source or None)
        if default_ids:
            form.fields[OPT_IN_FIELD] = forms.BooleanField(
                required=False, label=form.news_wording
            )
            form.news_field_names.append(OPT_IN_FIELD)
            permissions_field_add(form, selectors.audiences_with_permissions(default_ids))
            if PERMISSIONS_FIELD in form.fields:
                form.news_field_names.append(PERMISSIONS_FIELD)
        return
    current = {}
    if user is not None and user.is_authenticated:
        current = {
            s.audience_id: s for s in selectors.subscriptions_for_user(user=user)
            if selectors.subscription_can_be_left(s)
        }
    for audience in selectors.offered_audiences():
        subscription = current.get(audience.pk)
        form.fields[f"{AUDIENCE_PREFIX}{audience.pk}"] = forms.BooleanField(
            required=False, label=audience.name, initial=subscription is not None
        )
        row = _list_row(form, audience, subscription=subscription, staff=False,
                        interests=audience.interests.all())
        form.news_rows.append(row)
        form.news_field_names += [row.name] + [q.name for q in row.questions]
        if row.permissions_name:
            form.news_field_names.append(row.permissions_name)
    _bind_rows(form, form.news_rows)


def news_choice_from(form: forms.Form) -> NewsChoice:
    """The NewsChoice of a valid form that had `news_fields_add`. Ticking a marketing
    permission means its list, as choosing a group does."""
    cleaned_data = form.cleaned_data
    wording = getattr(form, "news_wording", selectors.CHECKBOX_TEXT)
    if cleaned_data.get(OPT_IN_FIELD) or cleaned_data.get(PERMISSIONS_FIELD):
        return NewsChoice(use_defaults=True, consent_text=wording,
                          permissions=permissions_chosen(form))
    choice = NewsChoice(consent_text=wording)
    for row in getattr(form, "news_rows", []):
        if row.is_ticked(cleaned_data):
            choice.audience_ids.append(row.audience.pk)
            choice.interest_ids += row.chosen_interest_ids(cleaned_data) + row.kept_interest_ids
            if row.permissions_name:
                choice.permissions[row.audience.pk] = row.permissions(cleaned_data)
    return choice


def news_asked(data) -> bool:
    """Whether the posted form said yes to any list, even one that has since closed: a
    consent given is answered, never silently dropped."""
    return any(
        (name == OPT_IN_FIELD or name.startswith(AUDIENCE_PREFIX)
         or name.startswith(PERMISSIONS_FIELD)) and data.get(name)
        for name in data
    )


# The account page and the admin's tab ------------------------------------------------------

SHOWN_FIELD = "news_lists_shown"

class CustomerListsForm(forms.Form):
    """The lists one customer may be on, as they hold them: the account page and (`staff`)
    the admin's "Mailchimp news lists" tab.

    Offered lists can be joined and left. A list the store no longer offers shows only while
    the person is on it, and can only be left. Lists that are gone show to staff only.
    Staff also see and set the "hidden" group categories customers never see.
    """

    def __init__(self, *args, subscriptions: list[Subscription], staff: bool = False,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.staff = staff
        by_audience = {s.audience_id: s for s in subscriptions}
        self.audience_rows: list[ListRow] = []
        self.disabled_subscriptions: list[Subscription] = []
        offered = list(selectors.offered_audiences())
        offered_ids = {a.pk for a in offered}
        for audience in offered:
            self._add_row(audience, by_audience.get(audience.pk),
                          interests=audience.interests.all())
        for subscription in subscriptions:
            if subscription.audience_id in offered_ids:
                continue
            if selectors.subscription_can_be_left(subscription):
                row = self._add_row(subscription.audience, subscription, interests=[])
                row.leave_only = True
                if row.permissions_name:  # a list that can only be left asks nothing more
                    del self.fields[row.permissions_name]
                    row.permissions_name = ""
                row.note = row.note or selectors.NOT_OFFERED_NOTE
                row.kept_interest_ids = [i.pk for i in subscription.interests.all()]
            elif staff:
                self.disabled_subscriptions.append(subscription)
        # Which lists this page showed: a list missing from a POST (a stale page, a list added
        # since, a crafted request) is no decision at all, never an unsubscribe.
        shown = [row.audience.pk for row in self.audience_rows]
        self.fields[SHOWN_FIELD] = forms.TypedMultipleChoiceField(
            choices=[(pk, pk) for pk in shown], coerce=int, required=False, initial=shown,
            widget=forms.MultipleHiddenInput,
        )
        _bind_rows(self, self.audience_rows)

    def shown_ids(self) -> list[int]:
        """The lists the person saw and decided on (the others are left as they are)."""
        return list(self.cleaned_data.get(SHOWN_FIELD) or [])

    def _add_row(self, audience, subscription, *, interests) -> ListRow:
        subscribed = bool(subscription and subscription.opted_in)
        name = f"{AUDIENCE_PREFIX}{audience.pk}"
        if self.staff:
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
        row = _list_row(self, audience, subscription=subscription, staff=self.staff,
                        interests=interests)
        self.audience_rows.append(row)
        return row

    def permissions(self) -> dict[int, list[dict]]:
        """audience id -> its marketing permissions as shown and ticked, for the lists the
        person is to be on that have GDPR fields."""
        shown = set(self.shown_ids())
        return {
            row.audience.pk: row.permissions(self.cleaned_data)
            for row in self.audience_rows
            if row.permissions_name and row.audience.pk in shown
            and row.is_ticked(self.cleaned_data)
        }

    def choices(self) -> dict[int, list[int]]:
        """audience id -> group ids, for every list the person is to be on. A list shown
        (`shown_ids`) and missing here is one they leave."""
        shown = set(self.shown_ids())
        return {
            row.audience.pk: row.chosen_interest_ids(self.cleaned_data) + row.kept_interest_ids
            for row in self.audience_rows
            if row.audience.pk in shown and row.is_ticked(self.cleaned_data)
        }


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
