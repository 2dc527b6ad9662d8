"""Registration, sign-in, sign-out and the customer's account page."""
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from shop.checkout.selectors import order_list_for_user
from subscriptions.models import Source
from subscriptions.views import news_opt_in_save, news_outcome_announce

from .forms import RegistrationForm, SignInForm
from .services import user_register


def safe_next_url(request) -> str | None:
    next_url = request.POST.get("next") or request.GET.get("next")
    if next_url and url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return next_url
    return None


def register(request, form_class=RegistrationForm):
    if request.user.is_authenticated:
        return redirect("accounts:account")
    if request.method == "POST":
        form = form_class(request.POST)
        if form.is_valid():
            try:
                # One transaction for the account and anything that must stand or fall
                # with it (a newsletter opt-in ticked on this form, say): add those calls here.
                with transaction.atomic():
                    user = user_register(**form.registration_data())
                    news = news_opt_in_save(request, form, email=user.email, user=user,
                                            source=Source.REGISTRATION)
            except ValidationError as error:
                form.add_error("email", error)
            else:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                messages.success(request, f"Welcome, {user.first_name}! Your account is ready.")
                news_outcome_announce(request, news)
                return redirect(safe_next_url(request) or "accounts:account")
    else:
        form = form_class()
    return render(
        request, "accounts/register.html", {"form": form, "next": safe_next_url(request) or ""}
    )


class SignInView(auth_views.LoginView):
    form_class = SignInForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, "You're signed in.")
        return response


class SignOutView(auth_views.LogoutView):
    """POST only (Django's LogoutView refuses GET), so a link elsewhere can't sign you out."""

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        messages.success(request, "You're signed out. See you soon.")
        return response


@login_required
def account(request):
    orders = order_list_for_user(user=request.user)
    return render(request, "accounts/account.html", {"orders": orders})
