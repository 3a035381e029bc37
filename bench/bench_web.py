"""Benchmark of the administrators' pages under load: gunicorn, PostgreSQL, locust.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/benchweb \\
        .venv/bin/python bench/bench_web.py [--keep] [--reuse]

After a quiet ``migrate`` and ``collectstatic``, generates a sphere (``bench-web``) of
100,000 learners in 200 groups with 7 days of activity (PostgreSQL COPY; a few without
an address, deactivated, in no group or with an address in permanent failure), 5
evaluations, 500 communications of the three types made through the services (a tenth
of them deactivated), 20 sends with 5,000 messages between them, a weekly reminder to 50
groups with 4 past sends (every other day within the days of activity) of 10,000 sent
messages each, for its page « Les relances ont-elles fonctionné ? », and 20
administrators of the sphere who share a bench-only password. Then starts gunicorn on 127.0.0.1 with
production settings (DEBUG off, static files collected; cookies without the Secure
flag, the one concession to plain http), opens each page type a few times per worker
(a server in service is warm), and runs locust headless on it for 60 s:
``bench/locustfile.py``, 20 administrators who log in each as their own account, then,
once all are in, browse with a pause of 1 to 3 s before each page (the first one
included: released together, their first pages would come in the same instant).

It prints one table, per page type: requests, requests per second, p50/p95/p99 and
errors, with the targets (p95 under 150 ms for list and detail pages, under 300 ms for
the live count, under 500 ms for the reminder's effectiveness, no error). A second
table gives each page type for one administrator alone on the server (five requests one
after the other, after the warm-up): what a page costs with no one else's request
queued in front of it, the median held to the same targets; « Les relances ont-elles
fonctionné ? » keeps its figures in the cache (the server and this process share a file
cache, as production processes share ``CACHE_URL``), so that table gives it twice: as
served, and with its figures computed (the sphere's data version renewed before each
request). Missed targets are marked; the exit status is 0 all the
same (a measurement), and non-zero only when the setup fails. Everything it created is
deleted at the end, unless ``--keep``; ``--reuse`` measures again on the data a
``--keep`` run left (generated if there is none).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _data

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "var" / "bench-web"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/benchweb"
SLUG = "bench-web"
ADMIN_DOMAIN = "bench-web.example"
# Bench-only values, never used anywhere else: the benchmark's server is on 127.0.0.1
# and its data is deleted afterwards.
ADMIN_PASSWORD = "bench-web-password-2026"  # noqa: S105
SECRET_KEY = "bench-web-only-not-a-secret-" * 2
FIELD_ENCRYPTION_KEY = "k6NKjC1PrCE7rwqwcXHBVxfmYc5Fc0xva_7G-vFNiyo="
SERVER_READY_TIMEOUT = 60
# Requests per page type for one administrator alone, after the warm-up.
ALONE_ROUNDS = 5

# p95 targets (ms) by page type, the names of bench/locustfile.py. The other rows
# (log-in) are shown without a target.
TARGETS_MS = {
    "communications list": 150.0,
    "communication detail": 150.0,
    "send detail": 150.0,
    "users": 150.0,
    "users search": 150.0,
    "users by group": 150.0,
    "live count": 300.0,
    "reminder effectiveness": 500.0,
    "reminder effectiveness, computed": 500.0,
}
# The page « Les relances ont-elles fonctionné ? » keeps its figures in the cache (SPEC
# of the page: communications/effectiveness.py); the alone table also gives it with
# the figures computed, the sphere's data version renewed before each request. The
# server and this process share a file cache for that, as production processes share
# one cache (CACHE_URL).
EFFECTIVENESS_COMPUTED = "reminder effectiveness, computed"
# The reminder whose page « Les relances ont-elles fonctionné ? » is measured.
EFFECTIVENESS_REMINDER = "Relance hebdomadaire (efficacité)"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    data = parser.add_argument_group("data")
    data.add_argument("--learners", type=int, default=100_000)
    data.add_argument("--groups", type=int, default=200)
    data.add_argument("--days", type=int, default=7)
    data.add_argument("--communications", type=int, default=500)
    data.add_argument("--sends", type=int, default=20)
    data.add_argument(
        "--deliveries", type=int, default=5_000, help="messages of all sends together"
    )
    data.add_argument(
        "--reminder-sends",
        type=int,
        default=4,
        help="past sends of the reminder whose effectiveness page is measured",
    )
    data.add_argument(
        "--reminded",
        type=int,
        default=10_000,
        help="learners reminded (messages sent) by each of those sends",
    )
    data.add_argument("--admins", type=int, default=20)
    data.add_argument("--seed", type=int, default=2026)
    data.add_argument(
        "--keep", action="store_true", help="keep the data (and the plan) for reruns"
    )
    data.add_argument(
        "--reuse",
        action="store_true",
        help="measure on the data a --keep run left, without generating it again",
    )
    load = parser.add_argument_group("load")
    load.add_argument(
        "--users",
        type=int,
        default=None,
        help="simulated administrators (default: --admins; one account each)",
    )
    load.add_argument(
        "--spawn-rate", type=float, default=5.0, help="users started per s"
    )
    load.add_argument("--run-time", type=int, default=60, help="seconds of load")
    load.add_argument("--think-min", type=float, default=1.0)
    load.add_argument("--think-max", type=float, default=3.0)
    load.add_argument(
        "--max-requests", type=int, default=5_000, help="pages in all, at most"
    )
    load.add_argument(
        "--workers", type=int, default=3, help="gunicorn worker processes (2-4)"
    )
    load.add_argument("--port", type=int, default=0, help="default: a free port")
    args = parser.parse_args(argv)
    if args.users is None:
        args.users = args.admins
    if not 1 <= args.users <= args.admins:
        parser.error("--users must be between 1 and --admins (one account per user)")
    if not 1 <= args.workers <= 8:
        parser.error("--workers must be between 1 and 8")
    if args.run_time < 1 or args.max_requests < 1:
        parser.error("--run-time and --max-requests must be positive")
    if not 0 <= args.think_min <= args.think_max:
        parser.error("--think-min must be between 0 and --think-max")
    if args.sends and args.deliveries < args.sends:
        parser.error("--deliveries must be at least --sends")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    _environment()
    _data.ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        print(
            "This benchmark needs PostgreSQL: set DATABASE_URL=postgres://...",
            file=sys.stderr,
        )
        return 2
    print(f"Database: postgresql {settings.DATABASES['default']['NAME']}")
    print(f"CPUs: {os.cpu_count()}; gunicorn workers: {args.workers}")
    print("Migrating and collecting static files…", flush=True)
    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)

    OUT.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(OUT / "cache", ignore_errors=True)  # figures of an earlier run
    sphere = None
    server: Server | None = None
    try:
        sphere = _existing_sphere() if args.reuse else None
        if sphere is None:
            _delete_leftovers()
            sphere = _generate(args)
        else:
            print(f"Reusing the sphere « {sphere.slug} » of an earlier run.")
        plan = _plan(sphere)
        plan_path = OUT / "plan.json"
        plan_path.write_text(json.dumps(plan))
        if len(plan["admins"]) < args.users:
            raise RuntimeError(
                f"{args.users} users but {len(plan['admins'])} administrators"
            )
        connection.close()  # nothing of this process in the server's way

        server = Server(args.port or _data.free_port(), args.workers).start()
        print(
            f"gunicorn answering on {server.url} (pid {server.process.pid}, "
            f"{args.workers} workers)",
            flush=True,
        )
        alone = _warm_up(server, plan, rounds=2 * args.workers, timed=ALONE_ROUNDS)
        load = os.getloadavg()[0]  # what else the machine does shows in the times
        cpu_before = _cpu_times()
        stats = _run_locust(args, server.url, plan_path)
        busy = _busy_share(cpu_before, _cpu_times())
    finally:
        if server is not None:
            server.stop()
        if sphere is not None and not args.keep:
            _cleanup()
        elif sphere is not None:
            print(f"Data kept: rerun with --reuse (plan {OUT / 'plan.json'}).")

    rows = _rows(stats)
    _print_table(rows, args, load, busy)
    _print_alone(alone)
    login = next((r for r in rows if r.name == "login"), None)
    if login is None or login.requests < args.users or login.errors:
        # The accounts are ours: a refused log-in is a broken setup, not a measure.
        print("The administrators could not all log in.", file=sys.stderr)
        return 1
    return 0


def _environment() -> None:
    """Production settings for this process and the server, with bench-only secrets."""
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voltaire_comms.settings.base")
    os.environ.update(
        {
            "DEBUG": "0",
            "SECRET_KEY": SECRET_KEY,
            "FIELD_ENCRYPTION_KEYS": FIELD_ENCRYPTION_KEY,
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "0",
            # The one difference from production: locust talks plain http to
            # 127.0.0.1, and a client keeps Secure cookies for https.
            "SECURE_COOKIES": "0",
            "SECURE_HSTS_SECONDS": "0",
            "STATIC_ROOT": str(OUT / "static"),
            "CACHE_URL": f"filecache://{OUT / 'cache'}",
            "LOG_LEVEL": "WARNING",
        }
    )


# --- Generation -----------------------------------------------------------------------


def _existing_sphere() -> Any:
    from spheres.models import Sphere

    sphere = Sphere.objects.filter(slug=SLUG).first()
    if sphere is None or not sphere.learners.exists():
        return None
    return sphere


def _generate(args: argparse.Namespace) -> Any:
    from spheres.services import sphere_create

    rng = random.Random(args.seed)
    started = time.perf_counter()
    sphere = sphere_create(name="Benchmark des pages", slug=SLUG)
    group_ids, learner_ids = _data.generate_sphere(
        sphere,
        learners=args.learners,
        groups=args.groups,
        days=args.days,
        rng=rng,
    )
    _vary_learners(sphere, learner_ids)
    admins = _create_admins(sphere, args.admins)
    print(f"  {len(admins)} administrators", flush=True)
    evaluations = _create_evaluations(sphere, group_ids, rng)
    communications = _create_communications(
        sphere, admins, group_ids, evaluations, args.communications, rng
    )
    print(f"  {len(communications)} communications", flush=True)
    deliveries = _create_sends(communications, args.sends, args.deliveries, rng)
    print(f"  {args.sends} sends, {deliveries:,} messages", flush=True)
    reminded = _create_effectiveness_sends(
        sphere, admins, group_ids, args.reminder_sends, args.reminded, rng
    )
    print(
        f"  a reminder with {args.reminder_sends} past sends, {reminded:,} messages "
        "sent",
        flush=True,
    )
    _data.vacuum()
    print(f"  generated in {time.perf_counter() - started:.1f} s", flush=True)
    return sphere


def _vary_learners(sphere: Any, learner_ids: list[int]) -> None:
    """Learners as a real sphere has them, so that every figure of the live count
    has something to count: 2 % without an address, 1 % deactivated, 3 % in no
    group, 0.5 % with an address in permanent failure."""
    from spheres.models import Learner, Membership, UndeliverableAddress

    Learner.objects.filter(pk__in=learner_ids[1::50]).update(email="")
    Learner.objects.filter(pk__in=learner_ids[2::100]).update(is_active=False)
    Membership.objects.filter(learner_id__in=learner_ids[3::33]).delete()
    UndeliverableAddress.objects.bulk_create(
        UndeliverableAddress(
            sphere=sphere, email=email, source=UndeliverableAddress.Source.SMTP
        )
        for email in Learner.objects.filter(pk__in=learner_ids[4::200]).values_list(
            "email", flat=True
        )
    )


def _create_admins(sphere: Any, count: int) -> list[Any]:
    from django.contrib.auth.hashers import make_password

    from accounts.models import User

    # One hash for all (the same password): hashing is slow on purpose.
    password = make_password(ADMIN_PASSWORD)
    users = User.objects.bulk_create(
        User(email=f"admin{n:02d}@{ADMIN_DOMAIN}", password=password)
        for n in range(1, count + 1)
    )
    sphere.administrators.add(*users)
    return users


def _create_evaluations(
    sphere: Any, group_ids: list[int], rng: random.Random
) -> list[tuple[Any, list[int]]]:
    """Five evaluations, each with a window for 40 groups, in the weeks to come."""
    from django.utils import timezone

    from spheres.models import Group
    from spheres.services import evaluation_create

    groups = {g.pk: g for g in Group.objects.filter(pk__in=group_ids)}
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    evaluations = []
    for n in range(1, 6):
        chosen = sorted(rng.sample(group_ids, min(40, len(group_ids))))
        starts = now + dt.timedelta(days=7 * n)
        evaluation = evaluation_create(
            sphere=sphere,
            name=f"Évaluation {n}",
            windows=[
                (groups[pk], starts, starts + dt.timedelta(hours=2)) for pk in chosen
            ],
        )
        evaluations.append((evaluation, chosen))
    return evaluations


def _create_communications(
    sphere: Any,
    admins: list[Any],
    group_ids: list[int],
    evaluations: list[tuple[Any, list[int]]],
    count: int,
    rng: random.Random,
) -> list[Any]:
    """``count`` communications through the services, as administrators make them:
    four in ten announcements, four in ten reminders, two in ten evaluation notices;
    once, daily, weekly or monthly; a tenth of them then deactivated."""
    from django.utils import timezone

    from communications import services
    from communications.models import Communication
    from communications.rendering import DEFAULT_TEXTS
    from spheres.models import Group

    Kind, Frequency = Communication.Kind, Communication.Frequency
    groups = {g.pk: g for g in Group.objects.filter(pk__in=group_ids)}
    today = timezone.localdate()
    kinds = [Kind.ANNOUNCEMENT] * 4 + [Kind.REMINDER] * 4 + [Kind.EVALUATION] * 2
    communications = []
    for n in range(count):
        kind = kinds[n % 10]
        subject, message = (str(text) for text in DEFAULT_TEXTS[kind])
        data: dict[str, Any] = {
            "reply_to": "professeur@bench.example",
            "subject": subject,
            "message": message,
            "send_time": dt.time(rng.choice([7, 8, 12, 18]), rng.choice([0, 30])),
            "frequency": rng.choice(
                [Frequency.ONCE, Frequency.DAILY, Frequency.WEEKLY, Frequency.MONTHLY]
            ),
        }
        password = ""
        if kind == Kind.ANNOUNCEMENT:
            data["name"] = f"Annonce {n:03d}"
            chosen = rng.sample(group_ids, rng.randint(1, 5))
            password = "premiere-connexion"  # noqa: S105
        elif kind == Kind.REMINDER:
            data["name"] = f"Relance {n:03d}"
            chosen = rng.sample(group_ids, rng.choice([1, 5, 20, 50]))
            data.update(max_minutes=15, minutes_days=7)
            data.update(rng.choice([{}, {"max_level": 75}, {"inactive_days": 3}]))
        else:
            evaluation, windowed = rng.choice(evaluations)
            data["name"] = f"Évaluation {n:03d}"
            data["evaluation"] = evaluation
            data["frequency"] = Frequency.ONCE
            chosen = rng.sample(windowed, rng.randint(1, 10))
        if data["frequency"] == Frequency.ONCE:
            data["start_date"] = today + dt.timedelta(days=rng.randint(1, 30))
        else:
            data["start_date"] = today - dt.timedelta(days=rng.randint(10, 60))
        if data["frequency"] == Frequency.WEEKLY:
            data["weekdays"] = rng.choice([1, 5, 31])  # Monday; Mon + Wed; weekdays
        if data["frequency"] == Frequency.MONTHLY:
            data["month_day"] = rng.randint(1, 28)
        actor = rng.choice(admins)
        communication = services.communication_create(
            sphere=sphere,
            actor=actor,
            kind=kind,
            data=data,
            groups=[groups[pk] for pk in chosen],
            password=password,
            confirmed=True,
        )
        if n % 10 == 9:
            services.communication_deactivate(communication=communication, actor=actor)
        communications.append(communication)
    return communications


def _create_sends(
    communications: list[Any], sends: int, deliveries: int, rng: random.Random
) -> int:
    """``sends`` past sends, two per communication (recurring ones, still active),
    their messages mostly sent, some failed or skipped, written with COPY."""
    from django.utils import timezone

    from communications.models import Communication, Delivery, Send
    from spheres.models import Learner

    if not sends:
        return 0
    candidates = [
        c
        for c in communications
        if c.is_active and c.frequency != Communication.Frequency.ONCE
    ]
    chosen = rng.sample(candidates, min(len(candidates), (sends + 1) // 2))
    now = timezone.now().replace(second=0, microsecond=0)
    per_send = deliveries // sends
    written = 0
    columns = [
        "send_id", "learner_id", "email", "identifiant", "first_name", "last_name",
        "status", "reason", "error", "attempts", "sent_at", "message_id",
    ]  # fmt: skip
    for n in range(sends):
        communication = chosen[n % len(chosen)]
        scheduled = now - dt.timedelta(days=n // len(chosen) + 1, hours=n % 5)
        send = Send.objects.create(
            communication=communication,
            scheduled_for=scheduled,
            finished_at=scheduled + dt.timedelta(minutes=3),
            status=Send.Status.DONE,
            subject=communication.subject,
            message=communication.message,
            reply_to=communication.reply_to,
            password_token=communication.password_token,
        )
        learners = list(
            Learner.objects.filter(memberships__group__in=communication.groups.all())
            .values_list("pk", "email", "identifiant", "first_name", "last_name")
            .distinct()
            .order_by("pk")[:per_send]
        )
        rows = []
        for m, (pk, email, identifiant, first, last) in enumerate(learners):
            draw = rng.random()
            outcome: tuple[str, str, str, int, dt.datetime | None]
            if draw < 0.9:
                outcome = (Delivery.Status.SENT, "", "", 1, scheduled)
            elif draw < 0.95:
                error = f"550 5.1.1 <{email}>: user unknown"
                outcome = (Delivery.Status.FAILED, "", error, 1, None)
            else:
                skipped = Delivery.Reason.UNDELIVERABLE
                outcome = (Delivery.Status.SKIPPED, skipped, "", 0, None)
            status, reason, error, attempts, sent_at = outcome
            message_id = f"<bench-{send.pk}-{m}@bench.example>" if sent_at else ""
            rows.append(
                (
                    send.pk, pk, email, identifiant, first, last,
                    status, reason, error, attempts, sent_at, message_id,
                )
            )  # fmt: skip
        _data.copy_rows(Delivery._meta.db_table, columns, rows)
        written += len(learners)
        Communication.objects.filter(pk=communication.pk).update(last_sent_at=scheduled)
    return written


def _create_effectiveness_sends(
    sphere: Any,
    admins: list[Any],
    group_ids: list[int],
    sends: int,
    reminded: int,
    rng: random.Random,
) -> int:
    """A weekly reminder to 50 groups, made through the services, with ``sends`` past
    sends every other day from yesterday back (within the generated days of activity,
    so that its page has minutes before and after), each with ``reminded`` messages
    sent to learners of its groups, written with COPY. The number of messages."""
    from django.utils import timezone

    from communications import services
    from communications.models import Communication, Delivery, Send
    from communications.rendering import DEFAULT_TEXTS
    from spheres.models import Group, Learner

    kind = Communication.Kind.REMINDER
    subject, message = (str(text) for text in DEFAULT_TEXTS[kind])
    groups = list(Group.objects.filter(pk__in=rng.sample(group_ids, 50)))
    communication = services.communication_create(
        sphere=sphere,
        actor=admins[0],
        kind=kind,
        data={
            "name": EFFECTIVENESS_REMINDER,
            "reply_to": "professeur@bench.example",
            "subject": subject,
            "message": message,
            "send_time": dt.time(17, 0),
            "frequency": Communication.Frequency.WEEKLY,
            "weekdays": 127,
            "start_date": timezone.localdate() - dt.timedelta(days=30),
            "max_minutes": 15,
            "minutes_days": 7,
        },
        groups=groups,
        confirmed=True,
    )
    audience = list(
        Learner.objects.filter(memberships__group__in=groups)
        .values_list("pk", "email", "identifiant", "first_name", "last_name")
        .distinct()
        .order_by("pk")
    )
    columns = [
        "send_id", "learner_id", "email", "identifiant", "first_name", "last_name",
        "status", "attempts", "sent_at", "message_id", "reason", "error",
    ]  # fmt: skip
    now = timezone.now().replace(second=0, microsecond=0)
    written = 0
    for n in range(sends):
        scheduled = now - dt.timedelta(days=2 * n + 1)
        send = Send.objects.create(
            communication=communication,
            scheduled_for=scheduled,
            finished_at=scheduled + dt.timedelta(minutes=5),
            status=Send.Status.DONE,
            subject=communication.subject,
            message=communication.message,
            reply_to=communication.reply_to,
        )
        chosen = rng.sample(audience, min(reminded, len(audience)))
        _data.copy_rows(
            Delivery._meta.db_table,
            columns,
            (
                (
                    send.pk, pk, email, identifiant, first, last,
                    Delivery.Status.SENT, 1, scheduled,
                    f"<bench-{send.pk}-{pk}@bench.example>", "", "",
                )
                for pk, email, identifiant, first, last in chosen
            ),
        )  # fmt: skip
        written += len(chosen)
    if sends:
        Communication.objects.filter(pk=communication.pk).update(last_sent_at=now)
    return written


def _plan(sphere: Any) -> dict[str, Any]:
    """What the simulated administrators open (bench/locustfile.py reads it)."""
    from communications.models import Communication, Send

    admins = sphere.administrators.filter(email__endswith=f"@{ADMIN_DOMAIN}")
    return {
        "slug": sphere.slug,
        "sphere_id": sphere.pk,
        "admins": list(admins.order_by("email").values_list("email", flat=True)),
        "password": ADMIN_PASSWORD,
        "groups": list(sphere.groups.order_by("pk").values_list("pk", flat=True)),
        "evaluations": [
            {
                "id": evaluation.pk,
                "groups": [window.group_id for window in evaluation.windows.all()],
            }
            for evaluation in sphere.evaluations.prefetch_related("windows")
        ],
        "communications": list(
            Communication.objects.filter(sphere=sphere)
            .order_by("pk")
            .values_list("pk", flat=True)
        ),
        "sends": [
            list(pair)
            for pair in Send.objects.filter(communication__sphere=sphere)
            .order_by("pk")
            .values_list("communication_id", "pk")
        ],
        "effectiveness": list(
            Communication.objects.filter(sphere=sphere, name=EFFECTIVENESS_REMINDER)
            .order_by("pk")
            .values_list("pk", flat=True)
        ),
    }


def _delete_leftovers() -> None:
    """The sphere and administrators of an earlier run, if any (interrupted, or kept)."""
    from accounts.models import User
    from spheres.models import Sphere

    spheres = list(Sphere.objects.filter(slug=SLUG))
    if spheres:
        _data.delete_spheres(spheres)
    User.objects.filter(email__endswith=f"@{ADMIN_DOMAIN}").delete()


def _cleanup() -> None:
    from django.db import connection

    connection.close()  # the server may have closed it under us; start afresh
    _delete_leftovers()
    (OUT / "plan.json").unlink(missing_ok=True)
    shutil.rmtree(OUT / "cache", ignore_errors=True)


# --- Server and load ------------------------------------------------------------------


class Server:
    """gunicorn serving the project's WSGI application on 127.0.0.1."""

    def __init__(self, port: int, workers: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.port, self.workers = port, workers
        self.log = OUT / "gunicorn.log"
        self.process: subprocess.Popen[bytes]

    def start(self) -> Server:
        command = [
            sys.executable, "-m", "gunicorn", "voltaire_comms.wsgi",
            "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers),
            "--timeout", "30", "--graceful-timeout", "10",
        ]  # fmt: skip
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=os.environ.copy(),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + SERVER_READY_TIMEOUT
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"gunicorn did not start; see {self.log}")
            time.sleep(0.2)
        return self

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/connexion/", timeout=5) as reply:  # noqa: S310
                return reply.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def _warm_up(
    server: Server, plan: dict[str, Any], rounds: int, timed: int
) -> dict[str, list[float]]:
    """Open each page type a few times per worker before measuring, as one of the
    administrators: a server in service has compiled its templates and loaded its
    translations long ago; a cold worker's first pages would weigh on the p95 of
    the rarer page types. Then ``timed`` more rounds, one page at a time: the time of
    each page type for an administrator alone on the server (ms, by page type)."""
    import http.cookiejar
    import re
    from urllib.parse import urlencode

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def open_(path: str, body: dict[str, Any] | list | None = None) -> str:
        data = urlencode(body, doseq=True).encode() if body is not None else None
        with opener.open(f"{server.url}{path}", data=data, timeout=30) as reply:
            return reply.read().decode()

    page = open_("/connexion/")
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if found is None:
        raise RuntimeError("no CSRF token on the login page")
    landing = open_(
        "/connexion/",
        {
            "csrfmiddlewaretoken": found.group(1),
            "username": plan["admins"][0],
            "password": plan["password"],
        },
    )
    if 'name="password"' in landing:
        raise RuntimeError(f"the log-in of {plan['admins'][0]} was refused")
    token = next(c.value for c in jar if c.name == "csrftoken")
    base = f"/spheres/{plan['slug']}"
    communication = plan["communications"][0]
    paths = [
        ("communications list", f"{base}/communications/"),
        ("communication detail", f"{base}/communications/{communication}/"),
        ("users", f"{base}/utilisateurs/"),
        ("users search", f"{base}/utilisateurs/?q=martin"),
    ]
    if plan["sends"]:
        pk, send_id = plan["sends"][0]
        paths.append(("send detail", f"{base}/communications/{pk}/envois/{send_id}/"))
    for pk in plan["effectiveness"]:
        paths.append(
            ("reminder effectiveness", f"{base}/communications/{pk}/efficacite/")
        )
    audience = [("csrfmiddlewaretoken", token), ("groups", plan["groups"][0])]
    pages: list[tuple[str, str, list | None]] = [(n, p, None) for n, p in paths]
    pages.append(
        ("live count", f"{base}/communications/destinataires/announcement/", audience)
    )
    from spheres.versions import sphere_data_changed

    for pk in plan["effectiveness"]:
        pages.append(
            (EFFECTIVENESS_COMPUTED, f"{base}/communications/{pk}/efficacite/", None)
        )
    times: dict[str, list[float]] = {}
    for round_ in range(rounds + timed):
        for name, path, body in pages:
            if name == EFFECTIVENESS_COMPUTED:
                # A new data version: the figures are computed again.
                sphere_data_changed(sphere_id=plan["sphere_id"])
            started = time.perf_counter()
            open_(path, body)
            if round_ >= rounds:
                elapsed = (time.perf_counter() - started) * 1000
                times.setdefault(name, []).append(elapsed)
    return times


