"""Our CSR GCN equals PyG's GCNConv (values and gradients), dense or sparse features."""
import torch
from torch_geometric.nn import GCNConv

from graphcl.nn.gcn import GCNEncoder, GCNLayer, gcn_norm_graph


def _graph(n=30, e=120, seed=0):
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=g)  # directed, with possible self loops/duplicates
    return ei


def test_layer_matches_pyg_gcnconv_on_a_directed_graph():
    n, ei = 30, _graph()
    x = torch.rand(n, 8, dtype=torch.float64)
    conv = GCNConv(8, 5).double()
    ours = GCNLayer(8, 5).double()
    with torch.no_grad():
        ours.weight.copy_(conv.lin.weight.T)
        ours.bias.copy_(conv.bias)
    graph = gcn_norm_graph(ei, n)
    graph = graph.to(dtype=torch.float64)
    torch.testing.assert_close(ours(x, graph), conv(x, ei))


def test_sparse_features_give_the_same_values_and_gradients():
    n, ei = 30, _graph(seed=1)
    x = (torch.rand(n, 40) < 0.1).float()
    enc = GCNEncoder(40, 6, num_layers=2, activation="prelu")
    out_dense = enc(x, ei)
    out_dense.sum().backward()
    grads = [p.grad.clone() for p in enc.parameters()]
    enc.zero_grad()
    out_sparse = enc(x.to_sparse_csr(), ei)
    out_sparse.sum().backward()
    torch.testing.assert_close(out_sparse, out_dense)
    for g, p in zip(grads, enc.parameters()):
        torch.testing.assert_close(p.grad, g)
