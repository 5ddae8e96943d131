"""The machine a process runs on: device choice (``device``), thread counts and OpenMP waiting
(``threads``), heap settings (``heap``).

Empty on purpose: ``import core`` loads ``core.machine.threads`` before torch or numba, and that
must not pull torch in with it (``device`` imports torch).
"""
