"""``contrast``: a node-level contrastive method composed in config, views x encoder x loss
(:class:`graphcl.contrast.Contrast`).

Config keys (besides the node training keys): ``view1``, ``view2`` (lists of view
operations, e.g. ``[edge_drop: {p: 0.2}, feature_mask: {p: 0.3}]``), ``encoder``
(``{gcn: {out: 128, layers: 2, activation: relu}}``, ``mlp``, ``pyg``), ``projector``
(``{mlp: {hidden: 128}}`` or null) and ``loss`` (``{infonce: {tau: 0.4}}``,
``barlow_twins``, ``dgi``, ``bootstrap``). The defaults are GRACE's Cora recipe (its paper's
Table 5), and the presets for cora and citeseer are GRACE's: with them,
and GRACE's other settings, ``contrast`` draws the same views, builds the same
parameters in the same order and computes the same loss as ``grace`` for the same seed
(``tests/test_contrast_method.py`` checks the losses and embeddings are equal).
GAugLLM's LLM views (``gaugllm_features``, ``gaugllm_edge_edits``) compose with any encoder and
loss on a graph with node texts: the method then generates the LLM augmentation (through the
response cache) with the ``gaugllm`` method's generation settings updated by
``text_augmentation`` (e.g. ``{llm: default, llm_cache: cache.sqlite, k_add: 3}``).
CSGCL is the composition :func:`csgcl_recipe` (CED + CAV views, the ``team_up`` loss;
``experiments/configs/contrast/csgcl_cora.yaml``), equal to ``csgcl`` for the same seed
(``tests/test_contrast_csgcl.py``).

    graphcl train contrast --dataset cora --config experiments/configs/contrast/grace_cora.yaml
"""
from __future__ import annotations

from typing import Any

import torch

from graphcl.contrast import Contrast, GraphView
from graphcl.contrast.gaugllm_ops import TEXT_AUGMENTATION_KEY
from graphcl.errors import ConfigError
from graphcl.models.node.base import NODE_TRAIN_DEFAULTS, NodeMethod
from graphcl.models.node.grace import GRACE_PRESETS
from graphcl.registry import MethodSpec, register_method

CONTRAST_DEFAULTS: dict[str, Any] = {
    **NODE_TRAIN_DEFAULTS,
    "epochs": 200, "lr": 5e-4, "weight_decay": 1e-5,
    "view1": [{"edge_drop": {"p": 0.2}}, {"feature_mask": {"p": 0.3}}],
    "view2": [{"edge_drop": {"p": 0.4}}, {"feature_mask": {"p": 0.4}}],
    "encoder": {"gcn": {"out": 128, "layers": 2, "activation": "relu"}},
    "projector": {"mlp": {"hidden": 128}},
    "loss": {"infonce": {"tau": 0.4}},
    # GAugLLM's LLM generation settings, read only when a view has gaugllm_features or
    # gaugllm_edge_edits (keys of the gaugllm method: llm, llm_cache, text_encoder, k_add, ...)
    "text_augmentation": {},
}



def grace_recipe(preset: dict[str, Any]) -> dict[str, Any]:
    """GRACE's settings (its preset keys) as a composition: the same views, encoder, head and loss."""
    return {"lr": preset["lr"], "weight_decay": preset["weight_decay"], "epochs": preset["epochs"],
            "view1": [{"edge_drop": {"p": preset["p_e1"]}}, {"feature_mask": {"p": preset["p_f1"]}}],
            "view2": [{"edge_drop": {"p": preset["p_e2"]}}, {"feature_mask": {"p": preset["p_f2"]}}],
            "encoder": {"gcn": {"out": preset["hidden_dim"], "layers": 2, "activation": preset["activation"]}},
            "projector": {"mlp": {"hidden": preset["proj_dim"]}},
            "loss": {"infonce": {"tau": preset["tau"]}}}