def _print_alone(times: dict[str, list[float]]) -> None:
    """The page types for one administrator alone: what a page costs without the
    others' requests queued in front of it (the table above is under load)."""
    if not times:
        return
    width = max(len(name) for name in times)
    rounds = max(len(t) for t in times.values())
    print()
    print(f"One administrator alone, {rounds} requests per page type; times in ms")
    print(f"{'page type':<{width}}  {'median':>6}  {'max':>5}  target")
    for name, values in times.items():
        target = TARGETS_MS.get(name)
        mark = ""
        if target is not None:
            ok = statistics.median(values) < target
            mark = f"median < {target:g} ms {'ok' if ok else 'MISSED'}"
        print(
            f"{name:<{width}}  {statistics.median(values):>6.0f}  "
            f"{max(values):>5.0f}  {mark}"
        )


def _run_locust(args: argparse.Namespace, host: str, plan: Path) -> list[dict]:
    """Run locust headless against ``host``; its final statistics per request name."""
    stats = OUT / "locust.json"  # locust adds the suffix to the name it is given
    stats.unlink(missing_ok=True)
    log = OUT / "locust.log"
    command = [
        sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"),
        "--headless", "--only-summary", "--host", host,
        "--users", str(args.users), "--spawn-rate", str(args.spawn_rate),
        "--run-time", f"{args.run_time}s", "--json-file", str(stats.with_suffix("")),
        "--plan", str(plan), "--think-min", str(args.think_min),
        "--think-max", str(args.think_max), "--max-requests", str(args.max_requests),
    ]  # fmt: skip
    print(
        f"locust: {args.users} administrators, {args.spawn_rate:g} started per "
        f"second, {args.run_time} s, {args.think_min:g}-{args.think_max:g} s before "
        f"each page (log: {log})…",
        flush=True,
    )
    # Locust exits 1 when a request failed: the table says which; only missing
    # statistics are a failure here.
    with log.open("wb") as output:
        subprocess.run(
            command,
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=args.run_time + 120,
            check=False,
        )
    if not stats.exists():
        raise RuntimeError(f"locust wrote no statistics; see {log}")
    return json.loads(stats.read_text())


