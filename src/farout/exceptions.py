"""Domain errors: each says what was wrong, where, and what to do.

Every error carries the exit code the command line turns it into, so the CLI
maps errors to output in one place. Input and model-file errors subclass
``ValueError`` so scikit-learn conventions (``ValueError`` on bad data) hold.
"""

__all__ = ["FaroutError", "FaroutWarning", "InputError", "ModelFileError", "shown"]


class FaroutError(Exception):
    """Base class of farout's own errors."""

    exit_code = 1


class InputError(FaroutError, ValueError):
    """Bad data or a bad parameter: names the column, row or parameter.

    ``row`` (the row's index label) and ``column``, where the error is about
    one cell, let a caller such as the service report them as fields.
    """

    exit_code = 2

    def __init__(self, message, *, row=None, column=None):
        super().__init__(message)
        self.row, self.column = row, column


class FaroutWarning(UserWarning):
    """Something farout did that the user should know of (the CLI prints it
    as one line)."""


class ModelFileError(FaroutError, ValueError):
    """A model file that is not a valid, untampered farout model."""

    exit_code = 2


def shown(value):
    """``repr`` of a value for a message, a NumPy scalar as the plain Python
    number it holds (``5``, not ``np.int64(5)``)."""
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "ndim", None) == 0:
        value = item()
    return repr(value)
