"""Parameters declared once: each estimator lists its parameters'
constraints in scikit-learn's ``_parameter_constraints`` form; this module
checks them (raising farout's :class:`~farout.exceptions.InputError`, which
names the parameter) and gives the command line its choices from them.
"""

from sklearn.utils._param_validation import (
    InvalidParameterError,
    StrOptions,
    validate_parameter_constraints,
)

from .exceptions import InputError

__all__ = ["check_params", "choices"]


def check_params(est):
    """Refuse any parameter of ``est`` outside its declared constraints."""
    try:
        validate_parameter_constraints(
            est._parameter_constraints,
            est.get_params(deep=False),
            caller_name=type(est).__name__,
        )
    except InvalidParameterError as exc:
        raise InputError(str(exc)) from None


def choices(cls, name):
    """The text values parameter ``name`` of ``cls`` accepts, sorted."""
    options = set()
    for constraint in cls._parameter_constraints[name]:
        if isinstance(constraint, StrOptions):
            options |= constraint.options - constraint.deprecated
    return sorted(options)
