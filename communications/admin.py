"""Communications in the support back office (see ``spheres/admin.py`` for the rules:
model permissions only, read-only for everyone, lists that never count a large table).

Support acts through two actions only, each behind a permission of its own, each
calling a service that records it in the audit trail (``CommunicationEvent``, with the
actor, the origin « admin » and the rows): « Désactiver » (for good: nothing can
reactivate) and « Renvoyer les messages en échec » (the selected rows only). The audit
trail itself can be neither changed nor deleted, by anyone (and the database refuses it
too). The encrypted password is never shown, not even encrypted."""

from typing import cast

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.models import User
from spheres.admin import ReadOnlyInline, SupportAdmin
from spheres.models import Sphere

from .models import Communication, CommunicationEvent, Delivery, Send
from .sending import deliveries_retry_failed
from .services import communication_deactivate


def _staff(request: HttpRequest) -> User:
    # The admin site lets in active staff accounts only, never an anonymous visitor.
    return cast(User, request.user)


class CommunicationEventInline(ReadOnlyInline):
    model = CommunicationEvent
    fields = ("at", "action", "actor", "details")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[CommunicationEvent]:
        return super().get_queryset(request).select_related("actor")


@admin.register(Communication)
class CommunicationAdmin(SupportAdmin):
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
    actions = ("deactivate",)
    inlines = (CommunicationEventInline,)
    exclude = ("password_token",)

    def get_readonly_fields(
        self, request: HttpRequest, obj: object = None
    ) -> list[str]:
        # The state and schedule too (not editable fields, shown all the same).
        names = [
            f.name for f in Communication._meta.fields if f.name != "password_token"
        ]
        return [*names, "groups", "has_password_display"]

    @admin.display(description=_("mot de passe"), boolean=True)
    def has_password_display(self, obj: Communication) -> bool:
        return obj.has_password

    def has_deactivate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("communications.deactivate_communication")

    @admin.action(description=_("Désactiver (définitif)"), permissions=["deactivate"])
    def deactivate(
        self, request: HttpRequest, queryset: QuerySet[Communication]
    ) -> None:
        count = 0
        for communication in queryset.exclude(state=Communication.State.DEACTIVATED):
            communication_deactivate(
                communication=communication,
                actor=_staff(request),
                origin=CommunicationEvent.Origin.ADMIN,
            )
            count += 1
        self.message_user(
            request,
            _("%(count)d communication(s) désactivée(s) définitivement.")
            % {"count": count},
            messages.SUCCESS,
        )


@admin.register(CommunicationEvent)
class CommunicationEventAdmin(SupportAdmin):
    """The audit trail: append-only (a database trigger refuses any change)."""

    list_display = (
        "at",
        "action",
        "communication",
        "sphere",
        "actor",
        "details",
    )
    list_filter = ("action", "communication__sphere")
    search_fields = ("communication__name", "=actor__email")
    search_help_text = _("Nom de la communication, ou adresse complète de l'auteur.")
    list_select_related = ("communication__sphere", "actor")

    @admin.display(description=_("sphère"))
    def sphere(self, obj: CommunicationEvent) -> Sphere:
        return obj.communication.sphere

    def get_readonly_fields(
        self, request: HttpRequest, obj: object = None
    ) -> list[str]:
        return ["communication", "action", "actor", "at", "details"]


@admin.register(Send)
class SendAdmin(SupportAdmin):
    list_display = (
        "communication",
        "sphere",
        "scheduled_for",
        "status",
        "already_received",
        "finished_at",
    )
    list_filter = ("status", "communication__sphere")
    search_fields = ("communication__name",)
    list_select_related = ("communication__sphere",)
    # Newest first by the primary key: a send a day for every reminder makes a big
    # table, and sorting by the scheduled time (or a column) would sort all of it.
    ordering = ("-pk",)
    sortable_by = ()
    # What the send sent (its own copy of the texts); never the password.
    exclude = ("password_token",)
    readonly_fields = ("created_at", "deliveries_link")

    @admin.display(description=_("sphère"))
    def sphere(self, obj: Send) -> Sphere:
        return obj.communication.sphere

    @admin.display(description=_("messages"))
    def deliveries_link(self, obj: Send) -> str:
        url = reverse("admin:communications_delivery_changelist")
        return format_html(
            '<a href="{}?send__id__exact={}">{}</a>',
            url,
            obj.pk,
            _("Voir les messages de cet envoi"),
        )


@admin.register(Delivery)
class DeliveryAdmin(SupportAdmin):
    list_display = (
        "identifiant",
        "email",
        "status",
        "reason",
        "attempts",
        "sent_at",
        "send",
        "sphere",
    )
    list_filter = ("status", "reason", "send__communication__sphere")
    # Through the learner (its indexes): the message rows have none for this, and
    # each index there is one more write per outcome.
    search_fields = ("^learner__identifiant", "^learner__email", "^learner__last_name")
    search_help_text = _(
        "Début de l'identifiant, de l'adresse ou du nom de l'apprenant destinataire."
    )
    list_select_related = ("send__communication__sphere",)
    # Newest first by the primary key (« Échec »: a partial index of failed rows), and
    # no sorting by a column: a click would sort millions of rows.
    ordering = ("-pk",)
    sortable_by = ()
    actions = ("retry",)

    @admin.display(description=_("sphère"))
    def sphere(self, obj: Delivery) -> Sphere:
        return obj.send.communication.sphere

    def get_readonly_fields(
        self, request: HttpRequest, obj: object = None
    ) -> list[str]:
        return [f.name for f in Delivery._meta.fields if f.name != "claim"]

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("communications.retry_delivery")

    @admin.action(
        description=_("Renvoyer les messages en échec"), permissions=["retry"]
    )
    def retry(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        """The selected rows only (``queryset`` is the selection); of those, the failed
        ones of a communication not deactivated. Recorded in the audit trail."""
        selected = list(queryset.values_list("pk", flat=True))
        count = deliveries_retry_failed(
            delivery_ids=selected,
            actor=_staff(request),
            origin=CommunicationEvent.Origin.ADMIN,
        )
        self.message_user(
            request,
            ngettext(
                "%(count)d message en échec remis en file sur %(selected)d "
                "sélectionné(s).",
                "%(count)d messages en échec remis en file sur %(selected)d "
                "sélectionné(s).",
                count,
            )
            % {"count": count, "selected": len(selected)},
            messages.SUCCESS if count else messages.WARNING,
        )
