"""What every muon attribution method shares: input checks, target selection, batching.

Methods explain the model's *physical* outputs (pT in GeV, |eta|), the quantities a trigger
physicist reads; the decoding from the network's normalised outputs is affine, so exactness
properties (CAM, completeness) carry over unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from hepxai.core.errors import HepxaiError
from hepxai.explain.types import Attribution
from hepxai.models.inference import inference_copy
from hepxai.usecases.muon.models.base import OUTPUTS, MuonRegressor

IMAGE_SHAPE = (9, 384)


def as_images(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Validate and convert a batch of hit images to float32 ``(b, 1, 9, 384)``.

    Accepts ``(b, 9, 384)`` or ``(b, 1, 9, 384)``, any real dtype, values 0/1.
    """
    x = torch.as_tensor(np.asarray(images) if isinstance(images, np.ndarray) else images)
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4 or tuple(x.shape[1:]) != (1, *IMAGE_SHAPE):
        raise HepxaiError(f"images must be (n, 1, 9, 384) or (n, 9, 384) hit maps, got shape "
                          f"{tuple(x.shape)}")
    if x.shape[0] == 0:
        raise HepxaiError("no images to explain; select at least one event")
    if x.dtype == torch.bool or not torch.is_floating_point(x):
        x = x.to(torch.float32)
    x = x.to(torch.float32)
    if not torch.isfinite(x).all():
        raise HepxaiError("images contain NaN or infinite values; hit maps must be 0/1")
    if ((x != 0) & (x != 1)).any():
        raise HepxaiError("images must be binary hit maps (0/1); got other values")
    return x


def target_indices(targets: Sequence[str] | str | None) -> tuple[str, ...]:
    """Validate target names (default: every model output, pT and eta)."""
    if targets is None:
        return OUTPUTS
    names = (targets,) if isinstance(targets, str) else tuple(targets)
    unknown = [t for t in names if t not in OUTPUTS]
    if unknown or not names:
        raise HepxaiError(f"unknown target(s) {', '.join(unknown) or '(none)'}; the muon models "
                          f"predict {', '.join(OUTPUTS)}")
    return names


def chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


class ImageAttributionMethod:
    """Base of the muon attribution methods: ``Method(model, targets=..., **params)``.

    ``fused`` runs the many path / noise images through an inference copy with BatchNorm folded
    into the convolutions (:func:`hepxai.models.inference.inference_copy`): the same function to
    float32 rounding, about 3x faster.

    Subclasses implement :meth:`_attribute` for a float batch ``(b, 1, 9, 384)`` and return values
    ``(b, n_targets, 9, 384)`` plus optional outputs / baseline outputs ``(b, n_targets)``.
    """

    method_name = "?"
    batch_size = 64  # events per call of _attribute

    def __init__(self, model: MuonRegressor, targets: Sequence[str] | str | None = None,
                 batch_size: int | None = None, fused: bool = True, **params: Any):
        if not isinstance(model, MuonRegressor):
            raise HepxaiError(f"{self.method_name} explains the muon neural networks; got a "
                              f"{type(model).__name__} (decision trees have no gradients)")
        self.model = model.eval()
        # the same function with BN folded into the convolutions: the hot path, ~3x faster;
        # fused=False keeps the original (bit-for-bit comparisons with reference libraries)
        self.fast_model = inference_copy(model) if fused else self.model
        self.targets = target_indices(targets)
        self.columns = [OUTPUTS.index(t) for t in self.targets]
        if batch_size is not None:
            self.batch_size = int(batch_size)
        self.params = params

    def outputs(self, x: torch.Tensor) -> torch.Tensor:
        """Physical outputs of the explained targets ``(b, n_targets)``."""
        return self.fast_model(x)[:, self.columns]

    def explain(self, images: torch.Tensor | np.ndarray,
                event_ids: np.ndarray | None = None) -> Attribution:
        """Explain ``images`` ``(b, 1, 9, 384)``; ``event_ids`` are recorded (dataset rows)."""
        x = as_images(images)
        ids = np.arange(len(x)) if event_ids is None else np.asarray(event_ids, np.int64)
        if ids.shape != (len(x),):
            raise HepxaiError(f"{len(ids)} event ids for {len(x)} images; give one id per image")
        values, outputs, baselines = [], [], []
        for part in chunks(len(x), self.batch_size):
            v, out, base = self._attribute(x[part], ids[part])
            values.append(v.detach().float().cpu().numpy())
            outputs.append(None if out is None else out.detach().double().cpu().numpy())
            baselines.append(None if base is None else base.detach().double().cpu().numpy())
        return Attribution(
            values=np.concatenate(values), targets=self.targets, method=self.method_name,
            params=self.recorded_params(), kind="pixel",
            outputs=None if outputs[0] is None else np.concatenate(outputs),
            baseline_outputs=None if baselines[0] is None else np.concatenate(baselines),
            event_ids=event_ids)

    def recorded_params(self) -> dict[str, Any]:
        return {"model": self.model.name, "preset": self.model.preset, **self.params}

    def _attribute(self, x: torch.Tensor, ids: np.ndarray) -> tuple[
            torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Values ``(b, T, 9, 384)``, outputs and baseline outputs ``(b, T)`` (or None) for a
        batch; ``ids`` are the events' ids (seeding of random methods per event)."""
        raise NotImplementedError

    def input_gradients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``dF_t/dx`` for every explained target: ``(b, n_targets, 9, 384)``, and ``F``."""
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            out = self.outputs(x)
            grads = [torch.autograd.grad(out[:, t].sum(), x, retain_graph=t + 1 < out.shape[1])[0]
                     for t in range(out.shape[1])]
        return torch.cat(grads, dim=1), out.detach()
