"""Named points where a test can make the server die at once (SIGKILL), to prove what a crash
there costs. Armed only by ``SHOUWANG_TEST_CRASH_AT=<name>`` in the environment, which tests
set on a server subprocess; nothing else sets it."""

from __future__ import annotations

import logging
import os
import signal

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

CRASH_ENV = "SHOUWANG_TEST_CRASH_AT"
_ARMED = os.environ.get(CRASH_ENV) or None

# Ingest committed a batch (its events, cases and outbox rows); its ack and alerts have not left.
INGEST_COMMITTED = "ingest_committed"


def crash_after_commit(session: Session, name: str) -> None:
    """Die when ``session`` commits, before anything else hears of the commit (listeners run in
    the order they were added: call this before the transaction's other work)."""
    if _ARMED == name:
        event.listen(session, "after_commit", lambda _session: crash_point(name), once=True)


def crash_point(name: str) -> None:
    if _ARMED == name:
        log.critical("%s=%s: killing this process now", CRASH_ENV, name)
        os.kill(os.getpid(), signal.SIGKILL)
