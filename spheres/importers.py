"""CSV imports of a sphere's learners and of their daily activity.

Both imports follow the same contract:

- The file is UTF-8, with or without a byte order mark; anything else is refused with a
  file-level error. The delimiter is ``,`` or ``;``, whichever the header line uses.
- The first line is the header. Column names are matched ignoring case, accents and
  spaces (« Prénom » is ``prenom``) and may come in any order. An unknown, duplicated or
  missing required column is an error on line 1 and stops the reading there.
- Values are stripped of surrounding spaces. Blank lines, and lines whose fields are all
  empty (spreadsheets export them), are skipped.
- The whole file is checked before anything is written. Every error is reported with its
  line number (the header is line 1), in line order; the first ``MAX_LISTED_ERRORS`` are
  detailed and a last entry counts the others, so that a file that is wrong from top to
  bottom neither exhausts memory nor buries the user. Any error raises ``ImportFailed``
  and nothing is written; otherwise everything is written in one transaction.
- An empty file (no header) is refused; a header without rows is a valid, empty import.
- Writes are bulk upserts (``INSERT … ON CONFLICT``) in chunks of ``WRITE_CHUNK`` rows:
  the number of queries grows with the number of chunks, never with the number of rows.

Learners (``learners_import``), header ``identifiant,prenom,nom,email,groupes,niveau``:

- ``identifiant``, ``prenom`` and ``nom`` are required columns and need a value on
  every row. ``identifiant`` is unique in the file; a learner is matched on it within
  the sphere (upsert): an existing learner is updated, a new one is created. Learners of
  the sphere absent from the file are left as they are.
- ``email``, ``groupes`` and ``niveau`` are optional columns. A column absent from the
  header leaves that field of existing learners untouched (new learners get no e-mail,
  no group, level 0). When the column is present:
  - ``email``: an empty cell means the learner has no e-mail address (it is cleared);
    otherwise the address must pass the platform's address policy
    (``spheres.addresses``: an error with the policy's reason if it refuses it) and is
    stored as the policy writes it (``eleve@exämple.fr`` as ``eleve@xn--exmple-cua.fr``);
  - ``groupes``: group names separated by ``|``, created in the sphere as needed; the
    learner's memberships are REPLACED by the listed groups (an empty cell removes the
    learner from every group);
  - ``niveau``: an integer percentage from 0 to 100 (a trailing ``%`` is accepted);
    an empty cell keeps an existing learner's level (0 for a new learner), since there
    is no such thing as "no level".

Activity (``activity_import``), header ``identifiant,date,minutes``, all three required:
``date`` is ``YYYY-MM-DD``, ``minutes`` an integer from 0 to 1,440 (a day's length); the
learner must exist in the sphere; an (identifiant, date) pair appears once in the file.
A row replaces the minutes already recorded for that learner on that day.

School calendar (``school_calendar_import``), header ``nom,premier_jour,dernier_jour``,
all three required: one school holiday period a row, ``nom`` its name (« Vacances de
l'été austral »), ``premier_jour`` and ``dernier_jour`` its first and last days without
classes, both included, as ``YYYY-MM-DD``; the last day is not before the first; the
periods of the file do not overlap. The file is the sphere's whole imported calendar:
it REPLACES the periods imported before, and the sphere then follows it (``school_zone``
imported), through ``services.sphere_school_calendar_replace``. A header without rows is
refused (it would leave the sphere without school holidays).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import re
import typing
import unicodedata
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice

from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext
from django.utils.translation import ngettext as django_ngettext

from . import services
from .addresses import AddressRefused, address_normalize
from .models import DailyActivity, Group, Learner, Membership, SchoolHoliday, Sphere
from .versions import sphere_data_changed

# Rows per bulk write. Large enough to keep the query count low, small enough that one
# chunk of row tuples stays a few megabytes.
WRITE_CHUNK = 5_000
# Errors detailed in ImportFailed.errors; beyond this, they are only counted.
MAX_LISTED_ERRORS = 1_000
# Progress is reported every this many lines read.
PROGRESS_EVERY = 50_000

MINUTES_PER_DAY = 1_440
LEARNER_COLUMNS = ("identifiant", "prenom", "nom", "email", "groupes", "niveau")
LEARNER_REQUIRED = ("identifiant", "prenom", "nom")
ACTIVITY_COLUMNS = ("identifiant", "date", "minutes")
SCHOOL_CALENDAR_COLUMNS = ("nom", "premier_jour", "dernier_jour")
GROUP_SEPARATOR = "|"

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_LEVEL_RE = re.compile(r"(\d{1,3})\s*%?")
# Activity rows are deduplicated on one int per (learner, day) rather than on tuples,
# which keeps 700,000 keys in tens of megabytes. Any date ordinal is below this.
_DAY_KEY_FACTOR = 4_000_000

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ImportErrorLine:
    """One error found in an import file, ready to show to the user."""

    line: int | None  # 1-based line number (header = 1); None for a file-level error
    message: str  # French, starting with « Ligne N : » when ``line`` is set


class ImportFailed(Exception):
    """The file was refused and nothing was written.

    ``errors`` lists every error found, in line order (see ``MAX_LISTED_ERRORS``);
    ``str(exc)`` is a one-line summary in French.
    """

    def __init__(
        self, errors: list[ImportErrorLine], *, total: int | None = None
    ) -> None:
        self.errors = errors
        self.total = len(errors) if total is None else total
        super().__init__(
            ngettext(
                "Import refusé, rien n'a été enregistré : "
                "%(count)s erreur dans le fichier.",
                "Import refusé, rien n'a été enregistré : "
                "%(count)s erreurs dans le fichier.",
                self.total,
            )
            % {"count": _number(self.total)}
        )


@dataclass(frozen=True)
class ImportReport:
    """What an import wrote.

    ``rows``: data rows of the file. ``created`` / ``updated``: learners (or activity
    rows) that did not exist / already existed, whether or not a value changed.
    ``groups_created``: groups the import created (always 0 for activity).
    """

    rows: int
    created: int
    updated: int
    groups_created: int


def learners_import_summary(report: ImportReport) -> str:
    """« 1 234 apprenants importés : 1 000 créés, 234 mis à jour, 12 groupes créés. »"""
    return gettext("%(rows)s : %(created)s, %(updated)s, %(groups)s.") % {
        "rows": ngettext(
            "%(count)s apprenant importé", "%(count)s apprenants importés", report.rows
        )
        % {"count": _number(report.rows)},
        "created": ngettext("%(count)s créé", "%(count)s créés", report.created)
        % {"count": _number(report.created)},
        "updated": gettext("%(count)s mis à jour") % {"count": _number(report.updated)},
        "groups": ngettext(
            "%(count)s groupe créé", "%(count)s groupes créés", report.groups_created
        )
        % {"count": _number(report.groups_created)},
    }


def activity_import_summary(report: ImportReport) -> str:
    """« 700 000 lignes d'activité importées : 600 000 créées, 0 mise à jour. »"""
    return gettext("%(rows)s : %(created)s, %(updated)s.") % {
        "rows": ngettext(
            "%(count)s ligne d'activité importée",
            "%(count)s lignes d'activité importées",
            report.rows,
        )
        % {"count": _number(report.rows)},
        "created": ngettext("%(count)s créée", "%(count)s créées", report.created)
        % {"count": _number(report.created)},
        "updated": ngettext(
            "%(count)s mise à jour", "%(count)s mises à jour", report.updated
        )
        % {"count": _number(report.updated)},
    }


