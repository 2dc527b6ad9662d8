"""Mailchimp's errors as the sandbox raises them; the HTTP layer turns each into problem+json."""
from __future__ import annotations

SCHEMA_DETAIL = ("The resource submitted could not be validated. For field-specific details, "
                 "see the 'errors' array.")


class ApiError(Exception):
    """A Mailchimp error: becomes an application/problem+json response."""

    def __init__(self, status: int, title: str, detail: str, errors: list | None = None):
        super().__init__(f"{status} {title}: {detail}")
        self.status, self.title, self.detail, self.errors = status, title, detail, errors


def not_found() -> ApiError:
    return ApiError(404, "Resource Not Found", "The requested resource could not be found.")


def invalid_resource(detail: str, errors: list | None = None) -> ApiError:
    return ApiError(400, "Invalid Resource", detail, errors)


def schema_error(field: str, message: str) -> ApiError:
    """A body that does not fit the schema: Mailchimp names the field in `errors`."""
    return invalid_resource(SCHEMA_DETAIL, [{"field": field, "message": message}])


def json_parse_error() -> ApiError:
    return ApiError(400, "JSON Parse Exception",
                    "We encountered an unspecified JSON parsing error.")


def member_in_compliance_state(email: str) -> ApiError:
    # Mailchimp's words, the same for an unsubscribe, a bounce or a review.
    return ApiError(400, "Member In Compliance State", f"{email} is in a compliance state due "
                    "to unsubscribe, bounce, or compliance review and cannot be subscribed.")
