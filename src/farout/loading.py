"""``farout.load``: any saved farout estimator, chosen by the class name its
model file records. Nothing is unpickled."""

from .detector import KMeansAnomalyDetector
from .exceptions import ModelFileError
from .persistence import farout_version, read_manifest, read_state
from .secondary import SecondaryCheck
from .streaming import StreamDetector

__all__ = ["ESTIMATORS", "load"]

#: The estimators a model file may hold, by the name it records.
ESTIMATORS = {cls.__name__: cls for cls in (KMeansAnomalyDetector, SecondaryCheck, StreamDetector)}


def load(path):
    """Load a model file written by any farout estimator's ``save``.

    A file of a :class:`KMeansAnomalyDetector` (of this format or of farout
    0.2's) gives the detector; a file of a :class:`SecondaryCheck` gives the
    check; a checkpoint of a :class:`~farout.streaming.StreamDetector` the
    stream detector, ready to resume. Nothing is unpickled: the file is a zip of a JSON manifest and
    ``.npy`` arrays whose SHA-256 hashes are checked.

    Raises
    ------
    ModelFileError
        The file is missing, damaged, not a farout model, or holds an
        estimator this version does not know.
    """
    name = read_manifest(path).get("estimator")
    if name not in ESTIMATORS:
        raise ModelFileError(
            f"the model file holds a {name!r}; farout {farout_version()} loads "
            f"{', '.join(sorted(ESTIMATORS))}."
        )
    return ESTIMATORS[name].from_state(read_state(path, name))
