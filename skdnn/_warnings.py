"""Warnings shown once per cause, even where scikit-learn resets Python's record.

Python's default filter shows a warning once per place in the code, keeping
its record in the calling module. Every fit of a scikit-learn search (and
each of joblib's calls) runs inside ``warnings.catch_warnings()``, which
resets that record, so the same ``ConvergenceWarning`` would be printed once
per fit: 18 times for a small grid search. skdnn keeps its own record of the
messages it has shown in this process and shows each one once, unless the
user's filters ask for every occurrence (``"always"``), which is respected.
"""

import re
import threading
import warnings

_lock = threading.Lock()
_shown = set()


def _always_shown(message, category):
    """Whether the active filters show every occurrence of this warning."""
    for action, message_re, filter_category, _, _ in warnings.filters:
        if not issubclass(category, filter_category):
            continue
        if message_re is not None and not re.match(message_re, message):
            continue
        return action == "always"
    return False


def warn_once(message, category, stacklevel):
    """``warnings.warn(message, category)``, once per message in this process.

    ``stacklevel`` counts from the caller of this function, as for
    ``warnings.warn``.
    """
    if not _always_shown(message, category):
        with _lock:
            if (category, message) in _shown:
                return
            _shown.add((category, message))
    warnings.warn(message, category, stacklevel=stacklevel + 1)
