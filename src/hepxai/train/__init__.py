"""Training of the torch muon models: one loop, checkpoints, distillation."""