def csgcl_recipe(preset: dict[str, Any]) -> dict[str, Any]:
    """CSGCL's settings (the ``csgcl`` method's config keys) as a composition: CED and CAV views
    (communities seeded by the run's seed, as ``csgcl``), GRACE's encoder and head, the team-up
    loss. With it ``contrast`` computes what ``csgcl`` computes for the same seed."""
    community = {"method": preset["community_method"]}
    return {**grace_recipe(preset),
            "view1": [{"communal_edge_drop": {"p": preset["p_e1"], "threshold": preset["ced_threshold"], **community}},
                      {"communal_attribute_voting": {"p": preset["p_f1"], "threshold": preset["cav_threshold"],
                                                     **community}}],
            "view2": [{"communal_edge_drop": {"p": preset["p_e2"], "threshold": preset["ced_threshold"], **community}},
                      {"communal_attribute_voting": {"p": preset["p_f2"], "threshold": preset["cav_threshold"],
                                                     **community}}],
            "loss": {"team_up": {"tau": preset["tau"], "t0": preset["t0"], "gamma_max": preset["gamma_max"],
                                 **community}}}


#: GRACE's paper settings per dataset, as compositions (``graphcl train contrast --dataset citeseer``
#: is GRACE on CiteSeer)
CONTRAST_PRESETS: dict[str, dict[str, Any]] = {name: grace_recipe(preset) for name, preset in GRACE_PRESETS.items()}


def text_augmentation(data: Any, settings: dict[str, Any]) -> Any:
    """GAugLLM's LLM augmentation of ``data``'s texts (``data.text``), generated or read from the
    response cache, with the ``gaugllm`` method's generation defaults updated by ``settings``
    (``llm``, ``llm_cache``, ``llm_offline``, ``text_encoder``, ``k_add``, ...)."""
    from graphcl.gaugllm.augmenter import generate_augmentation
    from graphcl.gaugllm.model import GAUGLLM_DEFAULTS, make_llm, settings_from_config
    from graphcl.llm import TextEncoder
    unknown = sorted(set(settings) - set(GAUGLLM_DEFAULTS))
    if unknown:
        raise ConfigError(f"text_augmentation: unknown setting(s) {', '.join(unknown)}; see the gaugllm method's "
                          f"config keys (graphcl methods gaugllm)")
    c = {**GAUGLLM_DEFAULTS, **settings}
    return generate_augmentation(data, make_llm(c), TextEncoder(str(c["text_encoder"])), settings_from_config(c))


class ContrastMethod(NodeMethod):
    """Full-graph training of a :class:`~graphcl.contrast.Contrast` pipeline built from config."""

    full_graph_reason = "the pipeline's views are drawn on the full graph (no sampled-subgraph views yet)"

    def __init__(self, data: Any, config: dict[str, Any], device: torch.device | str = "cpu") -> None:
        super().__init__(data, config, device)
        c = self.config
        self.pipeline = Contrast(views=[c["view1"], c["view2"]], encoder=c["encoder"], loss=c["loss"],
                                 projector=c["projector"], in_dim=int(self.x.size(1)), graph_kind="node",
                                 total_steps=int(c["epochs"]))
        extras = {}
        if self.pipeline.needs_text_augmentation:
            extras[TEXT_AUGMENTATION_KEY] = text_augmentation(data, c["text_augmentation"])
        self.graph = GraphView(x=self.x, edge_index=self.edge_index, num_nodes=self.num_nodes, extras=extras)
        self.pipeline.prepare(self.graph, int(c["seed"]))

    def step_loss(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        return {"loss": self.pipeline(self.graph, generator)}

    @torch.no_grad()
    def embed(self) -> torch.Tensor:
        return self.pipeline.embed(self.graph)


register_method(MethodSpec(
    name="contrast", kind="node", build=ContrastMethod, defaults=CONTRAST_DEFAULTS, presets=CONTRAST_PRESETS,
    description="views x encoder x loss composed in config (defaults: GRACE's Cora recipe)",
    paper="graphcl's pipeline; GRACE (Zhu et al. 2020), G-BT (Bielak et al. 2022), GCA (Zhu et al. 2021) parts"))
