"""Reads of customer accounts."""
from .models import User, normalize_email


def user_email_taken(*, email: str) -> bool:
    return User.objects.filter(email__iexact=normalize_email(email)).exists()
