"""Thread and wait policy for every process that trains or evaluates: share a busy CPU fairly.

PyTorch's CPU wheels and numba's ``omp`` threading layer run on GNU OpenMP (libgomp; torch and
numba even load two copies of it). By default an OpenMP worker thread that finished its part of a
parallel region *spins* (``GOMP_SPINCOUNT`` 300,000 rounds, about a millisecond) waiting for the
next region. Two such processes on two cores keep taking the cores from each other's running
threads: a quick dXAJ training beside one ordinary PyTorch training went from 2 s to 27-259 s.
Threads that sleep as soon as they wait (``OMP_WAIT_POLICY=PASSIVE``) give the core back at once.

The policy, put into the environment before torch or numba is imported (``apply_environment``:
``import core`` does it, so it covers ``python -m core``, its DDP ranks, the dashboard's processes and
their workers, whose environment ``core.runs.jobs`` builds with ``worker_environment``):

- ``OMP_WAIT_POLICY=PASSIVE``, ``GOMP_SPINCOUNT=0`` (libgomp) and ``KMP_BLOCKTIME=0`` (Intel
  OpenMP, where a build links it): idle worker threads sleep instead of spinning; set when fewer
  than all cores are free or the user gives a count (with every core free OpenMP keeps its own wait);
- ``OMP_NUM_THREADS`` and ``NUMBA_NUM_THREADS`` = the cores free when the process starts (idle time
  over 0.1 s from ``/proc/stat``, rounded, at least 1, at most the cores this process may use):
  both cores on a quiet 2-core machine as before, one thread beside other work, where a second
  thread mostly waits for a descheduled partner. See ``docs/threads.md`` for the
  measurements behind each choice.

User override, strongest first:

- ``HYDROCAST_THREADS=off``: the policy does nothing (torch's and OpenMP's defaults, as before);
- ``HYDROCAST_THREADS=N``: N intra-op and numba threads, with the passive wait policy;
- any of ``OMP_WAIT_POLICY``, ``GOMP_SPINCOUNT``, ``KMP_BLOCKTIME``, ``OMP_NUM_THREADS``,
  ``NUMBA_NUM_THREADS`` already set by the user is left as it is (``OMP_NUM_THREADS`` then also
  gives numba's thread count). A process that imported torch before ``core`` keeps torch's settings.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Mapping, MutableMapping

SWITCH = "HYDROCAST_THREADS"
"""Environment variable of the user override: ``auto`` (default), ``off`` or a thread count."""

WAIT_VARIABLES = {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "0", "KMP_BLOCKTIME": "0"}
"""Idle OpenMP threads sleep at once (GNU and Intel OpenMP spellings)."""

THREAD_VARIABLES = ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS")

MARK = "HYDROCAST_THREAD_POLICY"
"""Names of the variables the policy itself set (comma-separated), so a child process started later
(a dashboard worker) counts its own free cores instead of taking them for the user's choice."""

IDLE_SAMPLE_SECONDS = 0.1


class ThreadPolicyError(ValueError):
    """``HYDROCAST_THREADS`` holds something other than ``auto``, ``off`` or a positive integer."""


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity; ``os.cpu_count()`` where that is unknown)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def idle_cores(seconds: float = IDLE_SAMPLE_SECONDS) -> float | None:
    """Cores the whole machine left idle over the next ``seconds`` (from ``/proc/stat``); None where unknown.

    One short look at process start: a training sees the load that is there when it begins.
    """
    def totals() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as fh:
            ticks = [int(v) for v in fh.readline().split()[1:9]]  # user .. steal (guest is inside user)
        return ticks[3] + ticks[4], sum(ticks)  # idle + iowait, all

    try:
        idle0, all0 = totals()
        time.sleep(seconds)
        idle1, all1 = totals()
    except (OSError, ValueError, IndexError):
        return None
    if all1 <= all0:
        return None
    return (idle1 - idle0) / (all1 - all0) * (os.cpu_count() or 1)


def free_cores(idle: Callable[[], float | None] | None = None) -> int:
    """Threads for a new training: the usable cores that are idle now, at least 1.

    ``idle`` (default ``idle_cores``) is measured over the whole machine and rounded to the nearest core.
    """
    usable = usable_cores()
    measured = (idle or idle_cores)()
    if measured is None:
        return usable
    return max(1, min(usable, int(measured + 0.5)))