# --- Learners -------------------------------------------------------------------------


# The columns written by the import, in the order of the tuples given to _bulk_upsert.
_LEARNER_FIELDS = (
    "sphere",
    "identifiant",
    "first_name",
    "last_name",
    "email",
    "level",
    "is_active",
    "created_at",
    "updated_at",
)


class _LearnerRow(typing.NamedTuple):
    identifiant: str
    first_name: str
    last_name: str
    email: str  # "" when the column is absent (then not written) or the cell is empty
    groups: tuple[str, ...]  # () when the column is absent (then not written)
    level: int | None  # None: keep the existing level (0 for a new learner)


def learners_import(
    *, sphere: Sphere, file: typing.BinaryIO, progress: Progress | None = None
) -> ImportReport:
    """Create or update the learners of ``sphere`` listed in a CSV file.

    See the module docstring for the file format and the rules. ``file`` is read from
    its start and left open. ``progress``, if given, receives short French messages as
    the import goes (for a command-line user).
    Raises ``ImportFailed`` on any error in the file; then nothing is written.
    """
    say = progress or _silent
    errors = _Errors()
    rows: list[_LearnerRow] = []
    first_line: dict[str, int] = {}
    max_identifiant = _max_length(Learner, "identifiant")
    max_name = _max_length(Learner, "first_name")
    max_email = _max_length(Learner, "email")
    max_group = _max_length(Group, "name")

    name_labels = (("prenom", gettext("prénom")), ("nom", gettext("nom")))

    say(gettext("Lecture et vérification du fichier…"))
    with _csv_records(
        file, columns=LEARNER_COLUMNS, required=LEARNER_REQUIRED, progress=say
    ) as (columns, records):
        has_email = "email" in columns
        has_groups = "groupes" in columns
        for line, fields in records:
            if len(fields) != len(columns):
                errors.add(line, _wrong_field_count(line, len(fields), len(columns)))
                continue
            value = dict(zip(columns, fields, strict=True))

            identifiant = value["identifiant"]
            if not identifiant:
                errors.add(
                    line,
                    gettext("Ligne %(line)s : identifiant manquant.") % {"line": line},
                )
            elif len(identifiant) > max_identifiant:
                errors.add(
                    line, _too_long(line, gettext("identifiant"), max_identifiant)
                )
            elif identifiant in first_line:
                errors.add(
                    line,
                    gettext(
                        "Ligne %(line)s : l'identifiant « %(value)s » figure déjà "
                        "ligne %(first)s."
                    )
                    % {
                        "line": line,
                        "value": identifiant,
                        "first": first_line[identifiant],
                    },
                )
            else:
                first_line[identifiant] = line

            for column, label in name_labels:
                if not value[column]:
                    errors.add(
                        line,
                        gettext("Ligne %(line)s : %(column)s manquant.")
                        % {"line": line, "column": label},
                    )
                elif len(value[column]) > max_name:
                    errors.add(line, _too_long(line, label, max_name))

            email = value.get("email", "")
            if email:
                # The one address policy: stored as the platform will write it (a
                # Unicode domain in IDNA), or refused with the policy's reason.
                try:
                    email = address_normalize(email)
                except AddressRefused as refused:
                    errors.add(
                        line,
                        # Translators: reason is the address policy's own message,
                        # such as « « jean@ » n'est pas une adresse électronique. »
                        gettext("Ligne %(line)s : %(reason)s")
                        % {"line": line, "reason": refused},
                    )
                else:
                    if len(email) > max_email:
                        errors.add(
                            line,
                            _too_long(line, gettext("adresse électronique"), max_email),
                        )

            groups: tuple[str, ...] = ()
            if value.get("groupes"):
                names = (
                    name.strip() for name in value["groupes"].split(GROUP_SEPARATOR)
                )
                groups = tuple(dict.fromkeys(name for name in names if name))
                for name in groups:
                    if len(name) > max_group:
                        errors.add(
                            line,
                            gettext(
                                "Ligne %(line)s : nom de groupe trop long "
                                "« %(value)s » (%(max)s caractères au plus)."
                            )
                            % {"line": line, "value": name, "max": max_group},
                        )

            level: int | None = None
            if value.get("niveau"):
                match = _LEVEL_RE.fullmatch(value["niveau"])
                level = int(match.group(1)) if match else None
                if level is None or level > 100:
                    errors.add(
                        line,
                        gettext(
                            "Ligne %(line)s : niveau « %(value)s » invalide : "
                            "un nombre entier de 0 à 100 est attendu."
                        )
                        % {"line": line, "value": value["niveau"]},
                    )

            # Once the file is known to be wrong, rows are only checked, not kept.
            if not errors:
                rows.append(
                    _LearnerRow(
                        identifiant, value["prenom"], value["nom"], email, groups, level
                    )
                )
    del first_line
    errors.raise_if_any()
    say(
        ngettext(
            "Fichier valide : %(count)s apprenant. Enregistrement…",
            "Fichier valide : %(count)s apprenants. Enregistrement…",
            len(rows),
        )
        % {"count": _number(len(rows))}
    )

    update_fields: tuple[str, ...] = ("first_name", "last_name", "updated_at")
    if has_email:
        update_fields += ("email",)
    with transaction.atomic():
        before = Learner.objects.filter(sphere=sphere).count()
        group_ids, groups_created = _groups_ensure(
            sphere=sphere, names={name for row in rows for name in row.groups}
        )
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        for done, chunk in _chunks(rows):
            # A row without a level must not overwrite the stored one, so those rows are
            # upserted apart, without "level" among the updated fields.
            for with_level in (True, False):
                _bulk_upsert(
                    Learner,
                    fields=_LEARNER_FIELDS,
                    unique=("sphere", "identifiant"),
                    update=(*update_fields, "level") if with_level else update_fields,
                    rows=[
                        (
                            sphere.pk,
                            row.identifiant,
                            row.first_name,
                            row.last_name,
                            row.email,
                            row.level if with_level else 0,
                            True,
                            now,
                            now,
                        )
                        for row in chunk
                        if (row.level is not None) is with_level
                    ],
                )
            _say_written(say, done, len(rows))
        created = Learner.objects.filter(sphere=sphere).count() - before
        if has_groups and rows:
            say(gettext("Mise à jour des groupes des apprenants…"))
            _memberships_replace(sphere=sphere, rows=rows, group_ids=group_ids)
    sphere_data_changed(sphere_id=sphere.pk)
    return ImportReport(
        rows=len(rows),
        created=created,
        updated=len(rows) - created,
        groups_created=groups_created,
    )


