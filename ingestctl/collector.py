"""The CLI's garbage-collector policy: no collections while it starts up, none at exit.

Importing Dagster, LanceDB and pyarrow creates about a million long-lived objects; with CPython's
default thresholds the collector walks them repeatedly during start-up and once more at exit,
about a third of a no-op `ingestctl ingest`.
"""

from __future__ import annotations

import gc


def pause_for_startup() -> None:
    gc.disable()


def resume_for_work() -> None:
    """Before long work: what start-up created is kept out of every later collection."""
    gc.freeze()
    gc.enable()


def skip_at_exit() -> None:
    gc.freeze()