def _switch(environ: Mapping[str, str]) -> str | int:
    """``"off"``, ``"auto"`` or the thread count asked for in ``HYDROCAST_THREADS``."""
    raw = (environ.get(SWITCH) or "auto").strip().lower()
    if raw in ("off", "auto"):
        return raw
    try:
        count = int(raw)
    except ValueError:
        count = 0
    if count < 1:
        raise ThreadPolicyError(f"environment variable {SWITCH}={environ.get(SWITCH)!r}: "
                                "use 'auto', 'off' or a positive number of threads")
    return count


def _user_set(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without the variables an earlier application of the policy put there."""
    ours = {name for name in (environ.get(MARK) or "").split(",") if name}
    return {k: v for k, v in environ.items() if k not in ours and k != MARK}


def policy_threads(environ: Mapping[str, str] | None = None,
                   free: Callable[[], int] = free_cores) -> int | None:
    """Intra-op (and numba) threads the policy chooses for a process with ``environ``; None when off.

    ``HYDROCAST_THREADS=N`` wins, then a user's ``OMP_NUM_THREADS``, then the cores free now (``free``),
    divided among the ranks torchrun starts on this machine (``LOCAL_WORLD_SIZE``).
    """
    environ = _user_set(os.environ if environ is None else environ)
    switch = _switch(environ)
    if switch == "off":
        return None
    if isinstance(switch, int):
        return switch
    user = (environ.get("OMP_NUM_THREADS") or "").split(",")[0].strip()
    if user.isdigit() and int(user) > 0:
        return int(user)
    # torchrun ranks on one machine share its free cores (torchrun's own OMP_NUM_THREADS=1 is kept
    # above as a user setting; this covers a launch whose environment already had the policy)
    ranks = environ.get("LOCAL_WORLD_SIZE", "1")
    return max(1, free() // (int(ranks) if ranks.isdigit() and int(ranks) > 0 else 1))


def policy_environment(environ: Mapping[str, str] | None = None,
                       free: Callable[[], int] = free_cores) -> dict[str, str]:
    """The variables the policy puts into ``environ`` (those the user has not set, and ``MARK``).

    Empty when ``HYDROCAST_THREADS=off``. Variables an earlier application set (listed in ``MARK``)
    are chosen afresh: a worker started later counts the cores free at its own start.
    """
    user = _user_set(os.environ if environ is None else environ)
    threads = policy_threads(user, free)
    if threads is None:
        return {}
    explicit = isinstance(_switch(user), int)
    # With every core free, 2 passively waiting threads made the quick dXAJ run 5x slower than
    # OpenMP's default (11.4 s against 2.2 s, bench/shared_cpu.py on a quiet machine): each of its many
    # small parallel regions pays a futex wake-up. So all free cores keep the default wait; passive
    # waiting comes with the single thread chosen beside other work, or with an explicit count.
    quiet = threads > 1 and not explicit
    added = {} if quiet else {name: value for name, value in WAIT_VARIABLES.items() if name not in user}
    for name in THREAD_VARIABLES:
        if explicit or name not in user:
            added[name] = str(threads)
    added[MARK] = ",".join(sorted(added))
    return added


def apply_environment(environ: MutableMapping[str, str] | None = None,
                      free: Callable[[], int] = free_cores) -> dict[str, str]:
    """Put the policy into ``environ`` (default ``os.environ``); returns the variables it set.

    OpenMP reads these once, when its library is loaded: call this before ``import torch`` or
    ``import numba`` in the process (children started afterwards inherit them). ``import core`` does.
    """
    environ = os.environ if environ is None else environ
    added = policy_environment(environ, free)
    if not added and MARK in environ:  # switched off: drop what an earlier application set
        for name in [*environ[MARK].split(","), MARK]:
            environ.pop(name, None)
    environ.update(added)
    return added


def worker_environment(base: Mapping[str, str] | None = None,
                       free: Callable[[], int] = free_cores) -> dict[str, str]:
    """A copy of ``base`` (default ``os.environ``) with the policy chosen afresh, for a training subprocess."""
    env = dict(os.environ if base is None else base)
    apply_environment(env, free)
    return env
