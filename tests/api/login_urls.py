"""The project's URLs with the browser login behind the failed-login limit, for the tests of
:class:`advisor.api.login_limits.RateLimitedLoginView` (the product wires it in
``advisor/urls.py``)."""

from django.urls import include, path

from advisor.api.login_limits import RateLimitedLoginView

urlpatterns = [
    path(
        "accounts/login/",
        RateLimitedLoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("", include("advisor.urls")),
]
