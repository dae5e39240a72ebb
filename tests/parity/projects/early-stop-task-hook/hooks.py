"""Task-level hooks."""

from pathlib import Path

from ploomber.exceptions import DAGBuildEarlyStop


def stop_if_no_new_data(product):
    """End the build gracefully when the check found nothing new."""
    if Path(str(product)).read_text().strip() == "new=0":
        raise DAGBuildEarlyStop("no new data: nothing to publish")