def _groups_ensure(*, sphere: Sphere, names: set[str]) -> tuple[dict[str, int], int]:
    """Create the missing groups among ``names``; return every group's id by name."""
    existing = dict(
        Group.objects.filter(sphere=sphere).order_by().values_list("name", "id")
    )
    missing = sorted(names - existing.keys())
    if not missing:
        return existing, 0
    # ignore_conflicts: a group created meanwhile by someone else is simply reused.
    Group.objects.bulk_create(
        (Group(sphere=sphere, name=name) for name in missing), ignore_conflicts=True
    )
    return dict(
        Group.objects.filter(sphere=sphere).order_by().values_list("name", "id")
    ), len(missing)


def _memberships_replace(
    *, sphere: Sphere, rows: Sequence[_LearnerRow], group_ids: dict[str, int]
) -> None:
    """Make the memberships of the learners in ``rows`` exactly their listed groups.

    Works on the difference with what is stored, so a re-import of the same file writes
    nothing, and the memberships of learners absent from the file stay as they are.
    """
    learner_ids = dict(
        Learner.objects.filter(sphere=sphere)
        .order_by()
        .values_list("identifiant", "id")
    )
    in_file = {learner_ids[row.identifiant] for row in rows}
    wanted = {
        (learner_ids[row.identifiant], group_ids[name])
        for row in rows
        for name in row.groups
    }
    del learner_ids
    stale: list[int] = []
    stored = (
        Membership.objects.filter(learner__sphere=sphere)
        .order_by()
        .values_list("id", "learner_id", "group_id")
        .iterator(chunk_size=WRITE_CHUNK)
    )
    for membership_id, learner_id, group_id in stored:
        if learner_id in in_file and not _discard(wanted, (learner_id, group_id)):
            stale.append(membership_id)
    for _done, ids in _chunks(stale, size=_max_in_size()):
        Membership.objects.filter(id__in=ids).delete()
    # No update on conflict: a membership added meanwhile by someone else is the same.
    for _done, pairs in _chunks(sorted(wanted)):
        _bulk_upsert(
            Membership,
            fields=("learner", "group"),
            unique=("learner", "group"),
            rows=pairs,
        )


