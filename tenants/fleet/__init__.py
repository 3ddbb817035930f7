"""Fleet migrations: every tenant's storage brought to the tenant app's head, in parallel.

``tenants migrate`` (see :mod:`tenants.cli`) drives :func:`tenants.fleet.runner.run`;
the ledger (:mod:`tenants.fleet.ledger`) records each run and each tenant in the
platform database so that a run killed half-way goes on where it stopped; the workers
(:mod:`tenants.fleet.worker`) migrate tenants in processes of their own.
"""
