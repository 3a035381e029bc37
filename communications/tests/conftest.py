import pytest

from communications.tests.smtp import SmtpServer, use_smtp_server


@pytest.fixture
def smtp_server(settings, smtp_pipelining):
    """A real SMTP server on localhost, with Django's SMTP backend pointed at it."""
    server = SmtpServer(pipelining=smtp_pipelining).start()
    use_smtp_server(settings, server)
    yield server
    server.stop()


class Engine:
    """The sending engine driven in-process: the broker is replaced by a list of the
    chunks enqueued after commit, and ``work()`` delivers them as a worker would, each
    task with a fresh id. Everything else is real (database, SMTP server)."""

    def __init__(self, capture) -> None:  # noqa: ANN001
        self.capture = capture
        self.queued: list[tuple[int, int, int]] = []

    def enqueue(self, send_id: int, chunks) -> None:  # noqa: ANN001
        self.queued.extend((send_id, first, last) for first, last in chunks)

    def dispatch(self, **kwargs):  # noqa: ANN003, ANN201
        from communications import sending

        with self.capture(execute=True):
            return sending.sends_dispatch_due(**kwargs)

    def work(self, *, claim: str | None = None) -> list:
        """Run every queued chunk once (what was enqueued meanwhile waits)."""
        import uuid

        from communications import sending

        todo, self.queued = self.queued, []
        outcomes = []
        for send_id, first, last in todo:
            with self.capture(execute=True):
                outcomes.append(
                    sending.chunk_deliver(
                        send_id=send_id,
                        first_id=first,
                        last_id=last,
                        claim=claim or str(uuid.uuid4()),
                    )
                )
        return outcomes

    def resume(self, **kwargs):  # noqa: ANN003, ANN201
        from communications import sending

        with self.capture(execute=True):
            return sending.deliveries_resume(**kwargs)


@pytest.fixture
def engine(monkeypatch, django_capture_on_commit_callbacks) -> Engine:
    from communications.sending import queue

    running = Engine(django_capture_on_commit_callbacks)
    monkeypatch.setattr(queue, "enqueue_chunks", running.enqueue)
    return running