def _discard(items: set[tuple[int, int]], item: tuple[int, int]) -> bool:
    """Remove ``item`` from ``items``; tell whether it was there."""
    try:
        items.remove(item)
    except KeyError:
        return False
    return True


# --- Activity -------------------------------------------------------------------------


def activity_import(
    *, sphere: Sphere, file: typing.BinaryIO, progress: Progress | None = None
) -> ImportReport:
    """Record the daily minutes of learners of ``sphere`` from a CSV file.

    See the module docstring for the file format and the rules. ``file`` is read from
    its start and left open. ``progress``, if given, receives short French messages as
    the import goes. A row replaces that learner's minutes for that day.
    Raises ``ImportFailed`` on any error in the file; then nothing is written.
    """
    say = progress or _silent
    errors = _Errors()
    learner_ids = dict(
        Learner.objects.filter(sphere=sphere)
        .order_by()
        .values_list("identifiant", "id")
    )
    # (learner, day) key -> line of first appearance; insertion order is file order and
    # ``minutes`` follows it, so no other per-row structure is kept.
    first_line: dict[int, int] = {}
    minutes = array("q")
    first_day = last_day = 0

    say(gettext("Lecture et vérification du fichier…"))
    with _csv_records(
        file, columns=ACTIVITY_COLUMNS, required=ACTIVITY_COLUMNS, progress=say
    ) as (columns, records):
        position = {name: columns.index(name) for name in ACTIVITY_COLUMNS}
        for line, fields in records:
            if len(fields) != len(columns):
                errors.add(line, _wrong_field_count(line, len(fields), len(columns)))
                continue
            identifiant = fields[position["identifiant"]]
            raw_date = fields[position["date"]]
            raw_minutes = fields[position["minutes"]]

            learner_id = learner_ids.get(identifiant)
            if not identifiant:
                errors.add(
                    line,
                    gettext("Ligne %(line)s : identifiant manquant.") % {"line": line},
                )
            elif learner_id is None:
                errors.add(
                    line,
                    gettext(
                        "Ligne %(line)s : aucun apprenant d'identifiant « %(value)s » "
                        "dans cette sphère."
                    )
                    % {"line": line, "value": identifiant},
                )

            day = _parse_date(raw_date)
            if day is None:
                errors.add(
                    line,
                    gettext(
                        "Ligne %(line)s : date « %(value)s » invalide : "
                        "le format attendu est AAAA-MM-JJ (ex. : 2026-12-07)."
                    )
                    % {"line": line, "value": raw_date},
                )

            spent = _parse_minutes(raw_minutes)
            if spent is None:
                errors.add(
                    line,
                    gettext(
                        "Ligne %(line)s : minutes « %(value)s » invalides : "
                        "un nombre entier de 0 à %(max)s est attendu."
                    )
                    % {
                        "line": line,
                        "value": raw_minutes,
                        "max": _number(MINUTES_PER_DAY),
                    },
                )

            if learner_id is None or day is None:
                continue
            ordinal = day.toordinal()
            key = learner_id * _DAY_KEY_FACTOR + ordinal
            if key in first_line:
                errors.add(
                    line,
                    gettext(
                        "Ligne %(line)s : l'activité de « %(value)s » le %(date)s "
                        "figure déjà ligne %(first)s."
                    )
                    % {
                        "line": line,
                        "value": identifiant,
                        "date": raw_date,
                        "first": first_line[key],
                    },
                )
                continue
            first_line[key] = line
            if spent is not None and not errors:
                minutes.append(spent)
                first_day = min(first_day or ordinal, ordinal)
                last_day = max(last_day, ordinal)
    del learner_ids
    errors.raise_if_any()
    total = len(minutes)
    say(
        ngettext(
            "Fichier valide : %(count)s ligne d'activité. Enregistrement…",
            "Fichier valide : %(count)s lignes d'activité. Enregistrement…",
            total,
        )
        % {"count": _number(total)}
    )
    if not total:
        return ImportReport(rows=0, created=0, updated=0, groups_created=0)

    in_file = DailyActivity.objects.filter(
        learner__sphere=sphere,
        date__gte=dt.date.fromordinal(first_day),
        date__lte=dt.date.fromordinal(last_day),
    )
    with transaction.atomic():
        before = in_file.count()
        days: dict[int, typing.Any] = {}  # ordinal -> date as the database takes it
        for done, chunk in _chunks(zip(first_line, minutes, strict=True)):
            rows = []
            for key, spent in chunk:
                learner_id, ordinal = divmod(key, _DAY_KEY_FACTOR)
                if ordinal not in days:
                    days[ordinal] = connection.ops.adapt_datefield_value(
                        dt.date.fromordinal(ordinal)
                    )
                rows.append((learner_id, days[ordinal], spent))
            _bulk_upsert(
                DailyActivity,
                fields=("learner", "date", "minutes"),
                unique=("learner", "date"),
                update=("minutes",),
                rows=rows,
            )
            _say_written(say, done, total)
        created = in_file.count() - before
    sphere_data_changed(sphere_id=sphere.pk)
    return ImportReport(
        rows=total, created=created, updated=total - created, groups_created=0
    )


