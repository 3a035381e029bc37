"""Benchmark of the learner and activity CSV imports on the configured database.

    .venv/bin/python bench/bench_import.py [--learners 100000] [--groups 200] [--days 7]

Runs against DATABASE_URL (or the default SQLite file under VAR_DIR), after a quiet
``migrate``. It writes the CSV files into a temporary directory, creates a fresh sphere
(``bench-<timestamp>``), imports the learners then their activity through the same
services as ``manage.py import_learners`` / ``import_activity``, prints one line per
import (rows, seconds, rows/s, queries, peak memory), and deletes the sphere again so
the database does not grow.

Peak memory is the process's maximum resident set size so far (``ru_maxrss``), so the
activity figure includes whatever the learner import had reached. The targets are
under 60 s and under 300 MB for each import.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
import typing
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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


@dataclass
class Result:
    name: str
    rows: int
    seconds: float
    queries: int
    peak_mb: float


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voltaire_comms.settings.base")
    # Runs without configuration; DEBUG stays off so no query is logged in memory.
    os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")
    if not os.environ.get("FIELD_ENCRYPTION_KEYS"):
        from cryptography.fernet import Fernet

        os.environ["FIELD_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from spheres.importers import activity_import, learners_import
    from spheres.models import Sphere
    from spheres.services import sphere_create

    database = settings.DATABASES["default"]
    print(f"Database: {connection.vendor} {database['NAME']}")
    if settings.DEBUG:
        print("Warning: DEBUG is on; Django keeps every query in memory.")
    print("Migrating…", flush=True)
    call_command("migrate", verbosity=0)

    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        learners_csv = Path(tmp) / "apprenants.csv"
        activity_csv = Path(tmp) / "activite.csv"
        print(
            f"Writing {args.learners:,} learners in {args.groups} groups and "
            f"{args.learners * args.days:,} activity rows into {tmp}…",
            flush=True,
        )
        _write_files(args, learners_csv, activity_csv)
        print(f"Baseline peak memory: {_peak_mb():.0f} MB", flush=True)

        slug = f"bench-{time.strftime('%Y%m%d-%H%M%S')}"
        sphere = sphere_create(name=f"Benchmark {slug}", slug=slug)
        results: list[Result] = []
        try:
            for name, importer, path in (
                ("learners", learners_import, learners_csv),
                ("activity", activity_import, activity_csv),
            ):
                print(f"Importing {name}…", flush=True)
                with path.open("rb") as file, _count_queries(connection) as queries:
                    started = time.perf_counter()
                    report = importer(sphere=sphere, file=file, progress=_progress)
                    seconds = time.perf_counter() - started
                results.append(
                    Result(name, report.rows, seconds, queries(), _peak_mb())
                )
                print(f"  {report}", flush=True)
        finally:
            print(f"Deleting sphere {slug}…", flush=True)
            started = time.perf_counter()
            _sphere_delete(Sphere.objects.get(pk=sphere.pk))
            print(f"  deleted in {time.perf_counter() - started:.1f} s", flush=True)

    print()
    print(
        f"{'import':<10} {'rows':>9} {'seconds':>8} {'rows/s':>9} {'queries':>8} "
        f"{'peak MB':>8}"
    )
    for r in results:
        print(
            f"{r.name:<10} {r.rows:>9,} {r.seconds:>8.1f} {r.rows / r.seconds:>9,.0f} "
            f"{r.queries:>8,} {r.peak_mb:>8.0f}"
        )
    return 0


def _write_files(
    args: argparse.Namespace, learners_csv: Path, activity_csv: Path
) -> None:
    """Learners in one or two groups each, and one activity row per learner and day."""
    rng = random.Random(args.seed)
    groups = [f"Groupe {n:03d}" for n in range(1, args.groups + 1)]
    with learners_csv.open("w", encoding="utf-8", newline="") as out:
        out.write("identifiant,prenom,nom,email,groupes,niveau\n")
        for n in range(args.learners):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            chosen = rng.sample(groups, rng.randint(1, 2))
            out.write(
                f"bench{n:06d},{first},{last},{_ascii(first)}.{n}@bench.example,"
                f"{'|'.join(chosen)},{rng.randint(0, 100)}\n"
            )
    today = time.time()
    days = [
        time.strftime("%Y-%m-%d", time.localtime(today - 86_400 * d))
        for d in range(args.days)
    ]
    with activity_csv.open("w", encoding="utf-8", newline="") as out:
        out.write("identifiant,date,minutes\n")
        for n in range(args.learners):
            for day in days:
                out.write(f"bench{n:06d},{day},{rng.randint(0, 90)}\n")


def _ascii(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.lower())
    return decomposed.encode("ascii", "ignore").decode()


def _sphere_delete(sphere: typing.Any) -> None:
    """Delete the bench sphere, its big tables first with one statement each."""
    from django.db import transaction

    from spheres.models import DailyActivity, Membership

    with transaction.atomic():
        DailyActivity.objects.filter(learner__sphere=sphere).delete()
        Membership.objects.filter(learner__sphere=sphere).delete()
        sphere.delete()


@contextmanager
def _count_queries(connection: typing.Any) -> Iterator[Callable[[], int]]:
    count = 0

    def wrapper(
        execute: Callable[..., typing.Any],
        sql: str,
        params: typing.Any,
        many: bool,
        context: dict[str, typing.Any],
    ) -> typing.Any:
        nonlocal count
        count += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield lambda: count


def _peak_mb() -> float:
    # ru_maxrss is in kilobytes on Linux (bytes on macOS).
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1_000_000


_started = time.perf_counter()


def _progress(message: str) -> None:
    print(f"  {time.perf_counter() - _started:7.1f} s  {message}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
