"""Real parts for the integration tests: PostgreSQL, a broker (Redis or RabbitMQ: every
test runs on both), ``celery worker`` and ``celery beat`` processes and an aiosmtpd
server.

The worker processes run ``voltaire_comms.settings.test`` against the test database
(tests are ``transaction=True``, so they see the committed rows), deliver to the test's
SMTP server (``TEST_EMAIL_URL``) and consume a queue of the test's own
(``TEST_CELERY_QUEUE``): the brokers may be shared by several runs at once.
Every process a test starts is killed, with its children, when the test ends.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest

from communications.tests.smtp import SmtpServer
from tests.support import require_postgresql, require_rabbitmq, require_redis

if TYPE_CHECKING:
    from communications.models import Communication

BASE_DIR = Path(__file__).resolve().parents[2]
WORKER_READY_TIMEOUT = 60
WORKER_STOP_TIMEOUT = 20
# Short enough for a test to wait for Redis to hand a killed worker's tasks out again;
# above the send task's hard time limit.
VISIBILITY_TIMEOUT = 20
SOFT_TIME_LIMIT = 10
TIME_LIMIT = 15
CHUNK_SIZE = 10


def wait_for(
    condition: Callable[[], bool], *, timeout: float, interval: float = 0.1
) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def subprocess_database_url() -> str:
    """The URL of the database pytest-django created (``test_<name>``)."""
    from django.db import connection

    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{credentials}@{host}/{quote(db['NAME'], safe='')}"


@dataclass
class Services:
    broker_url: str
    queue: str
    smtp: SmtpServer
    tmp_path: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def env(self, **overrides: str) -> dict[str, str]:
        """The environment of every process a test starts."""
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "voltaire_comms.settings.test",
            "DATABASE_URL": subprocess_database_url(),
            "CELERY_BROKER_URL": self.broker_url,
            "TEST_CELERY_QUEUE": self.queue,
            "TEST_EMAIL_URL": f"smtp://127.0.0.1:{self.smtp.port}",
            "SEND_CHUNK_SIZE": str(CHUNK_SIZE),
            "SEND_RETRY_BACKOFF": "1,1,2,2,3,3",
            "SEND_SOFT_TIME_LIMIT": str(SOFT_TIME_LIMIT),
            "SEND_TIME_LIMIT": str(TIME_LIMIT),
            "SEND_RESUME_INTERVAL": "1",
            "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
            **self.overrides,
            **overrides,
        }

    overrides: dict[str, str] = field(default_factory=dict)

    def start(
        self, command: list[str], log_name: str, **env: str
    ) -> tuple[subprocess.Popen[bytes], Path]:
        """A process in a session of its own, so that its children can be killed too."""
        log = self.tmp_path / log_name
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                cwd=BASE_DIR,
                env=self.env(**env),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process, log

    def start_worker(self, name: str = "worker", **env: str) -> Worker:
        """A prefork worker with two children, ready to take tasks when returned."""
        command = [
            sys.executable, "-m", "celery", "-A", "voltaire_comms", "worker",
            "--pool", "prefork", "--concurrency", "2", "-Q", self.queue, "-l", "info",
            "-n", f"{name}-{uuid.uuid4().hex[:8]}@%h",
            "--without-heartbeat", "--without-mingle", "--without-gossip",
        ]  # fmt: skip
        process, log = self.start(command, f"{name}.log", **env)
        worker = Worker(process, log)
        ready = wait_for(
            lambda: b" ready." in log.read_bytes() or process.poll() is not None,
            timeout=WORKER_READY_TIMEOUT,
        )
        if not ready or process.poll() is not None:
            pytest.fail(f"the worker did not start:\n{worker.tail()}")
        return worker

    def start_beat(self) -> Worker:
        """Celery beat: the recovery pass every second (SEND_RESUME_INTERVAL=1)."""
        command = [
            sys.executable, "-m", "celery", "-A", "voltaire_comms", "beat", "-l", "info",
            "-s", str(self.tmp_path / "beat-schedule"), "--pidfile=",
        ]  # fmt: skip
        process, log = self.start(command, "beat.log")
        return Worker(process, log)

    def stop_all(self) -> None:
        for process in self.processes:
            stop(process)


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """SIGKILL to the worker and its pool children at once: nothing is acked."""
        kill_group(self.process)

    def stop(self) -> None:
        stop(self.process)

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(WORKER_STOP_TIMEOUT)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Warm shutdown, then SIGKILL to the whole group if it takes too long."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(WORKER_STOP_TIMEOUT)
    # The pool children too, even when the parent is gone.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(WORKER_STOP_TIMEOUT)


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest) -> str:
    """Each integration test runs on both production brokers."""
    require_postgresql()
    return require_redis() if request.param == "redis" else require_rabbitmq()


@pytest.fixture
def services(
    transactional_db, settings, tmp_path: Path, broker_url: str, smtp_pipelining: bool
) -> Iterator[Services]:
    """PostgreSQL, a broker, an SMTP server and a queue of this test's own.

    The test process enqueues to the queue of its workers, on their broker, with their
    chunk size.
    """
    with running_services(
        settings, tmp_path, broker_url, pipelining=smtp_pipelining
    ) as running:
        yield running


@contextlib.contextmanager
def running_services(  # noqa: ANN001
    settings, tmp_path: Path, broker_url: str, *, pipelining: bool = True
) -> Iterator[Services]:
    from voltaire_comms.celery import app

    require_postgresql()  # the workers share the test database: not an SQLite file
    queue = f"integration-{uuid.uuid4().hex}"
    previous = app.conf.task_default_queue, app.conf.broker_write_url
    app.conf.task_default_queue = queue
    use_broker(app, broker_url)
    settings.SEND_CHUNK_SIZE = CHUNK_SIZE
    smtp = SmtpServer(pipelining=pipelining).start()
    running = Services(broker_url, queue, smtp, tmp_path)
    try:
        _purge(app, queue)
        yield running
    finally:
        running.stop_all()
        smtp.stop()
        with contextlib.suppress(Exception):  # a test may have stopped the broker
            _drop(app, queue)
        app.conf.task_default_queue = previous[0]
        use_broker(app, previous[1])


@dataclass
class PrivateRedis:
    """A redis-server of the test's own, without persistence, that it can restart."""

    port: int
    tmp_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        command = [
            "redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
            "--save", "", "--appendonly", "no", "--dir", str(self.tmp_path),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, start_new_session=True
        )
        if not wait_for(lambda: _redis_answers(self.port), timeout=10):
            pytest.fail("the private redis-server did not start")
        return self

    def restart(self) -> None:
        """Killed and started again: whatever it held is gone, as after a crash."""
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.process is not None:
            kill_group(self.process)
            self.process = None