# --- School calendar ------------------------------------------------------------------


def school_calendar_import(
    *, sphere: Sphere, file: typing.BinaryIO, progress: Progress | None = None
) -> services.SchoolCalendarReplaced:
    """Replace the imported school holidays of ``sphere`` by the periods of a CSV file,
    and have the sphere follow them.

    See the module docstring for the file format and the rules. ``file`` is read from
    its start and left open. Raises ``ImportFailed`` on any error in the file; then
    nothing is written (the previous periods and the sphere's zone stay).
    """
    say = progress or _silent
    errors: list[ImportErrorLine] = []
    periods: list[tuple[int, services.SchoolPeriod]] = []  # (line, period)
    max_name = _max_length(SchoolHoliday, "name")
    day_labels = (
        ("premier_jour", gettext("premier jour")),
        ("dernier_jour", gettext("dernier jour")),
    )

    def add(line: int, message: str) -> None:
        errors.append(ImportErrorLine(line=line, message=message))

    say(gettext("Lecture et vérification du fichier…"))
    with _csv_records(
        file,
        columns=SCHOOL_CALENDAR_COLUMNS,
        required=SCHOOL_CALENDAR_COLUMNS,
        progress=say,
    ) as (columns, records):
        for line, fields in records:
            if len(fields) != len(columns):
                add(line, _wrong_field_count(line, len(fields), len(columns)))
                continue
            value = dict(zip(columns, fields, strict=True))
            name = value["nom"]
            if not name:
                add(
                    line,
                    gettext("Ligne %(line)s : %(column)s manquant.")
                    % {"line": line, "column": gettext("nom")},
                )
            elif len(name) > max_name:
                add(line, _too_long(line, gettext("nom"), max_name))
            days: list[dt.date] = []
            for column, label in day_labels:
                day = _parse_date(value[column])
                if day is None:
                    add(
                        line,
                        gettext(
                            "Ligne %(line)s : %(column)s « %(value)s » invalide : "
                            "le format attendu est AAAA-MM-JJ (ex. : 2026-12-19)."
                        )
                        % {"line": line, "column": label, "value": value[column]},
                    )
                else:
                    days.append(day)
            if len(days) != 2:
                continue
            first_day, last_day = days
            if last_day < first_day:
                add(
                    line,
                    gettext(
                        "Ligne %(line)s : le dernier jour (%(last)s) précède le "
                        "premier jour (%(first)s)."
                    )
                    % {
                        "line": line,
                        "last": value["dernier_jour"],
                        "first": value["premier_jour"],
                    },
                )
                continue
            periods.append((line, services.SchoolPeriod(name, first_day, last_day)))
    errors.extend(_overlaps(periods))
    if not errors and not periods:
        raise ImportFailed(
            [
                ImportErrorLine(
                    line=None,
                    message=gettext(
                        "Le fichier ne contient aucune période : après l'en-tête, "
                        "une ligne par période de vacances est attendue."
                    ),
                )
            ]
        )
    collected = _Errors()
    for error in sorted(errors, key=lambda error: error.line or 0):
        collected.add(error.line, error.message)
    collected.raise_if_any()
    say(
        ngettext(
            "Fichier valide : %(count)s période. Enregistrement…",
            "Fichier valide : %(count)s périodes. Enregistrement…",
            len(periods),
        )
        % {"count": _number(len(periods))}
    )
    return services.sphere_school_calendar_replace(
        sphere=sphere, periods=[period for _line, period in periods]
    )


