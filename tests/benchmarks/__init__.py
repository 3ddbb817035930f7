"""Benchmarks of the platform's costs, with goals: ``python tests/benchmarks/run.py``.

Not part of the test run (no ``test_`` files here); ``tests/test_benchmark_smoke.py``
runs ``--quick`` once to check that every figure is produced.
"""