# --- Output ---------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    requests: int
    rate: float
    p50: int | None
    p95: int | None
    p99: int | None
    errors: int
    target: str = ""
    ok: bool | None = None


def _percentile(times: dict[int, int], count: int, percent: float) -> int:
    """Locust's own percentile over its histogram of rounded times (ms)."""
    wanted = int(count * percent)
    processed = 0
    for ms in sorted(times, reverse=True):
        processed += times[ms]
        if count - processed <= wanted:
            return ms
    return 0


def _row(name: str, entries: list[dict], seconds: float) -> Row:
    times: dict[int, int] = {}
    for entry in entries:
        for ms, n in entry["response_times"].items():
            times[int(float(ms))] = times.get(int(float(ms)), 0) + n
    count = sum(entry["num_requests"] for entry in entries)
    errors = sum(entry["num_failures"] for entry in entries)
    if not count:
        return Row(name, 0, 0.0, None, None, None, errors)
    p50, p95, p99 = (_percentile(times, count, q) for q in (0.50, 0.95, 0.99))
    return Row(name, count, count / seconds, p50, p95, p99, errors)


def _rows(stats: list[dict]) -> list[Row]:
    started = min((e["start_time"] for e in stats), default=0.0)
    ended = max((e["last_request_timestamp"] or 0.0 for e in stats), default=0.0)
    seconds = max(ended - started, 1.0)
    by_name: dict[str, list[dict]] = {}
    for entry in stats:
        by_name.setdefault(entry["name"], []).append(entry)
    # Under load the pages are as served: the figures computed every time are a row
    # of the alone table only.
    names = [
        "login page",
        "login",
        *(n for n in TARGETS_MS if n != EFFECTIVENESS_COMPUTED),
    ]
    names += sorted(set(by_name) - set(names))
    rows = []
    for name in names:
        row = _row(name, by_name.get(name, []), seconds)
        if name in TARGETS_MS:
            target = TARGETS_MS[name]
            row.target = f"p95 < {target:.0f} ms, no error"
            row.ok = row.p95 is not None and row.p95 < target and row.errors == 0
        rows.append(row)
    total = _row("total", stats, seconds)
    total.target = "no error"
    total.ok = total.requests > 0 and total.errors == 0
    rows.append(total)
    return rows


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat (Linux)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


