"""Benchmarks: metricloss against hand-written native code, eager and compiled.

Entry point: ``python benchmarks/run.py`` (``--quick`` for the CI smoke run). See
``benchmarks/README.md`` for what is measured and how.
"""
