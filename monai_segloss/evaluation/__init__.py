"""Evaluation: lesion-wise metrics (detection and segmentation quality per lesion)."""
