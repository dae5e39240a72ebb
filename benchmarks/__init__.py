"""nbgov's benchmark suite: nbgov and its anchor tool side by side, alternating, medians, ratios.

Run everything with ``python -m benchmarks`` (``make bench``); ``--quick`` is the tiny smoke the
test suite runs; ``--only build,diff`` picks benchmarks. Results: a table on stdout and
``benchmarks/results/latest.json``.
"""
