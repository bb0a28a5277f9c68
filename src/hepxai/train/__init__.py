"""Training of torch models: one generic loop (:mod:`.loop`), per-use-case tasks
(:mod:`.muon`, :mod:`.darkjet`), checkpoints."""
