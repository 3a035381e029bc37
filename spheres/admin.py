"""The support back office: every sphere's data in the Django admin, read-only.

Who sees what is Django's model permissions and nothing else: the « Support » group
(migration ``communications.support_group``) has the view permissions and the two
actions' permissions; a superuser has them all; ``is_staff`` alone grants nothing (an
empty admin index, 403 on every page). Nobody adds, changes or deletes through these
pages, not even a superuser: writes go through the services (the admin actions call
them, and they record what they did in the audit trail), imports and ops commands.

Lists stay fast on large tables (100,000 learners, millions of messages and activity
rows): related rows joined in the list query, no full count (``CappedCountPaginator``),
searches by the start of a word that indexes serve, and no select of every row of a
large table (the forms are read-only; the group filter lists one sphere's groups).
"""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from voltaire_comms.pagination import CappedCountPaginator

from .models import (
    DailyActivity,
    Evaluation,
    EvaluationWindow,
    Group,
    Learner,
    LearnerErasure,
    SchoolHoliday,
    Sphere,
    UndeliverableAddress,
)


class ReadOnlyAdminMixin:
    """Viewing only, for everyone: the view permission decides who sees (Django's
    default), and no form can post a change, an addition or a deletion."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class SupportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """A read-only list that never counts a whole large table."""

    paginator = CappedCountPaginator
    show_full_result_count = False
    # Facets count the rows behind every filter choice: as costly as a full count.
    show_facets = admin.ShowFacets.NEVER

    def get_readonly_fields(
        self, request: HttpRequest, obj: object = None
    ) -> list[str]:
        # Every field, many-to-many included, and the extra displays declared.
        opts = self.model._meta
        names = [
            f.name
            for f in (*opts.fields, *opts.many_to_many)
            if f.editable and f.name not in (self.exclude or ())
        ]
        return [*names, *self.readonly_fields]


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0
    max_num = 0
    can_delete = False


class SchoolHolidayInline(ReadOnlyInline):
    """The periods of the sphere's imported calendar (``import_school_calendar``)."""

    model = SchoolHoliday
    fields = ("name", "first_day", "last_day")
    readonly_fields = fields
    verbose_name_plural = _("vacances scolaires importées")


@admin.register(Sphere)
class SphereAdmin(SupportAdmin):
    list_display = (
        "name",
        "slug",
        "timezone",
        "school_zone",
        "holiday_subdivision",
        "created_at",
    )
    list_filter = ("school_zone", "holiday_subdivision")
    search_fields = ("name", "slug", "=administrators__email")
    search_help_text = _(
        "Nom, identifiant court ou adresse complète d'un administrateur."
    )
    readonly_fields = ("created_at",)
    # Every field is shown (read-only), the school calendar's included; the periods
    # of an imported calendar below.
    inlines = (SchoolHolidayInline,)


@admin.register(SchoolHoliday)
class SchoolHolidayAdmin(SupportAdmin):
    """The imported school holiday periods of every sphere; the national zones' are
    not stored (they come with the ``vacances-scolaires-france`` package)."""

    list_display = ("name", "sphere", "first_day", "last_day")
    list_filter = ("sphere",)
    search_fields = ("^sphere__slug", "^sphere__name")
    search_help_text = _("Début du nom ou de l'identifiant court de la sphère.")
    list_select_related = ("sphere",)


class GroupOfSphereFilter(admin.SimpleListFilter):
    """The groups of the sphere chosen in the « sphère » filter: listing every group of
    every sphere would make a page of thousands of links. Shown once a sphere is
    chosen."""

    title = _("groupe")
    parameter_name = "group"
    sphere_parameter = "sphere__id__exact"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin
    ) -> list[tuple[str, str]]:
        sphere = request.GET.get(self.sphere_parameter, "")
        if not sphere.isdigit():
            return []
        return [
            (str(group.pk), group.name)
            for group in Group.objects.filter(sphere_id=int(sphere)).only("name")
        ]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Learner]
    ) -> QuerySet[Learner]:
        value = self.value()
        if value is None or not value.isdigit():
            return queryset
        # (learner, group) is unique: the join adds no duplicate.
        return queryset.filter(memberships__group_id=int(value))


@admin.register(Group)
class GroupAdmin(SupportAdmin):
    list_display = ("name", "sphere")
    list_filter = ("sphere",)
    search_fields = ("name",)
    list_select_related = ("sphere",)


@admin.register(Learner)
class LearnerAdmin(SupportAdmin):
    list_display = (
        "identifiant",
        "first_name",
        "last_name",
        "email",
        "sphere",
        "level",
        "is_active",
    )
    list_filter = ("sphere", GroupOfSphereFilter, "is_active")
    # The start of each word typed, in any case: indexed (spheres migration
    # ``learner_support_search``), across every sphere.
    search_fields = ("^identifiant", "^last_name", "^first_name", "^email")
    search_help_text = _(
        "Début de l'identifiant, du nom, du prénom ou de l'adresse, dans toutes les "
        "sphères."
    )
    list_select_related = ("sphere",)
    readonly_fields = ("created_at", "updated_at")


@admin.register(DailyActivity)
class DailyActivityAdmin(SupportAdmin):
    list_display = ("learner", "sphere", "date", "minutes")
    # No sphere filter: a small sphere's rows would be looked for through the whole
    # table; its learners are found by search (indexed), and the date filter reads the
    # newest rows first.
    list_filter = ("date",)
    search_fields = ("^learner__identifiant", "^learner__email")
    search_help_text = _("Début de l'identifiant ou de l'adresse de l'apprenant.")
    list_select_related = ("learner__sphere",)
    # Newest rows first by the primary key: sorting by date (or by a column, hence
    # none sortable) would sort the whole table.
    ordering = ("-pk",)
    sortable_by = ()

    @admin.display(description=_("sphère"))
    def sphere(self, obj: DailyActivity) -> Sphere:
        return obj.learner.sphere


class EvaluationWindowInline(ReadOnlyInline):
    model = EvaluationWindow
    fields = ("group", "starts_at", "ends_at")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[EvaluationWindow]:
        return super().get_queryset(request).select_related("group")


@admin.register(Evaluation)
class EvaluationAdmin(SupportAdmin):
    list_display = ("name", "sphere", "created_at")
    list_filter = ("sphere",)
    search_fields = ("name",)
    list_select_related = ("sphere",)
    readonly_fields = ("created_at",)
    inlines = (EvaluationWindowInline,)


@admin.register(UndeliverableAddress)
class UndeliverableAddressAdmin(SupportAdmin):
    """Seen only: lifting a mark is the sphere administrator's decision (« Utilisateurs »)
    or follows a new address at import; support has no action here."""

    list_display = ("email", "sphere", "source", "marked_at")
    list_filter = ("source", "sphere")
    search_fields = ("^email",)
    list_select_related = ("sphere",)
    readonly_fields = ("marked_at",)


@admin.register(LearnerErasure)
class LearnerErasureAdmin(SupportAdmin):
    """The record of each learner erased (RGPD): when, by whom, from where, how many
    rows; never who was erased."""

    list_display = ("erased_at", "sphere", "erased_by", "via")
    list_filter = ("via", "sphere")
    list_select_related = ("sphere", "erased_by")
    readonly_fields = ("erased_at",)
