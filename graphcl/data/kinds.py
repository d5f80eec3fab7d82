"""What kind of training data an object is: the vocabulary of
:attr:`graphcl.method_spec.MethodSpec.data_kind`."""
from __future__ import annotations

from typing import Any

__all__ = ["data_kind_of"]


def data_kind_of(data: Any) -> str:
    """``"interactions"``, ``"sequences"``, ``"graph"`` (a PyG ``Data``) or ``"hetero"`` (a
    ``HeteroData``); ``""`` for anything else. PyG is imported only when the object is
    neither of graphcl's own dataset types."""
    from graphcl.data.interactions import InteractionDataset
    from graphcl.data.sequences import SequenceDataset
    if isinstance(data, InteractionDataset):
        return "interactions"
    if isinstance(data, SequenceDataset):
        return "sequences"
    from torch_geometric.data import Data, HeteroData  # ~2 s to import: only for graphs
    if isinstance(data, HeteroData):
        return "hetero"
    if isinstance(data, Data):
        return "graph"
    return ""
