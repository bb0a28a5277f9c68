"""Training of torch models: one generic loop (:mod:`.loop`); each use case brings its task
(``hepxai.usecases.NAME.task``)."""
