"""Evaluation: full-ranking recommendation metrics; linear probe, clustering and
link prediction on node embeddings."""
from graphcl.eval.dot_product_scores import DotProductScores
from graphcl.eval.node import (cluster_metrics, evaluate_clustering, kmeans, link_prediction_auc,
                               linear_probe, random_split_masks, split_edges_for_link_prediction)
from graphcl.eval.ranking import RANKING_METRICS, RankingEvaluator, format_metrics_table, metrics_from_hits

__all__ = ["RANKING_METRICS", "RankingEvaluator", "DotProductScores", "format_metrics_table", "metrics_from_hits",
           "linear_probe", "random_split_masks", "kmeans", "cluster_metrics", "evaluate_clustering",
           "link_prediction_auc", "split_edges_for_link_prediction"]
