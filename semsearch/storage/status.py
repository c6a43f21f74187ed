"""Which state an index is in, and which command finishes it: one answer shared by `check` and `info`.

An index is written by a command nobody may be watching (cron), so a look at it must tell a new index whose first
update has not committed from a damaged one, and an update in progress from one that was interrupted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from semsearch.storage.locking import is_locked
from semsearch.storage.store import Store

# The states, from a new folder to a finished index.
NEW = "new"  # no update has committed papers yet (one may be running, or it was interrupted)
UPDATING = "updating"  # papers are committed and an update is writing more now
INTERRUPTED = "interrupted"  # papers are committed; an update stopped before its commit and left vectors for a rerun
READY = "ready"


@dataclass(frozen=True)
class IndexStatus:
    """An index's state, one line saying what it means and what to run (None when there is nothing to say), and
    why no vector file is recorded when none is (None when one is)."""

    state: str
    message: str | None
    writing: bool
    no_vector_file_because: str | None = None

    @property
    def is_new(self) -> bool:
        """No papers committed yet: nothing to check or search, and nothing wrong."""
        return self.state == NEW


def index_status(store: Store, folder: Path) -> IndexStatus:
    """The state of the index open in `store` (read in the caller's snapshot, if any)."""
    state = store.state()
    papers = store.paper_count()
    pending = store.pending_count()
    writing = bool(is_locked(folder))
    kept = f"{pending} vectors embedded so far" if pending else ""
    if papers == 0 and state.files.vector_file is None:
        if writing:
            so_far = f" ({kept})" if pending else ""
            message = f"the index has no papers yet: its first update is writing to it now{so_far}"
            why = "the first update has not committed yet"
        elif state.model is None and not pending:
            message = "the index has no papers yet; add some with `semsearch update DIGEST_OR_FOLDER`"
            why = "no papers yet"
        else:
            so_far = f" ({kept} are kept)" if pending else ""
            message = (
                f"the index has no papers yet: its first update did not finish{so_far}; "
                "run the same `semsearch update` again"
            )
            why = "the first update did not finish"
        return IndexStatus(NEW, message, writing, why)
    why = None if state.files.vector_file else "none is recorded; run `semsearch rebuild --reuse-vectors`"
    if writing:
        message = "an update is writing to this index now; searches answer from what it held before until it commits"
        if pending:
            message += f" ({kept})"
        return IndexStatus(UPDATING, message, writing, why)
    if pending:
        message = (
            f"an update or rebuild was interrupted before its commit: the {kept} are kept; run the same command "
            "again to finish it"
        )
        return IndexStatus(INTERRUPTED, message, writing, why)
    return IndexStatus(READY, None, writing, why)
