"""Registration and sign-in forms: check what the customer typed, in words they understand."""
from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import (
    AdminUserCreationForm,
    AuthenticationForm,
    UserChangeForm,
)

from subscriptions.forms import NEWS_FORM_TEMPLATE, news_fields_add

from .models import User, normalize_email
from .selectors import user_email_taken
from .services import EMAIL_TAKEN_MESSAGE


class RegistrationForm(forms.Form):
    """Extend by subclassing (e.g. a newsletter opt-in); `registration_data()` feeds the service."""

    template_name = NEWS_FORM_TEMPLATE  # its own fields, then the newsletter opt-in

    email = forms.EmailField(
        label="Email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        error_messages={
            "required": "Please enter your email address.",
            "invalid": "Please enter a valid email address, like name@example.com.",
        },
    )
    first_name = forms.CharField(
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "given-name"}),
        error_messages={"required": "Please enter your first name."},
    )
    last_name = forms.CharField(
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "family-name"}),
        error_messages={"required": "Please enter your last name."},
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
        error_messages={"required": "Please choose a password."},
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="The same password again, to be sure it is typed as you meant.",
        error_messages={"required": "Please type your password a second time."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        news_fields_add(self, source="registration")  # the newsletter opt-in (subscriptions)

    def clean_email(self) -> str:
        email = normalize_email(self.cleaned_data["email"])
        if user_email_taken(email=email):
            raise forms.ValidationError(EMAIL_TAKEN_MESSAGE, code="email_taken")
        return email

    def clean(self):
        cleaned = super().clean()
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", "The two passwords don't match. Please type them again.")
        elif password1:
            candidate = User(
                email=cleaned.get("email", ""),
                first_name=cleaned.get("first_name", ""),
                last_name=cleaned.get("last_name", ""),
            )
            try:
                password_validation.validate_password(password1, candidate)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned

    def registration_data(self) -> dict:
        """The keyword arguments `user_register` takes from this form."""
        return {
            "email": self.cleaned_data["email"],
            "first_name": self.cleaned_data["first_name"],
            "last_name": self.cleaned_data["last_name"],
            "password": self.cleaned_data["password1"],
        }


class SignInForm(AuthenticationForm):
    error_messages = {
        "invalid_login": (
            "That email address and password don't match an account. "
            "Please check them and try again."
        ),
        "inactive": "This account is closed. Please contact us if that is a mistake.",
    }


class CustomerCreationForm(AdminUserCreationForm):
    """The admin's "add customer" form: email instead of a username."""

    class Meta:
        model = User
        fields = ("email", "first_name", "last_name")


class CustomerChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"
