"""One transient Ray Tune error, told in one line instead of a 20-line traceback.

Tune uploads the experiment's state folder in a background thread while its main thread writes the searcher's
state there through a temporary file; when the upload lists that file just before it is renamed, pyarrow fails
with FileNotFoundError on ``.<uuid>-tmp-searcher-state...`` and Tune logs the traceback as an ERROR. The next save
uploads the state again (seen once in four test-suite runs, the sweep unharmed). Every other error is left as
it is.
"""

from __future__ import annotations

import logging

EXPERIMENT_STATE_LOGGER = "ray.tune.execution.experiment_state"  # Tune's public module that logs it


class TempFileRaceFilter(logging.Filter):
    """Rewrites the record of that race into one line; passes every other record unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, FileNotFoundError) and "-tmp-" in str(error):
            record.msg = "Tune's state upload met a temp file being renamed; the next save uploads it again"
            record.args, record.exc_info, record.exc_text, record.levelno = (), None, None, logging.WARNING
            record.levelname = "WARNING"
        return True


def tell_temp_file_races_in_one_line() -> None:
    logger = logging.getLogger(EXPERIMENT_STATE_LOGGER)
    if not any(isinstance(f, TempFileRaceFilter) for f in logger.filters):
        logger.addFilter(TempFileRaceFilter())
