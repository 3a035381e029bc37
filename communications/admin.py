"""Support staff look across all spheres here. Communications are read-only in the admin:
the only action is « Désactiver » (through the service), and nothing can reactivate.
The encrypted password is never shown, not even encrypted."""

from typing import cast

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.models import User

from .models import Communication, CommunicationEvent, Delivery, Send
from .sending import deliveries_retry_failed
from .services import communication_deactivate


class ReadOnlyMixin:
    """History and communications are never written through the admin: support looks,
    and acts only through the actions (which call services)."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Viewing only: a change form could otherwise post a state.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.is_active and request.user.is_staff


class CommunicationEventInline(ReadOnlyMixin, admin.TabularInline):
    model = CommunicationEvent
    extra = 0
    can_delete = False
    fields = ("at", "action", "actor", "details")
    readonly_fields = fields


@admin.register(Communication)
class CommunicationAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "sphere",
        "kind",
        "state",
        "frequency",
        "next_send_at",
        "created_at",
    )
    list_filter = ("state", "kind", "frequency", "sphere")
    search_fields = ("name", "subject", "sphere__name", "sphere__slug", "reply_to")
    list_select_related = ("sphere",)
    date_hierarchy = "created_at"
    actions = ["deactivate"]
    inlines = [CommunicationEventInline]
    exclude = ("password_token",)
    readonly_fields = ("has_password_display",)

    @admin.display(description=_("mot de passe"), boolean=True)
    def has_password_display(self, obj: Communication) -> bool:
        return obj.has_password

    def get_readonly_fields(
        self, request: HttpRequest, obj: object = None
    ) -> list[str]:
        names = [
            f.name for f in Communication._meta.fields if f.name != "password_token"
        ]
        return [*names, "groups", "has_password_display"]

    def has_deactivate_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    @admin.action(description=_("Désactiver (définitif)"), permissions=["deactivate"])
    def deactivate(
        self, request: HttpRequest, queryset: QuerySet[Communication]
    ) -> None:
        count = 0
        for communication in queryset.exclude(state=Communication.State.DEACTIVATED):
            communication_deactivate(
                communication=communication, actor=cast(User, request.user)
            )
            count += 1
        self.message_user(
            request,
            _("%(count)d communication(s) désactivée(s) définitivement.")
            % {"count": count},
            messages.SUCCESS,
        )


@admin.register(CommunicationEvent)
class CommunicationEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("at", "action", "communication", "actor")
    list_filter = ("action",)
    search_fields = ("communication__name", "actor__email")
    list_select_related = ("communication", "actor")


class DeliveryInline(ReadOnlyMixin, admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    max_num = 0
    fields = (
        "identifiant",
        "email",
        "status",
        "reason",
        "error",
        "attempts",
        "sent_at",
    )
    readonly_fields = fields
    show_change_link = True


@admin.register(Send)
class SendAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "communication",
        "scheduled_for",
        "status",
        "already_received",
        "finished_at",
    )
    list_filter = ("status", "communication__sphere")
    search_fields = ("communication__name", "communication__sphere__name")
    list_select_related = ("communication",)
    date_hierarchy = "scheduled_for"
    # What the send sent (its own copy of the texts); never the password.
    exclude = ("password_token",)
    readonly_fields = (
        "communication",
        "scheduled_for",
        "status",
        "already_received",
        "created_at",
        "finished_at",
        "subject",
        "message",
        "reply_to",
    )


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "identifiant",
        "email",
        "status",
        "reason",
        "attempts",
        "sent_at",
        "send",
    )
    list_filter = ("status", "reason", "send__communication__sphere")
    search_fields = ("identifiant", "email", "last_name", "send__communication__name")
    list_select_related = ("send__communication",)
    actions = ["retry"]

    def get_readonly_fields(
        self, request: HttpRequest, obj: object = None
    ) -> list[str]:
        return [f.name for f in Delivery._meta.fields]

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    @admin.action(
        description=_("Renvoyer les messages en échec"), permissions=["retry"]
    )
    def retry(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        count = deliveries_retry_failed(
            delivery_ids=list(queryset.values_list("pk", flat=True))
        )
        self.message_user(
            request, _("%(count)d message(s) remis en file.") % {"count": count}
        )
