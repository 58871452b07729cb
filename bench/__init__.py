"""The sdr benchmark: the real fleet (the Procfile's processes) against the protocol stand-ins,
measured against the performance budgets of DESIGN §9. Run it with ``python -m bench`` (or
``make bench``); results are written to ``docs/benchmarks.md``.

Modules: ``cli`` (options, order of the phases), ``rig`` (everything a run sets up and tears
down), ``services`` (throwaway database, claimed Redis index), ``fleet`` (the Procfile's processes
as subprocesses), ``loadgen`` (open-loop HTTP load generator, run as its own process),
``workload`` (webhook bodies and schedules), ``replies`` (matching replies to leads), the
measurements ``webhook``, ``turns``, ``memory`` and ``costs``, ``cpu`` (where the machine's CPU
goes), ``stats``, ``machine`` and ``report``.
"""
