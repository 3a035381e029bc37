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
if settings.ANYMAIL.get("WEBHOOK_SECRET") and settings.ANYMAIL_ESP:
    # The tracking webhook (bounces, complaints) of the ESP in use, behind HTTP basic
    # auth: never mounted without a secret, or anyone could mark addresses as
    # undeliverable. The other ESPs' webhooks are not mounted: unconfigured, they
    # would answer errors.
    from anymail import urls as anymail_urls

    webhook = f"{settings.ANYMAIL_ESP}_tracking_webhook"
    urlpatterns.append(
        path(
            "anymail/",
            include(
                (
                    [p for p in anymail_urls.urlpatterns if p.name == webhook],
                    "anymail",
                )
            ),
        )
    )