def _overlaps(
    periods: list[tuple[int, services.SchoolPeriod]],
) -> list[ImportErrorLine]:
    """An error for each period that starts before the end of one that starts before
    it (or on the same day, earlier in the file), naming that one's line."""
    errors = []
    latest: tuple[int, services.SchoolPeriod] | None = None
    for line, period in sorted(periods, key=lambda p: (p[1].first_day, p[0])):
        if latest is not None and period.first_day <= latest[1].last_day:
            other_line, other = latest
            errors.append(
                ImportErrorLine(
                    line=line,
                    message=gettext(
                        "Ligne %(line)s : la période « %(name)s » chevauche celle de "
                        "la ligne %(other_line)s (« %(other)s », du %(first)s au "
                        "%(last)s)."
                    )
                    % {
                        "line": line,
                        "name": period.name,
                        "other_line": other_line,
                        "other": other.name,
                        "first": other.first_day.isoformat(),
                        "last": other.last_day.isoformat(),
                    },
                )
            )
        if latest is None or period.last_day > latest[1].last_day:
            latest = (line, period)
    return errors


def school_calendar_import_summary(
    report: services.SchoolCalendarReplaced, *, sphere: Sphere
) -> str:
    """« 6 périodes de vacances importées pour « Lycée X » (du samedi 10 octobre 2026
    au dimanche 15 août 2027) ; 5 périodes précédentes remplacées. », then, when the
    sphere followed something else before, the line that tells the change of zone."""
    from .dates import long_date
    from .models import SchoolZone

    text = gettext(
        "%(periods)s pour « %(sphere)s » (du %(first)s au %(last)s) ; %(removed)s."
    ) % {
        "periods": ngettext(
            "%(count)s période de vacances importée",
            "%(count)s périodes de vacances importées",
            report.periods,
        )
        % {"count": _number(report.periods)},
        "sphere": sphere.name,
        "first": long_date(report.first_day) if report.first_day else "",
        "last": long_date(report.last_day) if report.last_day else "",
        "removed": ngettext(
            "%(count)s période précédente remplacée",
            "%(count)s périodes précédentes remplacées",
            report.removed,
        )
        % {"count": _number(report.removed)},
    }
    if report.previous_zone != SchoolZone.IMPORTED:
        text += "\n" + gettext(
            "Vacances scolaires de la sphère : « %(before)s » remplacé par "
            "« %(after)s »."
        ) % {
            "before": SchoolZone(report.previous_zone).label,
            "after": SchoolZone.IMPORTED.label,
        }
    return text


