"""The sending engine: dispatch due communications, deliver each message exactly once.

Flow. Beat runs the dispatcher every minute (``dispatch``): each due communication gets
one ``Send`` per scheduled time (unique), a copy of the content it sends (``content``),
and one ``Delivery`` row per learner of its audience (unique per send), written in one
statement; after commit one task per chunk of ``SEND_CHUNK_SIZE`` rows is enqueued
(``queue``). A chunk task (``delivery``) claims its rows atomically (PENDING → SENDING,
stamped with the task id, one attempt counted), builds each message (``message``),
hands it to the mail server (``transport``) and writes its outcome at once, before the
next message. Beat also runs the recovery pass (``recovery``): stale claims taken back,
lost tasks replaced, retries enqueued when their time has come. Every night it purges
the history past its retention (``retention``), an active announcement keeping who
already received it. On Monday mornings the dispatcher also writes the weekly digests
that administrators asked for (``digest``), sent to them as any other send.

Exactly once:
- two dispatchers, or beat running twice: the communication row is locked (skip
  locked) and the send is unique per scheduled time;
- two reminders of a sphere that caps them (one a day per learner) dispatched at once:
  a per-sphere lock makes the second wait for the first's commit, then leave out the
  learners the first reached;
- a task delivered twice, retried, or racing another: only PENDING rows are claimed,
  in one UPDATE;
- a worker killed, or stopped by its hard time limit: its task is redelivered with the
  same id (``acks_late`` + ``reject_on_worker_lost``) and takes back the rows stamped
  with it, or the recovery pass takes them back once their claim is stale;
- a temporary failure: the row waits for ``next_attempt_at`` (``SEND_RETRY_BACKOFF``),
  then goes to a new task; after the last attempt it is failed with its reason;
- a deactivation: read with every outcome write, it stops a chunk before its next
  message.

The one window for a duplicate is the message in flight: accepted by the mail server in
the instant before its outcome was written. So a killed process can resend at most one
message. On PostgreSQL outcomes are committed without waiting for the disk
(``synchronous_commit = off``): a crash of PostgreSQL itself (not of a worker) can lose
the last fraction of a second of outcomes, and those messages would go out again.
"""

from .content import send_prepare
from .delivery import ChunkOutcome, address_mark_undeliverable, chunk_deliver
from .dispatch import DispatchResult, communication_dispatch, sends_dispatch_due
from .recovery import ResumeResult, deliveries_resume, deliveries_retry_failed
from .retention import PurgeResult, deliveries_purge

__all__ = [
    "ChunkOutcome",
    "DispatchResult",
    "PurgeResult",
    "ResumeResult",
    "address_mark_undeliverable",
    "chunk_deliver",
    "communication_dispatch",
    "deliveries_purge",
    "deliveries_resume",
    "deliveries_retry_failed",
    "send_prepare",
    "sends_dispatch_due",
]
