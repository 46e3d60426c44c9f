"""The 0.2 import path of the file jobs, which live in :mod:`farout.jobs`
since 0.3 (``from farout.batch import score_file`` keeps working)."""

import warnings

from .features.schema import model_columns, read_dtypes
from .jobs import fit_file, iter_frames, score_file

__all__ = ["fit_file", "iter_frames", "model_columns", "read_dtypes", "score_file"]

warnings.warn(
    "farout.batch is deprecated since farout 0.3 and will be removed in 0.5; "
    "import from farout.jobs instead.",
    FutureWarning,
    stacklevel=2,
)
