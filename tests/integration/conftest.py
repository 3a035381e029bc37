"""Real parts for the integration tests: PostgreSQL, Redis, ``celery worker`` processes
and an aiosmtpd server.

The worker processes run ``voltaire_comms.settings.test`` against the test database
(tests are ``transaction=True``, so they see the committed rows), deliver to the test's
SMTP server (``TEST_EMAIL_URL``) and consume a queue of the test's own
(``TEST_CELERY_QUEUE``): Redis db 0 may be shared by several runs at once.
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
from urllib.parse import quote

import pytest

from communications.tests.smtp import SmtpServer
from tests.support import require_postgresql, require_redis

BASE_DIR = Path(__file__).resolve().parents[2]
WORKER_READY_TIMEOUT = 60
WORKER_STOP_TIMEOUT = 20
# Short enough for a test to wait for Redis to hand a killed worker's tasks out again.
VISIBILITY_TIMEOUT = 20
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
            "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
            **overrides,
        }

    def start(
        self, command: list[str], log_name: str
    ) -> tuple[subprocess.Popen[bytes], Path]:
        """A process in a session of its own, so that its children can be killed too."""
        log = self.tmp_path / log_name
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                cwd=BASE_DIR,
                env=self.env(),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process, log

    def start_worker(self, name: str = "worker") -> Worker:
        """A prefork worker with two children, ready to take tasks when returned."""
        command = [
            sys.executable, "-m", "celery", "-A", "voltaire_comms", "worker",
            "--pool", "prefork", "--concurrency", "2", "-Q", self.queue, "-l", "info",
            "-n", f"{name}-{uuid.uuid4().hex[:8]}@%h",
            "--without-heartbeat", "--without-mingle", "--without-gossip",
        ]  # fmt: skip
        process, log = self.start(command, f"{name}.log")
        worker = Worker(process, log)
        ready = wait_for(
            lambda: b" ready." in log.read_bytes() or process.poll() is not None,
            timeout=WORKER_READY_TIMEOUT,
        )
        if not ready or process.poll() is not None:
            pytest.fail(f"the worker did not start:\n{worker.tail()}")
        return worker

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


@pytest.fixture
def services(transactional_db, settings, tmp_path: Path) -> Iterator[Services]:
    """PostgreSQL, Redis, an SMTP server and a queue of this test's own.

    The test process enqueues to the queue of its workers, with their chunk size.
    """
    require_postgresql()
    broker_url = require_redis()
    from voltaire_comms.celery import app

    queue = f"integration-{uuid.uuid4().hex}"
    previous_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    settings.SEND_CHUNK_SIZE = CHUNK_SIZE
    smtp = SmtpServer().start()
    running = Services(broker_url, queue, smtp, tmp_path)
    try:
        _purge(app, queue)
        yield running
    finally:
        running.stop_all()
        smtp.stop()
        _drop(app, queue)
        app.conf.task_default_queue = previous_queue


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
    app.amqp.queues.pop(name, None)