# An activity file repeats the same few dates over and over.
@functools.lru_cache(maxsize=4_096)
def _parse_date(value: str) -> dt.date | None:
    # fromisoformat alone would also take "20261207" or week dates: insist on one.
    if not _DATE_RE.fullmatch(value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _parse_minutes(value: str) -> int | None:
    # isdigit() alone would accept non-ASCII digits and superscripts.
    if not (value.isascii() and value.isdigit()):
        return None
    spent = int(value)
    return spent if spent <= MINUTES_PER_DAY else None


# --- Reading CSV ----------------------------------------------------------------------


class _Errors:
    """Collects row errors in line order, detailing at most ``MAX_LISTED_ERRORS``."""

    def __init__(self) -> None:
        self.listed: list[ImportErrorLine] = []
        self.total = 0

    def __len__(self) -> int:
        return self.total

    def add(self, line: int | None, message: str) -> None:
        self.total += 1
        if len(self.listed) < MAX_LISTED_ERRORS:
            self.listed.append(ImportErrorLine(line=line, message=message))

    def raise_if_any(self) -> None:
        if not self.total:
            return
        errors = list(self.listed)
        if self.total > len(errors):
            others = self.total - len(errors)
            errors.append(
                ImportErrorLine(
                    line=None,
                    message=ngettext(
                        "… et %(count)s autre erreur, non détaillée.",
                        "… et %(count)s autres erreurs, non détaillées.",
                        others,
                    )
                    % {"count": _number(others)},
                )
            )
        raise ImportFailed(errors, total=self.total)


@contextmanager
def _csv_records(
    file: typing.BinaryIO,
    *,
    columns: Sequence[str],
    required: Sequence[str],
    progress: Progress,
) -> Iterator[tuple[list[str], Iterator[tuple[int, list[str]]]]]:
    """Open ``file`` as CSV: yield its column names and an iterator of its data rows.

    Header problems raise ``ImportFailed`` at once. Rows come as ``(line, fields)`` with
    stripped fields, blank rows skipped. A file that is not UTF-8 or not readable as CSV
    raises ``ImportFailed`` from the iterator.
    """
    if file.seekable():
        file.seek(0)
    # utf-8-sig drops a byte order mark; newline="" is what the csv module expects.
    text = io.TextIOWrapper(
        typing.cast(typing.IO[bytes], file), encoding="utf-8-sig", newline=""
    )
    try:
        try:
            header_line = text.readline()
        except UnicodeDecodeError:
            raise ImportFailed([_not_utf8()]) from None
        if not header_line.strip():
            raise ImportFailed(
                [
                    ImportErrorLine(
                        line=None if not header_line else 1,
                        message=gettext(
                            "Le fichier est vide : sa première ligne doit être "
                            "l'en-tête (%(columns)s)."
                        )
                        % {"columns": ",".join(columns)},
                    )
                ]
            )
        delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
        header = [
            _column_key(name)
            for name in next(csv.reader([header_line], delimiter=delimiter))
        ]
        _check_header(header, columns=columns, required=required)
        yield header, _rows(csv.reader(text, delimiter=delimiter), progress)
    finally:
        # Give the caller's file back open: closing the wrapper would close it.
        text.detach()


def _rows(reader: typing.Any, progress: Progress) -> Iterator[tuple[int, list[str]]]:
    last_line = 1  # the header, read apart
    read = 0
    while True:
        line = last_line + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError:
            raise ImportFailed([_not_utf8()]) from None
        except csv.Error:
            raise ImportFailed(
                [
                    ImportErrorLine(
                        line=line,
                        message=gettext(
                            "Ligne %(line)s : le fichier n'est pas un CSV lisible "
                            "(guillemet non fermé ou caractère invalide)."
                        )
                        % {"line": line},
                    )
                ]
            ) from None
        # A quoted value may span lines: the row starts at ``line``.
        last_line = reader.line_num + 1
        read += 1
        if not read % PROGRESS_EVERY:
            progress(gettext("%(count)s lignes lues…") % {"count": _number(read)})
        fields = [field.strip() for field in fields]
        if any(fields):
            yield line, fields


def _column_key(name: str) -> str:
    """« Prénom » → ``prenom``: no accents, no spaces, lower case."""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(
        c for c in decomposed if not unicodedata.combining(c) and not c.isspace()
    ).lower()


def _check_header(
    header: list[str], *, columns: Sequence[str], required: Sequence[str]
) -> None:
    errors: list[ImportErrorLine] = []
    expected = ", ".join(columns)
    seen: set[str] = set()
    for position, name in enumerate(header, start=1):
        if not name:
            message = gettext(
                "Ligne 1 : la colonne n° %(position)s n'a pas de nom "
                "(colonnes possibles : %(columns)s)."
            ) % {"position": position, "columns": expected}
        elif name not in columns:
            message = gettext(
                "Ligne 1 : colonne inconnue « %(name)s » (colonnes possibles : "
                "%(columns)s ; la première ligne doit être l'en-tête)."
            ) % {"name": name, "columns": expected}
        elif name in seen:
            message = gettext("Ligne 1 : la colonne « %(name)s » figure deux fois.") % {
                "name": name
            }
        else:
            seen.add(name)
            continue
        errors.append(ImportErrorLine(line=1, message=message))
    for name in required:
        if name not in seen:
            errors.append(
                ImportErrorLine(
                    line=1,
                    message=gettext(
                        "Ligne 1 : la colonne obligatoire « %(name)s » est absente de "
                        "l'en-tête."
                    )
                    % {"name": name},
                )
            )
    if errors:
        raise ImportFailed(errors)


def _not_utf8() -> ImportErrorLine:
    return ImportErrorLine(
        line=None,
        message=gettext(
            "Le fichier n'est pas encodé en UTF-8. Dans votre tableur, enregistrez-le "
            "au format « CSV UTF-8 » puis réessayez."
        ),
    )


def _wrong_field_count(line: int, found: int, expected: int) -> str:
    return gettext(
        "Ligne %(line)s : %(found)s champs au lieu de %(expected)s (vérifiez les "
        "séparateurs et les guillemets)."
    ) % {"line": line, "found": found, "expected": expected}


def _too_long(line: int, label: str, max_length: int | None) -> str:
    return gettext(
        "Ligne %(line)s : %(column)s trop long (%(max)s caractères au plus)."
    ) % {"line": line, "column": label, "max": max_length}


# --- Helpers --------------------------------------------------------------------------

_T = typing.TypeVar("_T")


def _chunks(
    items: Iterable[_T], size: int = WRITE_CHUNK
) -> Iterator[tuple[int, list[_T]]]:
    """Yield ``(items done so far, chunk)`` slices of ``items``."""
    iterator = iter(items)
    done = 0
    while chunk := list(islice(iterator, size)):
        done += len(chunk)
        yield done, chunk


def _bulk_upsert(
    model: type[models.Model],
    *,
    fields: Sequence[str],
    unique: Sequence[str],
    update: Sequence[str] = (),
    rows: Sequence[Sequence[typing.Any]],
) -> None:
    """Insert ``rows`` into ``model``'s table; on a ``unique`` conflict, set ``update``.

    The statement ``bulk_create(update_conflicts=True)`` (or ``ignore_conflicts`` when
    ``update`` is empty) would run, without building and compiling one model instance
    per row, which costs tens of microseconds a row: most of an import's time at
    700,000 rows. So nothing runs on the model's side: ``rows`` hold database-ready
    values (see ``connection.ops.adapt_*``) for ``fields``, in order, including
    ``auto_now`` fields and defaults. One statement for all rows: on PostgreSQL as one
    array per column through UNNEST (as Django does), elsewhere (SQLite) as one
    prepared statement run for each row.
    """
    if not rows:
        return
    quote = connection.ops.quote_name
    columns = [_column(model, name) for name in fields]
    conflict = ", ".join(quote(_column(model, name).column) for name in unique)
    if update:
        assignments = ", ".join(
            f"{quote(column)} = EXCLUDED.{quote(column)}"
            for column in (_column(model, name).column for name in update)
        )
        action = f"DO UPDATE SET {assignments}"
    else:
        action = "DO NOTHING"
    # Only names from the model's metadata, quoted, enter the SQL; values are params.
    names = ", ".join(quote(field.column) for field in columns)
    into = f"INSERT INTO {quote(model._meta.db_table)} ({names})"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Array types without their length (varchar[]), as Django's own UNNEST does.
            arrays = ", ".join(
                f"%s::{str(field.db_type(connection)).split('(')[0]}[]"
                for field in columns
            )
            cursor.execute(
                f"{into} SELECT * FROM UNNEST({arrays}) "  # noqa: S608
                f"ON CONFLICT ({conflict}) {action}",
                [list(values) for values in zip(*rows, strict=True)],
            )
        else:
            placeholders = ", ".join(["%s"] * len(columns))
            cursor.executemany(
                f"{into} VALUES ({placeholders}) ON CONFLICT ({conflict}) {action}",
                rows,
            )


class _Column(typing.Protocol):
    column: str

    def db_type(self, connection: typing.Any) -> str | None: ...


def _column(model: type[models.Model], name: str) -> _Column:
    """The concrete field ``name`` of ``model``, which has a column."""
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field) or not field.column:
        raise TypeError(f"{model.__name__}.{name} has no column")
    return typing.cast(_Column, field)


