"""SDCN-style autoencoder pretraining, seeded and optionally cached on disk.

``pretrained_autoencoder(x, dims, ...)`` builds the encoder MLP ``dims`` and its
mirror decoder, initializes both from a generator seeded with ``seed`` (the
distribution of ``nn.Linear``'s default init: U(−1/√fan_in, 1/√fan_in) for
weights and biases), and trains them on the reconstruction MSE in shuffled
mini-batches with Adam (SDCN's ``pretrain_ae``: 30 epochs, batch 256, lr 1e-3).
The result is a pure function of the features, the widths, the pretraining
settings and the seed, so it can be cached: with ``cache_dir`` the trained
weights are stored under a key hashing all of those (plus the torch version
and device type), written atomically, and reused by later runs (SCGC and PamC
share them, as the authors share SDCN's pretrained files). A cache file that
cannot be read or does not fit is reported and recomputed, never used.
"""
from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from graphcl.io import atomic_write_bytes
from graphcl.nn.mlp import MLP


def init_mlp_(mlp: MLP, generator: torch.Generator) -> None:
    """Re-initialize every layer from ``generator``: U(−1/√fan_in, 1/√fan_in)."""
    with torch.no_grad():
        for layer in mlp.layers:
            bound = 1.0 / math.sqrt(layer.in_features)
            for p in (layer.weight, layer.bias):
                p.copy_(torch.rand(p.shape, generator=generator, device=generator.device)
                        .to(p.device).mul_(2 * bound).sub_(bound))


def pretrain_autoencoder(encoder: nn.Module, decoder: nn.Module, x: torch.Tensor, epochs: int,
                         batch_size: int, lr: float, generator: torch.Generator) -> float:
    """Mini-batch reconstruction pretraining (MSE, Adam), SDCN's ``pretrain_ae``.
    Returns the final full-data MSE (NaN when ``epochs`` is 0: nothing trained)."""
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"pretraining needs epochs >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
    if epochs == 0:
        return float("nan")
    params = list(encoder.parameters()) + list(decoder.parameters())
    opt = torch.optim.Adam(params, lr=lr)
    n = x.size(0)
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator, device=generator.device).to(x.device)
        for idx in order.split(batch_size):
            xb = x[idx]
            loss = F.mse_loss(decoder(encoder(xb)), xb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad():
        return float(F.mse_loss(decoder(encoder(x)), x))


def _cache_key(x: torch.Tensor, dims: Sequence[int], epochs: int, batch_size: int, lr: float,
               seed: int) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"dims": list(dims), "epochs": epochs, "batch_size": batch_size, "lr": lr,
                         "seed": seed, "torch": torch.__version__, "device": x.device.type,
                         "shape": list(x.shape)}, sort_keys=True).encode())
    h.update(x.detach().float().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:32]


def pretrained_autoencoder(x: torch.Tensor, dims: Sequence[int], epochs: int = 30, batch_size: int = 256,
                           lr: float = 1e-3, seed: int = 0,
                           cache_dir: str | Path | None = None) -> tuple[MLP, MLP, float, bool]:
    """Encoder ``dims``, decoder ``dims[::-1]``, pretrained on ``x`` (dense); returns
    ``(encoder, decoder, final_mse, from_cache)``. See the module docstring."""
    dims = [int(d) for d in dims]
    if x.layout != torch.strided:
        raise ValueError("pretraining needs dense features")
    if dims[0] != x.size(1):
        raise ValueError(f"the encoder's input width {dims[0]} differs from the {x.size(1)} features")
    encoder, decoder = MLP(dims).to(x.device), MLP(dims[::-1]).to(x.device)
    path = None
    if cache_dir:
        path = Path(cache_dir) / f"ae-{_cache_key(x, dims, epochs, batch_size, lr, seed)}.pt"
        if path.is_file():
            try:
                state = torch.load(path, map_location=x.device, weights_only=True)
                encoder.load_state_dict(state["encoder"])
                decoder.load_state_dict(state["decoder"])
                return encoder, decoder, float(state["mse"]), True
            except Exception as exc:  # unreadable or foreign: recompute and overwrite
                warnings.warn(f"ignoring the pretraining cache file {path}: {exc}", stacklevel=2)
                encoder, decoder = MLP(dims).to(x.device), MLP(dims[::-1]).to(x.device)
    gen = torch.Generator(device=x.device).manual_seed(int(seed))
    init_mlp_(encoder, gen)
    init_mlp_(decoder, gen)
    mse = pretrain_autoencoder(encoder, decoder, x, epochs, batch_size, lr, gen)
    if path is not None:
        state = {"encoder": encoder.state_dict(), "decoder": decoder.state_dict(), "mse": mse}
        atomic_write_bytes(path, lambda fh: torch.save(state, fh))
    return encoder, decoder, mse, False
