"""The one trainer and what both halves share; imports neither half (each hands the trainer a task).

- ``trainer``      :func:`~core.training.trainer.fit`, the only epoch loop: DDP and sampler, resume,
                   early stopping, best/last checkpoints, history, NaN guard, clipping, AMP,
                   accumulation, ``max_minutes``, learning-rate schedule, cancel and progress
- ``trainer_keys`` the ``train.*`` key rows the trainer reads, for both halves' key tables
- ``precision``    when autocast pays off, in which dtype

- ``checkpoint``   atomic save, safe load (``weights_only=True``), errors naming the file
- ``rng``          seeding and capture/restore of the Python, NumPy, torch CPU and CUDA generators
- ``distributed``  the one torchrun / DDP set-up (process group, rank, all-reduce, barrier)
- ``lifecycle``    the worker: SIGTERM/SIGINT -> ``cancelled``, error -> ``failed``, status and
                   progress writing, the epoch convention
- ``config``       the strict YAML config loader (duplicate and unknown keys, types and ranges,
                   overlapping periods); value types in ``config_types``; the key tables live with
                   their halves (``core.hydro.config_schema``, ``core.rain.config``)
- ``optimizers``   ``OPTIMIZERS`` and ``get_optimizer(name)``

The normalisation both models fit on the training period is :class:`core.data.normalize.Normalizer`
(in the data layer, below both halves).
"""
