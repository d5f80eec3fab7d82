"""Recommendation data: the interaction dataset, readers, splits, named datasets
and negative sampling."""
from graphcl.data.interactions import DataFormatError, InteractionDataset
from graphcl.data.named import (DatasetNotFoundError, describe_datasets, download, list_datasets, load,
                                load_atomic_dataset, resolve_data_root)
from graphcl.data.sampling import UniformNegativeSampler, bpr_triples


def load_text_graph(nodes, edges, **kwargs):
    """A text-attributed graph (PyG ``Data``) from your own node-text and edge files;
    see :func:`graphcl.data.tag.load_text_graph`."""
    from graphcl.data.tag import load_text_graph as _load
    return _load(nodes, edges, **kwargs)


def load_node_dataset(name, root=None, download=False):
    """A node-classification graph (PyG ``Data``) by name; see :mod:`graphcl.data.nodes`."""
    from graphcl.data.nodes import load_node_dataset as _load
    return _load(name, root=root, download=download)

__all__ = ["InteractionDataset", "DataFormatError", "DatasetNotFoundError", "load", "download",
           "describe_datasets", "list_datasets", "resolve_data_root", "load_atomic_dataset",
           "UniformNegativeSampler", "bpr_triples", "load_node_dataset", "load_text_graph"]
from graphcl.data.sequences import SequenceDataset, load_atomic_sequences, read_sequence_lines  # noqa: E402

__all__ += ["SequenceDataset", "load_atomic_sequences", "read_sequence_lines"]
