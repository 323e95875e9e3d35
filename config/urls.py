from django.contrib import admin
from django.urls import include, path
from django_otp.admin import OTPAdminSite
from drf_spectacular.views import SpectacularAPIView

from apps.common.exceptions import json_error_view, server_error_view
from apps.common.health import healthz, readyz
from apps.common.pages import api_docs, home

# The admin asks for an OTP code at login and refuses sessions that did not pass one.
admin.site.__class__ = OTPAdminSite

api_v1 = [
    path("", include("apps.clips.urls")),
    path("", include("apps.privacy.urls")),
    path("", include("apps.accounts.urls")),
    path("", include("apps.reviews.urls")),
    path("audit/", include("apps.audit.urls")),
]

urlpatterns = [
    path("", home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", api_docs, name="api-docs"),
    path("admin/", admin.site.urls),
    path("audit/", include("apps.console.urls")),
    path("", include("apps.reviews.page_urls")),
    path("", include("apps.accounts.pages")),
]

handler400 = json_error_view("validation_error")
handler403 = json_error_view("permission_denied")
handler404 = json_error_view("not_found")
handler500 = server_error_view
