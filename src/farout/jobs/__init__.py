"""File jobs: scoring a file of any size (:mod:`.scoring`), and fitting on a
file larger than memory (:mod:`.fitting`) from a uniform sample
(:mod:`.sampling`), both read through :mod:`.blocks`; and running the
stream detector over a file or a pipe (:mod:`.stream`)."""

from .blocks import iter_frames
from .fitting import fit_file
from .sampling import Reservoir
from .scoring import score_file
from .stream import stream_file

__all__ = ["Reservoir", "fit_file", "iter_frames", "score_file", "stream_file"]