def _redis_answers(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), 1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    import shutil

    from communications.tests.smtp import free_port
    from tests.support import require

    require("redis-server is not installed", shutil.which("redis-server") is not None)
    redis = PrivateRedis(free_port(), tmp_path).start()
    try:
        yield redis
    finally:
        redis.stop()


def use_broker(app, url: str) -> None:  # noqa: ANN001
    """Point the test process's Celery app at ``url``: its connection and producer
    pools were made for the previous broker (Celery resets them the same way after a
    fork)."""
    app.conf.broker_url = app.conf.broker_write_url = app.conf.broker_read_url = url
    app._pool = None
    app.amqp._producer_pool = None


def _purge(app, name: str) -> int:  # noqa: ANN001
    with app.connection_for_write() as connection:
        bound = app.amqp.queues[name](connection.default_channel)
        bound.declare()
        return bound.purge() or 0


def _drop(app, name: str) -> None:  # noqa: ANN001
    """Remove the queue and its binding so that Redis keeps no trace of the test."""
    with app.connection_for_write() as connection:
        bound = app.amqp.queues[name](connection.default_channel)
        bound.declare()  # the channel learns the binding it must remove
        bound.delete()
        if bound.exchange.name:  # RabbitMQ keeps a direct exchange per queue name
            bound.exchange.delete()
    app.amqp.queues.pop(name, None)


def due(**kwargs: Any) -> Communication:
    """A communication (a reminder unless told otherwise) due one minute ago."""
    import datetime as dt

    from django.utils import timezone

    from communications.models import Communication
    from communications.tests.factories import CommunicationFactory

    communication = CommunicationFactory(**kwargs)
    Communication.objects.filter(pk=communication.pk).update(
        next_send_at=timezone.now() - dt.timedelta(minutes=1)
    )
    return communication
