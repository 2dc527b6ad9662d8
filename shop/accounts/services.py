"""Writes to customer accounts: registration and the demo superuser."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from .models import User, normalize_email
from .selectors import user_email_taken

EMAIL_TAKEN_MESSAGE = (
    "There is already an account with this email address. Sign in instead, or use another one."
)


def user_register(*, email: str, first_name: str, last_name: str, password: str) -> User:
    """Create a customer account. Raises ValidationError (code "email_taken") on a duplicate.

    Atomic, so a caller can wrap it with further writes (a newsletter opt-in, say) in an
    outer `transaction.atomic()` and have them all stand or fall together.
    """
    email = normalize_email(email)
    with transaction.atomic():
        if user_email_taken(email=email):
            raise ValidationError(EMAIL_TAKEN_MESSAGE, code="email_taken")
        try:
            # A savepoint, so losing a race to the same address leaves the outer
            # transaction usable.
            with transaction.atomic():
                return User.objects.create_user(
                    email=email,
                    password=password,
                    first_name=first_name.strip(),
                    last_name=last_name.strip(),
                )
        except IntegrityError as error:
            raise ValidationError(EMAIL_TAKEN_MESSAGE, code="email_taken") from error


@transaction.atomic
def user_ensure_superuser(
    *, email: str, password: str, reset_password: bool = False
) -> tuple[User, bool]:
    """The superuser with this email, created if missing. Returns (user, created).

    An existing user keeps their password unless `reset_password`; they are made staff and
    superuser either way.
    """
    email = normalize_email(email)
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        return User.objects.create_superuser(email=email, password=password), True
    changed = []
    if not (user.is_staff and user.is_superuser and user.is_active):
        user.is_staff = user.is_superuser = user.is_active = True
        changed += ["is_staff", "is_superuser", "is_active"]
    if reset_password:
        user.set_password(password)
        changed.append("password")
    if changed:
        user.save(update_fields=changed)
    return user, False
