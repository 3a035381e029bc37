from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("accounts.urls")),
    path("", include("communications.urls")),
    path("", include("spheres.urls")),
]
if settings.ANYMAIL.get("WEBHOOK_SECRET"):
    # The ESP's tracking webhooks (bounces, complaints), behind HTTP basic auth: never
    # mounted without a secret, or anyone could mark addresses as undeliverable.
    urlpatterns.append(path("anymail/", include("anymail.urls")))
