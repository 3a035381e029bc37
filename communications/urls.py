from django.urls import path

from . import views

app_name = "communications"

_base = "spheres/<slug:slug>/communications/"

urlpatterns = [
    # Public: the reminders' one-click unsubscribe link (no login, see the view).
    path("desinscription/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path(_base, views.communication_list, name="list"),
    path(f"{_base}aide/", views.communication_help, name="help"),
    path(f"{_base}nouvelle/", views.communication_choose_kind, name="choose_kind"),
    path(f"{_base}nouvelle/<str:kind>/", views.communication_create, name="create"),
    path(
        f"{_base}destinataires/<str:kind>/",
        views.communication_audience,
        name="audience",
    ),
    path(f"{_base}<int:pk>/", views.communication_detail, name="detail"),
    path(f"{_base}<int:pk>/modifier/", views.communication_edit, name="edit"),
    path(
        f"{_base}<int:pk>/dupliquer/", views.communication_duplicate, name="duplicate"
    ),
    path(
        f"{_base}<int:pk>/desactiver/",
        views.communication_deactivate,
        name="deactivate",
    ),
    path(
        f"{_base}<int:pk>/efficacite/",
        views.communication_effectiveness,
        name="effectiveness",
    ),
    path(f"{_base}<int:pk>/apercu/", views.communication_preview, name="preview"),
    path(f"{_base}<int:pk>/test/", views.communication_send_test, name="send_test"),
    path(
        f"{_base}<int:pk>/changement-horaire/",
        views.communication_schedule_change,
        name="schedule_change",
    ),
    path(
        f"{_base}<int:pk>/envois/<int:send_id>/",
        views.communication_send_detail,
        name="send_detail",
    ),
    path(
        f"{_base}<int:pk>/envois/<int:send_id>/relancer/",
        views.communication_send_retry,
        name="send_retry",
    ),
]
