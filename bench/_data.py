"""What the benchmarks share: a large sphere generated with PostgreSQL ``COPY``, and
its deletion.

Imported by the scripts of this directory (``import _data``: a script's own directory
comes first on ``sys.path``). Django is imported inside the functions, so that a script
can set its environment before ``django.setup()``.
"""

from __future__ import annotations

import datetime as dt
import random
import socket
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spheres.models import Sphere

FIRST_NAMES = [
    "Jean",
    "Marie",
    "Léa",
    "Hugo",
    "Chloé",
    "Lucas",
    "Inès",
    "Nathan",
    "Zoé",
]
LAST_NAMES = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Petit", "Durand"]


def copy_rows(table: str, columns: list[str], rows: Iterable[tuple]) -> None:
    """``COPY table (columns) FROM STDIN``: rows written without one INSERT each."""
    from django.db import connection

    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def copy_groups(sphere: Sphere, count: int) -> list[int]:
    """« Groupe 001 » … in ``sphere``; their ids in order."""
    from spheres.models import Group

    Group.objects.bulk_create(
        Group(sphere=sphere, name=f"Groupe {n:03d}") for n in range(1, count + 1)
    )
    return list(
        Group.objects.filter(sphere=sphere).order_by("pk").values_list("pk", flat=True)
    )


def copy_learners(
    sphere: Sphere, count: int, rng: random.Random, *, prefix: str
) -> list[int]:
    """Active learners ``bench<prefix>000000``…, each with an address and a level; their
    ids in order."""
    from django.utils import timezone

    from spheres.models import Learner

    now = timezone.now()
    columns = [
        "sphere_id", "identifiant", "first_name", "last_name", "email", "level",
        "is_active", "created_at", "updated_at",
    ]  # fmt: skip

    def rows() -> Iterator[tuple]:
        for n in range(count):
            identifiant = f"bench{prefix}{n:06d}"
            yield (
                sphere.pk,
                identifiant,
                rng.choice(FIRST_NAMES),
                rng.choice(LAST_NAMES),
                f"{identifiant}@bench.example",
                rng.randint(0, 100),
                True,
                now,
                now,
            )

    copy_rows(Learner._meta.db_table, columns, rows())
    return list(
        Learner.objects.filter(sphere=sphere)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def copy_memberships(
    learner_ids: list[int], group_ids: list[int], rng: random.Random
) -> int:
    """Each learner in one or two of the groups; the number of memberships."""
    from spheres.models import Membership

    count = 0

    def rows() -> Iterator[tuple]:
        nonlocal count
        for learner_id in learner_ids:
            for group_id in rng.sample(group_ids, rng.randint(1, 2)):
                count += 1
                yield (learner_id, group_id)

    copy_rows(Membership._meta.db_table, ["learner_id", "group_id"], rows())
    return count


def copy_activity(learner_ids: list[int], days: int, rng: random.Random) -> int:
    """One row of minutes per learner and day over the last ``days`` days."""
    from django.utils import timezone

    from spheres.models import DailyActivity

    today = timezone.localdate()
    dates = [today - dt.timedelta(days=d) for d in range(days)]
    minutes = [0, 0, 0, 1, 2, 5, 10, 20, 30, 60]

    def rows() -> Iterator[tuple]:
        for learner_id in learner_ids:
            for date in dates:
                yield (learner_id, date, rng.choice(minutes))

    copy_rows(DailyActivity._meta.db_table, ["learner_id", "date", "minutes"], rows())
    return len(learner_ids) * days


def generate_sphere(
    sphere: Sphere, *, learners: int, groups: int, days: int, rng: random.Random
) -> tuple[list[int], list[int]]:
    """Fill ``sphere``: its groups, its learners in one or two groups each, and their
    activity per day, with progress printed. Returns the group and learner ids."""
    print(
        f"Generating {learners:,} learners in {groups} groups with {days} days of "
        "activity…",
        flush=True,
    )
    group_ids = copy_groups(sphere, groups)
    learner_ids = copy_learners(sphere, learners, rng, prefix="b")
    print(f"  {len(learner_ids):,} learners", flush=True)
    memberships = copy_memberships(learner_ids, group_ids, rng)
    print(f"  {memberships:,} memberships", flush=True)
    activity = copy_activity(learner_ids, days, rng)
    print(f"  {activity:,} activity rows", flush=True)
    return group_ids, learner_ids


def analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def vacuum() -> None:
    """``VACUUM ANALYZE`` and ``CHECKPOINT``. After the generation: the generated rows as a sphere's
    long-standing data is in production (hint bits set, pages all-visible for
    index-only scans, statistics). Autovacuum would get there, but not within a run,
    and it may be off on a benchmark server."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        # And written to disk: otherwise the checkpoint of these hundreds of
        # megabytes comes during the first measures, which then time the disk.
        cursor.execute("CHECKPOINT")


def delete_spheres(spheres: Iterable[Any]) -> None:
    """Delete the benchmark's spheres and everything in them, the big tables first
    with one statement each."""
    from django.db import transaction

    from communications.models import Communication, Delivery, Send
    from spheres.models import DailyActivity, Learner, Membership, Sphere

    print("Deleting the benchmark spheres…", flush=True)
    started = time.perf_counter()
    ids = [s.pk for s in spheres]
    send_ids = list(
        Send.objects.filter(communication__sphere_id__in=ids).values_list(
            "pk", flat=True
        )
    )
    analyze()  # plans for the tables as they are now, not as they were before the run
    with transaction.atomic():
        Delivery.objects.filter(send_id__in=send_ids).delete()
        Send.objects.filter(pk__in=send_ids).delete()
        Communication.objects.filter(sphere_id__in=ids).delete()
        DailyActivity.objects.filter(learner__sphere_id__in=ids).delete()
        Membership.objects.filter(learner__sphere_id__in=ids).delete()
        # One DELETE: what referenced the learners is gone, no need to collect them.
        Learner.objects.filter(sphere_id__in=ids)._raw_delete(Learner.objects.db)
        Sphere.objects.filter(pk__in=ids).delete()
    # The space of the deleted rows made reusable: without it (autovacuum off, or not
    # there yet) each run would add its rows after the last one's, and the tables and
    # indexes the next run measures would grow run after run.
    vacuum()
    print(f"  deleted in {time.perf_counter() - started:.1f} s", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database of ``url`` if it does not exist yet (a benchmark
    runs on a database of its own, never on the application's)."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    if not url.startswith(("postgres://", "postgresql://")):
        return
    params = conninfo_to_dict(url)
    name = params.get("dbname")
    if not name:
        return
    maintenance = make_conninfo(url, dbname="postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            conn.execute(
                sql.SQL("CREATE DATABASE {}").format(sql.Identifier(str(name)))
            )
            print(f"Created the database « {name} ».", flush=True)