def _busy_share(
    before: tuple[int, int] | None, after: tuple[int, int] | None
) -> float | None:
    """The share of the machine's CPU time in use between two ``_cpu_times``: the
    server, PostgreSQL, locust and whatever else ran."""
    if before is None or after is None or after[1] == before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


def _print_table(
    rows: list[Row], args: argparse.Namespace, load: float, busy: float | None
) -> None:
    def ms(value: int | None) -> str:
        return "-" if value is None else str(value)

    width = max(len(r.name) for r in rows)
    print()
    print(
        f"{args.users} administrators, {args.run_time} s, "
        f"{args.think_min:g}-{args.think_max:g} s before each page, "
        f"gunicorn {args.workers} workers; load average before the run {load:.1f} "
        f"on {os.cpu_count()} CPUs"
        + (f", CPU in use during the run {busy:.0%}" if busy is not None else "")
        + "; times in ms"
    )
    header = (
        f"{'page type':<{width}}  {'requests':>8}  {'req/s':>6}  {'p50':>5}  "
        f"{'p95':>5}  {'p99':>5}  {'errors':>6}  target"
    )
    print(header)
    print("-" * (len(header) + 30))
    for r in rows:
        mark = "" if r.ok is None else (" ok" if r.ok else " MISSED")
        print(
            f"{r.name:<{width}}  {r.requests:>8}  {r.rate:>6.1f}  {ms(r.p50):>5}  "
            f"{ms(r.p95):>5}  {ms(r.p99):>5}  {r.errors:>6}  {r.target}{mark}"
        )


if __name__ == "__main__":
    sys.exit(main())
