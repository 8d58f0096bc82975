"""Settings read once from the environment: threads, memory limit, part size, temporary folder.

Every module that needs one of them asks :func:`settings` (or the engine it was given, which
holds the settings it was created with); nothing else reads these environment variables.

========================== ===============================================================
``CUSTSEG_THREADS``        threads of the engine and parallel fits (default: usable cores)
``CUSTSEG_MEMORY_LIMIT``   memory limit of the engine, e.g. ``4GB`` (default: the engine's)
``CUSTSEG_PARTITION_LINES`` lines cleaned at once (default 15 million)
``CUSTSEG_SPARK_MASTER``   Spark master of ``--engine spark`` (default ``local[*]``)
``CUSTSEG_LOCAL_CUSTOMERS`` customers brought back to Python at most; beyond, an engine that
                           clusters (Spark) runs K-Means itself (default 20 million)
``CUSTSEG_CLUSTER_SAMPLE``  customers of the sample k is chosen on when K-Means runs in the
                           engine (default 1 million)
``TMPDIR``                 where temporary files and what the engine spills go
========================== ===============================================================
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

from custseg.errors import CustsegError

#: lines cleaned at once when ``CUSTSEG_PARTITION_LINES`` is not set (see
#: :func:`custseg.stages.audit.partition.partitions`: the 4 GiB budget of 100 M lines)
PARTITION_LINES = 15_000_000
#: customers brought back to Python at most when ``CUSTSEG_LOCAL_CUSTOMERS`` is not set
LOCAL_CUSTOMERS = 20_000_000
#: customers k is chosen on, when K-Means runs in the engine, if ``CUSTSEG_CLUSTER_SAMPLE`` is not set
CLUSTER_SAMPLE = 1_000_000


def _whole(environ: Mapping[str, str], name: str) -> int | None:
    """A positive whole number from the environment; ``None`` when unset, empty or ≤ 0."""
    text = environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise CustsegError(
            f"{name}={text!r} is not a whole number; set it to a number such as 4, or unset it"
        ) from None
    return value if value > 0 else None


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the system tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


@dataclass(frozen=True)
class Settings:
    """Resource settings of a run.

    Parameters
    ----------
    threads : threads of the engine and of parallel fits; ``None`` uses every usable core.
    memory_limit : memory limit of the engine (``"4GB"``); ``None`` keeps the engine's default.
    partition_lines : lines cleaned at once; larger inputs are cleaned in parts.
    temp_dir : folder of temporary files (transcoded inputs, parts, engine spill).
    spark_master : master of the Spark engine (``local[4]``, ``spark://host:7077``,
        ``sc://host:15002`` for Spark Connect); ``None``: ``local`` with :attr:`threads`.
    local_customers : customers brought back to Python at most: beyond, an engine that can
        cluster (Spark, MLlib) runs the final K-Means on every customer itself.
    cluster_sample : customers of the seeded sample the segmenter (k, preparation) is fitted
        on when K-Means runs in the engine.

    Examples
    --------
    >>> s = Settings.from_env({"CUSTSEG_THREADS": "2", "TMPDIR": "/tmp"})
    >>> s.threads, s.memory_limit, s.partition_lines, s.temp_dir
    (2, None, 15000000, '/tmp')
    """

    threads: int | None = None
    memory_limit: str | None = None
    partition_lines: int = PARTITION_LINES
    temp_dir: str = "/tmp"
    spark_master: str | None = None
    local_customers: int = LOCAL_CUSTOMERS
    cluster_sample: int = CLUSTER_SAMPLE

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from environment variables (``os.environ`` by default)."""
        env = os.environ if environ is None else environ
        if environ is None:
            temp_dir = tempfile.gettempdir()  # TMPDIR, TEMP or TMP, else the system's
        else:
            temp_dir = env.get("TMPDIR") or tempfile.gettempdir()
        return cls(
            threads=_whole(env, "CUSTSEG_THREADS"),
            memory_limit=env.get("CUSTSEG_MEMORY_LIMIT", "").strip() or None,
            partition_lines=_whole(env, "CUSTSEG_PARTITION_LINES") or PARTITION_LINES,
            spark_master=env.get("CUSTSEG_SPARK_MASTER", "").strip() or None,
            local_customers=_whole(env, "CUSTSEG_LOCAL_CUSTOMERS") or LOCAL_CUSTOMERS,
            cluster_sample=_whole(env, "CUSTSEG_CLUSTER_SAMPLE") or CLUSTER_SAMPLE,
            temp_dir=temp_dir,
        )

    @property
    def workers(self) -> int:
        """Tasks to run side by side: the usable cores, capped by :attr:`threads`."""
        cores = usable_cores()
        return max(1, min(cores, self.threads) if self.threads else cores)


@functools.cache
def settings() -> Settings:
    """The settings of this process, read from the environment on first use.

    ``settings.cache_clear()`` makes the next call read the environment again (tests that
    change a variable do so).
    """
    return Settings.from_env()
