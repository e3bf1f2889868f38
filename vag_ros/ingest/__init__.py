"""Teleoperation bags into episodes: the topic contract, stream alignment, vag-ros ingest."""
