"""Stand-in for the two parts of ``cdlib`` (GiulioRossetti/cdlib) that CSGCL's reference code uses:
``algorithms.leiden`` and ``utils.convert_graph_formats`` (networkx graphs only).

cdlib itself is not installed here (it pulls in a dozen community-detection packages); CSGCL's
``src/functional.py`` only calls ``algorithms.leiden(g).communities`` (its ``--cd`` default) and
``convert_graph_formats(g, nx.Graph)``. Put the folder holding this package on ``PYTHONPATH``
(the ``csgcl`` parity adapter does).
"""
from . import algorithms, utils  # noqa: F401
