"""Files every use case shares: checkpoints (one format for every model)."""
