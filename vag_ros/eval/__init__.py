"""Evaluation: replay-and-score in the world, metrics, reports, policy evaluation and the
scene-blind baseline."""
