"""Embodied data synthesis: generate, validate, replay, score, filter, export."""
