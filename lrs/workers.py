"""Drafting writes (lrs/drafting.py) in worker processes, so parsing and validating Statements uses every core
while serve's own process publishes, stores and answers HTTP.

Each worker builds its Drafter once from a `DrafterConfig` (the people directory, the pseudonym key, the
authority's homePage); a request crosses as its body bytes and comes back as a Draft or a StatementRejected.
A worker that dies (killed, out of memory) breaks the pool: the pool is started again and the request drafted
once more (drafting has no side effects). A worker exits when serve's process ends, even when it was killed.
With `processes=0` requests are drafted on a thread of serve itself.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing.process import BaseProcess

from learnstream.collection import freeze_what_exists, tune_for_throughput
from learnstream.errors import LearnstreamError
from lrs.drafting import Draft, Drafter, Request, StatementRejected
from lrs.people import XapiPeople
from producers.directory import Directory

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DrafterConfig:
    """What a worker process needs to build its Drafter: all of it picklable."""

    directory: Directory
    pseudonym_key: bytes
    home_page: str
    instance: str
    derive_ids: frozenset[str] = frozenset()

    def drafter(self) -> Drafter:
        people = XapiPeople(self.directory, self.pseudonym_key, self.instance)
        return Drafter(people, self.home_page, self.instance, self.derive_ids)


_drafter: Drafter | None = None  # the worker process's own, built by _start_worker


def _start_worker(config: DrafterConfig) -> None:
    global _drafter
    tune_for_throughput()
    _drafter = config.drafter()
    freeze_what_exists()
    parent = multiprocessing.parent_process()
    if parent is not None:  # a worker outlives a killed serve otherwise (it holds its own end of the job queue)
        threading.Thread(target=_exit_with, args=(parent,), name="lrs-parent-watch", daemon=True).start()


def _exit_with(parent: BaseProcess) -> None:
    parent.join()  # returns when the parent process has ended, however it ended
    os._exit(0)


def _draft(request: Request) -> Draft:
    """In a worker: the request's Draft. Errors of ours other than a refusal become a 400 naming them (they come
    from the request's content); anything else crosses back as it is and is a 500 in serve."""
    assert _drafter is not None, "the worker was started without its Drafter"
    try:
        return _drafter.draft(request)
    except StatementRejected:
        raise
    except LearnstreamError as exc:  # not every error of ours can be pickled with its arguments
        raise StatementRejected(400, str(exc)) from None


class DraftingPool:
    """Drafts requests in `processes` worker processes (started on first use), or on a thread when 0."""

    def __init__(self, config: DrafterConfig, processes: int) -> None:
        self.config = config
        self.processes = processes
        self._lock = threading.Lock()
        self._local = config.drafter() if processes == 0 else None
        self._executor = self._start()
        self.restarts = 0

    def _start(self) -> Executor:
        if self.processes == 0:
            return ThreadPoolExecutor(max_workers=1, thread_name_prefix="lrs-drafting")
        return ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=multiprocessing.get_context("spawn"),  # serve has threads: never fork it
            initializer=_start_worker,
            initargs=(self.config,),
        )

    async def draft(self, request: Request) -> Draft:
        """The request's Draft; StatementRejected when the LRS refuses it."""
        loop = asyncio.get_running_loop()
        if self._local is not None:
            return await loop.run_in_executor(self._executor, self._local.draft, request)
        executor = self._executor
        try:
            return await loop.run_in_executor(executor, _draft, request)
        except BrokenProcessPool:
            self._restart(executor)
            return await loop.run_in_executor(self._executor, _draft, request)

    def _restart(self, broken: Executor) -> None:
        with self._lock:
            if self._executor is not broken:  # another request restarted it already
                return
            logger.error("an LRS drafting process died; starting the pool again")
            broken.shutdown(wait=False, cancel_futures=True)
            self._executor = self._start()
            self.restarts += 1

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