def _max_length(model: type[models.Model], name: str) -> int:
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field) or not field.max_length:
        raise TypeError(f"{model.__name__}.{name} has no max_length")
    return int(field.max_length)


def _max_in_size() -> int:
    # SQLite refuses more than max_query_params variables in one statement.
    return min(WRITE_CHUNK, connection.features.max_query_params or WRITE_CHUNK)


def _say_written(say: Progress, done: int, total: int) -> None:
    # Chunks are WRITE_CHUNK rows; tell every PROGRESS_EVERY rows, and at the end.
    if done % PROGRESS_EVERY < WRITE_CHUNK or done == total:
        say(
            gettext("%(done)s / %(total)s enregistrés…")
            % {"done": _number(done), "total": _number(total)}
        )


def _number(value: int) -> str:
    """An integer grouped the French way (« 1 234 ») in the active language."""
    return number_format(value, force_grouping=True)


def ngettext(singular: str, plural: str, count: int) -> str:
    """``ngettext``, whose fallback for an untranslated message follows French.

    The source strings are French, where 0 takes the singular (« 0 groupe créé »);
    ``ngettext`` without a catalog applies the English rule instead. Named ``ngettext``
    so that ``makemessages`` extracts the messages passed to it.
    """
    translated = django_ngettext(singular, plural, count)
    if translated in (singular, plural):
        return singular if count < 2 else plural
    return translated


def _silent(message: str) -> None:
    return None
