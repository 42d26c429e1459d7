"""Sign-in with throttling per account and per address (costwatch.projects.throttle)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse

from costwatch.projects import throttle


class SignInView(auth_views.LoginView):
    template_name = "frontend/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:  # noqa: ANN401
        account = request.POST.get("username", "").strip().lower()
        address = throttle.client_address(request)
        verdicts = [throttle.check(throttle.LOGIN_ACCOUNT, account), throttle.check(throttle.LOGIN_ADDRESS, address)]
        refused = [v for v in verdicts if not v.allowed]
        if refused:
            # Refused before the password is checked: a right guess after many wrong ones tells nothing.
            wait = max(v.retry_after for v in refused)
            context = self.get_context_data(form=self.get_form(), throttled_minutes=max(1, round(wait / 60)))
            response = self.render_to_response(context, status=429)
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        throttle.record_failure(throttle.LOGIN_ACCOUNT, self.request.POST.get("username", "").strip().lower())
        throttle.record_failure(throttle.LOGIN_ADDRESS, throttle.client_address(self.request))
        return super().form_invalid(form)

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        throttle.clear(throttle.LOGIN_ACCOUNT, self.request.POST.get("username", "").strip().lower())
        return super().form_valid(form)
