"""Factories for the Mailchimp integration's models and the staff who manage them."""
import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone

from mailchimp_integration.models import Audience, Interest, InterestCategory

PASSWORD = "correct-horse-battery-staple"


class AudienceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Audience

    mailchimp_id = factory.Sequence(lambda n: f"aud{n:07d}")
    name = factory.Sequence(lambda n: f"Audience {n}")
    member_count = 10
    last_seen_at = factory.LazyFunction(timezone.now)


class InterestCategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InterestCategory

    audience = factory.SubFactory(AudienceFactory)
    mailchimp_id = factory.Sequence(lambda n: f"cat{n:07d}")
    name = factory.Sequence(lambda n: f"Category {n}")
    type = "checkboxes"
    last_seen_at = factory.LazyFunction(timezone.now)


class InterestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Interest

    category = factory.SubFactory(InterestCategoryFactory)
    audience = factory.LazyAttribute(lambda o: o.category.audience)
    mailchimp_id = factory.Sequence(lambda n: f"int{n:07d}")
    name = factory.Sequence(lambda n: f"Group {n}")
    member_count = 3
    last_seen_at = factory.LazyFunction(timezone.now)


def staff_user(*, email: str = "staff@example.com", permissions: tuple[str, ...] = ()):
    """A staff user (not a superuser) with exactly these `app_label.codename` permissions."""
    User = get_user_model()
    user = User.objects.create_user(**{User.USERNAME_FIELD: email}, password=PASSWORD)
    if hasattr(user, "email") and User.USERNAME_FIELD != "email":
        user.email = email
    user.is_staff = True
    user.save()
    for name in permissions:
        app_label, codename = name.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


LIST_MANAGER_PERMISSIONS = (
    "mailchimp_integration.view_audience",
    "mailchimp_integration.change_audience",
)
SETTINGS_MANAGER_PERMISSIONS = (
    "mailchimp_integration.view_mailchimpconnection",
    "mailchimp_integration.change_mailchimpconnection",
)
