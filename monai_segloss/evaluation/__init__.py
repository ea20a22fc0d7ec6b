"""Evaluation: lesion-wise metrics (matching rules), post-processing (threshold, minimum lesion size), the
threshold sweep with FROC / CPM, and the statistics of a comparison (bootstrap intervals, Wilcoxon)."""
