"""DAG-level hooks."""

from ploomber.exceptions import DAGBuildEarlyStop


def stop_after_build(report):
    """Stop gracefully once the pipeline has run (e.g. nothing to publish today)."""
    raise DAGBuildEarlyStop(f"nothing to publish after {len(report)} task(s)")
