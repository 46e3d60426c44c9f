"""Model files: the zip container (:mod:`.container`) and the codec that
maps component states to it (:mod:`.codec`)."""

from .codec import jsonable, read_state, state_to_tree, tree_to_state, write_state
from .container import (
    FORMAT,
    FORMAT_VERSION,
    farout_version,
    read_manifest,
    read_model,
    write_model,
)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "farout_version",
    "jsonable",
    "read_manifest",
    "read_model",
    "read_state",
    "state_to_tree",
    "tree_to_state",
    "write_model",
    "write_state",
]
