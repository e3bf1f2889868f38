"""Training: episode bags -> in-memory dataset -> AdamW/EMA loop -> checkpoint."""
