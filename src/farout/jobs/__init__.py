"""File jobs: scoring a file of any size (:mod:`.scoring`), and fitting on a
file larger than memory (:mod:`.fitting`) from a uniform sample
(:mod:`.sampling`); both read through :mod:`.blocks`."""

from .blocks import iter_frames
from .fitting import fit_file
from .sampling import Reservoir
from .scoring import score_file

__all__ = ["Reservoir", "fit_file", "iter_frames", "score_file"]
