"""Model labels that tell apart every model of one table, figure and predictions file.

A label names a model by what it is (``attribution-cnn (fast, epoch 2)``); two models of the
same kind, preset and epoch from different runs would share it, and each would overwrite the
other's predictions file and table row. :func:`distinct_labels` keeps unique labels as they are
and adds to a shared one the shortest end of its path that tells the models apart.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from hepxai.core.errors import HepxaiError


def distinct_labels(labels: Sequence[str], paths: Sequence[str | os.PathLike[str]],
                    option: str = "--checkpoint") -> list[str]:
    """``labels`` with each shared one followed by its model's distinguishing path end.

    ``paths``: the file or directory each model was read from (same order). The same path
    given twice is a one-line :class:`HepxaiError` naming ``option``.

    >>> distinct_labels(["cnn (fast, epoch 2)", "cnn (fast, epoch 2)", "sdt (fast, epoch 2)"],
    ...                 ["runs/a/best.pt", "runs/b/best.pt", "runs/c/best.pt"])
    ['cnn (fast, epoch 2) [a/best.pt]', 'cnn (fast, epoch 2) [b/best.pt]', 'sdt (fast, epoch 2)']
    """
    resolved = [Path(p).resolve() for p in paths]
    twice = [p for p, n in Counter(resolved).items() if n > 1]
    if twice:
        raise HepxaiError(f"{option} {twice[0]} is given twice; give each model once")
    counts = Counter(labels)
    out = list(labels)
    for label in (label for label, n in counts.items() if n > 1):
        members = [i for i, other in enumerate(labels) if other == label]
        parts = [Path(paths[i]).parts for i in members]
        for k in range(1, max(map(len, parts)) + 1):
            ends = ["/".join(p[-k:]) for p in parts]
            if len(set(ends)) == len(ends):
                break
        else:  # relative and absolute spellings of different files: the full paths differ
            ends = [str(resolved[i]) for i in members]
        for i, end in zip(members, ends, strict=True):
            out[i] = f"{label} [{end}]"
    return out


def file_stem(label: str) -> str:
    """``label`` as a file name: letters, digits, ``-``, ``_`` and ``.`` kept, the rest ``_``.

    >>> file_stem("attribution-cnn (fast, epoch 2) [a/best.pt]")
    'attribution-cnn__fast__epoch_2___a_best.pt_'
    """
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in label)
