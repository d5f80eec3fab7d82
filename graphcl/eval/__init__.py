"""Evaluation: full-ranking recommendation metrics."""
from graphcl.eval.ranking import RANKING_METRICS, RankingEvaluator, format_metrics_table, metrics_from_hits

__all__ = ["RANKING_METRICS", "RankingEvaluator", "format_metrics_table", "metrics_from_hits"]
