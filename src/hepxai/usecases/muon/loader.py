"""PyTorch access to muon files: batches gathered straight from the memory-mapped pixel lists.

A batch of 1,024 shuffled events is one vectorised gather + scatter (no per-event Python), so
the training loop is never waiting on data. ``DataLoader`` calls :meth:`MuonDataset.__getitems__`
with the whole list of indices of a batch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

from hepxai.core.errors import HepxaiError
from hepxai.usecases.muon.store import MuonFile

TARGETS = ("pt", "eta")


class MuonDataset(Dataset):
    """Images ``(1, 9, 384)`` float32 and targets ``(len(targets),)`` float32 from a muon file.

    Parameters
    ----------
    source : a :class:`MuonFile` or the path of one.
    targets : label fields to return, in order (default pT [GeV], |eta|).
    truth : return the muon-only images instead of the noisy ones (for explanation studies;
        never for training).
    rows : optional subset of event numbers.
    """

    def __init__(self, source: MuonFile | str | os.PathLike[str], targets: Sequence[str] = TARGETS,
                 truth: bool = False, rows: np.ndarray | None = None):
        self.file = source if isinstance(source, MuonFile) else MuonFile(source)
        unknown = [t for t in targets if t not in (self.file.labels.dtype.names or ())]
        if unknown:
            raise HepxaiError(f"unknown target(s) {', '.join(unknown)}; choose from "
                              f"{', '.join(self.file.labels.dtype.names or ())}")
        if truth and self.file.truth is None:
            raise HepxaiError(f"{self.file.path}: the file has no truth images")
        self.images = self.file.truth if truth else self.file.images
        self.rows = np.arange(len(self.file)) if rows is None else np.asarray(rows, np.int64)
        if self.rows.size == 0:
            raise HepxaiError("the event selection is empty; select at least one event")
        table = self.file.labels[self.rows]
        self.targets = torch.from_numpy(
            np.stack([table[t].astype(np.float32) for t in targets], axis=1))

    def __len__(self) -> int:
        return self.rows.size

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.__getitems__([i])
        return x[0], y[0]

    def __getitems__(self, batch: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """A whole batch: images ``(b, 1, 9, 384)`` float32 and targets ``(b, n_targets)``."""
        positions = np.asarray(batch, np.int64)
        dense = np.zeros((positions.size, 1, *self.images.shape), np.float32)
        self.images.to_dense(self.rows[positions], out=dense)
        return torch.from_numpy(dense), self.targets[torch.from_numpy(positions)]


def _whole_batch(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    return batch  # __getitems__ already returns collated tensors


def muon_loader(dataset: MuonDataset, batch_size: int = 256, shuffle: bool = False,
                seed: int = 0, num_workers: int = 0, drop_last: bool = False) -> DataLoader:
    """A DataLoader yielding ``(images, targets)`` batches; shuffling is seeded by ``seed``."""
    if shuffle:
        generator = torch.Generator().manual_seed(seed)
        sampler = RandomSampler(dataset, generator=generator)
    else:
        sampler = SequentialSampler(dataset)
    return DataLoader(dataset, batch_sampler=BatchSampler(sampler, batch_size, drop_last),
                      collate_fn=_whole_batch, num_workers=num_workers)
