"""Parity checks (tests/parity/checks.py) over shard 2 of 3 of the projects."""

from .checks import *  # noqa: F403  (the checks, collected here for this shard)
from .checks import shard

pytestmark = shard(1)
