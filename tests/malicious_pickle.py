"""A pickle payload for the checkpoint-safety tests."""
import os
import shlex
from pathlib import Path


class RunsShellOnUnpickle:
    """Unpickling this runs ``touch <marker>``: a stand-in for malware."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {shlex.quote(str(self.marker))}', )
