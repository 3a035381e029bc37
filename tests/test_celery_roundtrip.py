"""The whole chain once: Django sends a task, a real ``celery worker`` process runs it.

The broker is ``CELERY_BROKER_URL`` when it is Redis (skipped, or failed in CI, when
Redis is unreachable); otherwise the embedded filesystem broker in a temporary
``VAR_DIR``, so this test always runs against a real worker.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

from tests.support import require_redis

BASE_DIR = Path(__file__).resolve().parent.parent
WORKER_STARTUP_AND_RUN_TIMEOUT = 60
WORKER_STOP_TIMEOUT = 15


def _sending_app(*, broker_url: str, backend_url: str, var_dir: Path) -> Celery:
    """A Celery app configured from the Django settings like the project's, but apart.

    Configuring a separate app leaves the project's global app (and its cached broker
    pool and result backend) untouched for the other tests.
    """
    app = Celery("voltaire_comms", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.update(broker_url=broker_url, result_backend=backend_url)
    if broker_url.startswith("filesystem://"):
        # The same folders the worker derives from VAR_DIR in settings/base.py.
        broker_dir = var_dir / "broker"
        for folder in ("queue", "control", "processed"):
            (broker_dir / folder).mkdir(parents=True, exist_ok=True)
        app.conf.broker_transport_options = {
            "data_folder_in": str(broker_dir / "queue"),
            "data_folder_out": str(broker_dir / "queue"),
            "control_folder": str(broker_dir / "control"),
            "processed_folder": str(broker_dir / "processed"),
            "store_processed": False,
        }
    return app


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Broker, result backend and queue shared by the test and its worker."""
    url = os.environ.get("CELERY_BROKER_URL", "")
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    if url.startswith("redis://"):
        url = require_redis()
        # Redis db 0 may be shared with other workers: a queue of our own keeps them
        # from taking this task.
        queue = f"roundtrip-{uuid.uuid4().hex}"
        yield {"broker": url, "backend": url, "queue": queue, "var_dir": str(var_dir)}
        return
    results = tmp_path / "results"
    results.mkdir()
    yield {
        "broker": "filesystem://",
        "backend": f"file://{results}",
        "queue": "celery",  # the default queue; the broker folder is ours alone
        "var_dir": str(var_dir),
    }


def _start_worker(broker: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "voltaire_comms.settings.base",
        "DEBUG": "1",
        "SECRET_KEY": "roundtrip-test-key",
        "VAR_DIR": broker["var_dir"],
        "CELERY_BROKER_URL": broker["broker"],
        "CELERY_RESULT_BACKEND": broker["backend"],
    }
    env.pop("DATABASE_URL", None)  # the ping task needs no database
    command = [
        sys.executable, "-m", "celery", "-A", "voltaire_comms", "worker",
        "--pool", "solo", "-Q", broker["queue"], "-l", "info",
        "-n", f"roundtrip-{uuid.uuid4().hex[:8]}@%h",
        "--without-heartbeat", "--without-mingle", "--without-gossip",
    ]  # fmt: skip
    with log.open("wb") as output:
        return subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT
        )


def _stop(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is not None:
        return
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(WORKER_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait(WORKER_STOP_TIMEOUT)


def test_a_task_sent_from_django_is_run_by_a_real_worker(
    broker: dict[str, str], tmp_path: Path
) -> None:
    # given
    app = _sending_app(
        broker_url=broker["broker"],
        backend_url=broker["backend"],
        var_dir=Path(broker["var_dir"]),
    )
    log = tmp_path / "worker.log"
    worker = _start_worker(broker, log)
    try:
        # when
        # Tasks ignore their results by default (settings); this one asks for its own.
        result = app.send_task(
            "voltaire_comms.ping", queue=broker["queue"], ignore_result=False
        )
        deadline = time.monotonic() + WORKER_STARTUP_AND_RUN_TIMEOUT
        while not result.ready() and worker.poll() is None:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        ready = result.ready()
        value: dict[str, object] = result.get(timeout=1) if ready else {}

        # then
        assert ready, f"no result; worker exit code {worker.poll()}:\n{log.read_text()}"
        assert value["pong"] is True
        assert value["pid"] != os.getpid()
        assert value["pid"] == worker.pid  # --pool solo: the worker process itself
        result.forget()
    finally:
        _stop(worker)
        if broker["queue"] != "celery":
            # Drop our queue and its binding so that Redis keeps no trace of the test.
            queue = app.amqp.queues[broker["queue"]]
            with app.connection_for_write() as connection:
                bound = queue(connection.default_channel)
                bound.declare()  # the channel learns the binding it must remove
                bound.delete()
        app.close()
