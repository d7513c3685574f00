"""Multi-process sweeps under ``jax.distributed``: every process owns its shard of the grid.

:func:`scsc_theory.sweep.run_sweep` builds its mesh from ``jax.devices()`` (all processes'
devices), creates the config arrays with ``jax.make_array_from_callback`` (each process
materialises only its own shard) and gathers records with ``process_allgather``; process 0 writes
the checkpoint and the results (the output folder must be on a filesystem all processes see, for
resuming).

On CPU, collectives need gloo, which must be chosen *before* ``jax.distributed.initialize``.

Launch on a cluster (one process per host; same command everywhere except --process-id)::

    # host 0 (its address is the coordinator)
    scsc sweep --family gmm --data mixture --lam 0.1:2:16 --gamma 0:4:9 --seeds 8 \\
        --generations 200 --out /shared/sweeps/gmm \\
        --coordinator host0:12355 --num-processes 4 --process-id 0
    # hosts 1..3: the same with --process-id 1, 2, 3

Under SLURM: ``srun -N 4 -n 4 bash -c 'scsc sweep ... --coordinator $(scontrol show hostnames
$SLURM_JOB_NODELIST | head -1):12355 --num-processes $SLURM_NTASKS --process-id $SLURM_PROCID'``.
Two processes on one machine (what the tests do): ``--coordinator 127.0.0.1:PORT`` with ids 0, 1.
"""
from __future__ import annotations

from ._validate import SCSCInputError, check_int


def initialize(coordinator: str, num_processes: int, process_id: int) -> None:
    """``jax.distributed.initialize`` with gloo CPU collectives (a no-op if already initialized)."""
    import jax

    num_processes = check_int("num_processes", num_processes, 1)
    process_id = check_int("process_id", process_id, 0, num_processes - 1)
    if not isinstance(coordinator, str) or ":" not in coordinator:
        raise SCSCInputError(f"coordinator must be HOST:PORT (got {coordinator!r})")
    try:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    except Exception:  # pragma: no cover - option renamed in a future jax
        pass
    if jax.distributed.is_initialized():
        return
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes, process_id=process_id)
