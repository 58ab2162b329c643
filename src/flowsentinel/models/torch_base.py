"""Base class for PyTorch detectors (after pyod's deep base).

:class:`TorchDetector` owns everything but the network: seeding and
deterministic kernels, device choice, the Adam training loop with class
weighting and early stopping on a validation loss, the ONNX export after
fitting, and scoring through ONNX Runtime.  A subclass only implements
:meth:`TorchDetector.build_network`, returning an ``nn.Module`` that maps a
``(n, n_features)`` float32 batch to ``(n,)`` or ``(n, 1)`` logits.

Artifacts: ``<name>.onnx`` (serving; the network followed by a sigmoid) and
``<name>.safetensors`` (the weights, for inspection or fine-tuning).  Nothing
is pickled.
"""

from __future__ import annotations

import copy
import io
import logging
import time
import warnings
from abc import abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from flowsentinel.models.base import Detector, OnnxServed

__all__ = ["TorchDetector"]

log = logging.getLogger(__name__)


@contextmanager
def _deterministic(seed: int, threads: int | None) -> Iterator[None]:
    """Seed torch/numpy, force deterministic kernels and a fixed thread count; restore after."""
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    prev_threads = torch.get_num_threads()
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    torch.use_deterministic_algorithms(True, warn_only=True)
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
        torch.set_num_threads(prev_threads)


class _Probability(nn.Module):
    """Mean sigmoid of the member networks, flattened to (n,): what ONNX serves."""

    def __init__(self, members: nn.ModuleList) -> None:
        super().__init__()
        self.members = members

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.members) == 1:
            return torch.sigmoid(self.members[0](x).reshape(-1))
        probs = [torch.sigmoid(m(x).reshape(-1)) for m in self.members]
        return torch.stack(probs, dim=0).mean(dim=0)


def _focal_bce(logits: torch.Tensor, target: torch.Tensor, gamma: float) -> torch.Tensor:
    """Per-row binary focal loss (gamma = 0 is plain BCE)."""
    bce = nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    if gamma == 0:
        return bce
    p_t = torch.exp(-bce)
    return (1 - p_t) ** gamma * bce


class TorchDetector(OnnxServed, Detector):
    """Training loop, determinism, device, ONNX export and ORT scoring for torch models.

    Parameters
    ----------
    lr : float
        Adam learning rate.
    weight_decay : float
        Adam (decoupled, AdamW) weight decay.
    batch_size : int
        Rows per optimisation step.
    max_epochs : int
        Upper bound on passes over the training rows.
    patience : int
        Stop after this many epochs without a better validation loss; the
        best weights are restored.
    class_weight : {"balanced", None}
        ``"balanced"`` weights each class inversely to its frequency.
    benign_weight : float
        Extra multiplier on benign rows' loss; > 1 trades recall for a
        lower false-positive rate.
    focal_gamma : float
        Focal-loss focusing parameter; 0 = binary cross-entropy.
    lr_patience : int or None
        Divide the learning rate by 5 after this many epochs without a
        better validation loss (None = constant learning rate).
    n_members : int
        Networks trained with seeds ``random_state + i`` and averaged (mean
        probability) inside one ONNX graph.  Averaging damps the odd benign
        flow one network scores high, which is what sets a low-FPR
        threshold; scoring cost grows linearly.
    device : str
        ``"auto"`` (cuda if available, else cpu), ``"cpu"`` or ``"cuda"``.
        Serving is always ONNX Runtime on CPU.
    threads : int or None
        torch CPU threads during training (None = leave as is).
    ort_threads : int
        Intra-op threads of the serving session.
    random_state : int
        Seed for weights, shuffling and the validation carve-out.
    val_fraction : float
        See :class:`~flowsentinel.models.base.Detector`.

    Attributes
    ----------
    network_ : nn.ModuleList
        The trained member network(s) (CPU, eval mode).
    history_ : list of list of dict
        Per member, per epoch ``train_loss``, ``val_loss`` and ``lr``.
    best_epoch_ : list of int
    onnx_bytes_ : bytes
    """

    def __init__(
        self,
        *,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        batch_size: int = 256,
        max_epochs: int = 60,
        patience: int = 10,
        class_weight: str | None = "balanced",
        benign_weight: float = 1.0,
        focal_gamma: float = 0.0,
        lr_patience: int | None = None,
        n_members: int = 1,
        device: str = "auto",
        threads: int | None = None,
        ort_threads: int = 1,
        random_state: int = 0,
        val_fraction: float = 0.2,
    ) -> None:
        super().__init__(random_state=random_state, val_fraction=val_fraction)
        if class_weight not in ("balanced", None):
            raise ValueError(f"class_weight must be 'balanced' or None, got {class_weight!r}")
        if device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
        for key, val in (("batch_size", batch_size), ("max_epochs", max_epochs), ("patience", patience),
                         ("n_members", n_members)):
            if val < 1:
                raise ValueError(f"{key} must be >= 1, got {val}")
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.class_weight = class_weight
        self.benign_weight = benign_weight
        self.focal_gamma = focal_gamma
        self.lr_patience = lr_patience
        self.n_members = n_members
        self.device = device
        self.threads = threads
        self.ort_threads = ort_threads

    # -- subclass hook -----------------------------------------------------------
    @abstractmethod
    def build_network(self, n_features: int) -> nn.Module:
        """Return a fresh network mapping (n, n_features) float32 to (n,) or (n, 1) logits."""

    def network_params(self) -> dict[str, Any]:
        """Architecture keyword arguments (JSON-able); part of :meth:`params`."""
        return {}

    def params(self) -> dict[str, Any]:
        return {
            **self.network_params(),
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "batch_size": self.batch_size,
            "max_epochs": self.max_epochs,
            "patience": self.patience,
            "class_weight": self.class_weight,
            "benign_weight": self.benign_weight,
            "focal_gamma": self.focal_gamma,
            "lr_patience": self.lr_patience,
            "n_members": self.n_members,
            "device": self.device,
            "threads": self.threads,
            "ort_threads": self.ort_threads,
            "random_state": self.random_state,
            "val_fraction": self.val_fraction,
        }

    # -- training ------------------------------------------------------------------
    def _device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("device='cuda' requested but torch sees no CUDA device; use 'auto' or 'cpu'")
        return torch.device(self.device)

    def _row_weights(self, y: np.ndarray, counts: np.ndarray) -> np.ndarray:
        w = np.ones(len(y), dtype=np.float32)
        if self.class_weight == "balanced":
            per_class = len(y) / (2.0 * np.maximum(counts, 1))
            w = per_class[y].astype(np.float32)
        w[y == 0] *= self.benign_weight
        return w

    def _fit(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray) -> None:
        t0 = time.perf_counter()
        device = self._device()
        counts = np.bincount(y, minlength=2)
        data = (
            torch.from_numpy(X).to(device),
            torch.from_numpy(y.astype(np.float32)).to(device),
            torch.from_numpy(self._row_weights(y, counts)).to(device),
            torch.from_numpy(X_val).to(device),
            torch.from_numpy(y_val.astype(np.float32)).to(device),
            torch.from_numpy(self._row_weights(y_val, counts)).to(device),
        )
        members, self.history_, self.best_epoch_ = [], [], []
        for i in range(self.n_members):
            seed = self.random_state + i
            with _deterministic(seed, self.threads):
                net, history, best_epoch, best_loss = self._train_one(seed, data, device)
            members.append(net.to("cpu").eval())
            self.history_.append(history)
            self.best_epoch_.append(best_epoch)
            log.info("%s member %d/%d: %d epochs (best %d, val loss %.5f)", self.name, i + 1,
                     self.n_members, len(history), best_epoch, best_loss)
        self.network_ = nn.ModuleList(members).eval()
        self.fit_seconds_ = time.perf_counter() - t0
        log.info("%s: trained %d network(s) on %d rows in %.1f s (%s)",
                 self.name, self.n_members, len(y), self.fit_seconds_, device)
        self.onnx_bytes_ = self._export(X.shape[1])
        self._start_session()

    def _train_one(self, seed: int, data: tuple[torch.Tensor, ...], device: torch.device):
        """Adam with early stopping on the weighted validation loss; best weights restored."""
        xt, yt, wt, xv, yv, wv = data
        net = self.build_network(xt.shape[1]).to(device)
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        sched = (torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.2, patience=self.lr_patience)
                 if self.lr_patience is not None else None)
        gen = torch.Generator(device="cpu").manual_seed(seed)
        n = len(yt)
        best_loss, best_state, best_epoch, stale = float("inf"), None, 0, 0
        history: list[dict[str, float]] = []
        for epoch in range(1, self.max_epochs + 1):
            net.train()
            order = torch.randperm(n, generator=gen).to(device)
            total = 0.0
            for start in range(0, n, self.batch_size):
                idx = order[start:start + self.batch_size]
                if len(idx) < 2:  # batch norm needs two rows
                    continue
                logits = net(xt[idx]).reshape(-1)
                loss = (_focal_bce(logits, yt[idx], self.focal_gamma) * wt[idx]).sum() / wt[idx].sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            val_loss = self._eval_loss(net, xv, yv, wv)
            history.append({"epoch": epoch, "train_loss": total / n, "val_loss": val_loss,
                            "lr": opt.param_groups[0]["lr"]})
            log.debug("%s epoch %d: train %.5f val %.5f", self.name, epoch, total / n, val_loss)
            if sched is not None:
                sched.step(val_loss)
            if val_loss < best_loss - 1e-7:
                best_loss, best_epoch, stale = val_loss, epoch, 0
                best_state = copy.deepcopy(net.state_dict())
            else:
                stale += 1
                if stale >= self.patience:
                    break
        net.load_state_dict(best_state)
        return net, history, best_epoch, best_loss

    def _eval_loss(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> float:
        net.eval()
        total = 0.0
        with torch.no_grad():
            for start in range(0, len(y), 8192):
                sl = slice(start, start + 8192)
                logits = net(x[sl]).reshape(-1)
                total += float((_focal_bce(logits, y[sl], self.focal_gamma) * w[sl]).sum())
        return total / float(w.sum())

    # -- serving -------------------------------------------------------------------
    def _export(self, n_features: int) -> bytes:
        wrapped = _Probability(self.network_).eval()
        dummy = torch.zeros(2, n_features, dtype=torch.float32)
        buf = io.BytesIO()
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            # The TorchScript exporter needs no extra dependency (the dynamo one needs onnxscript).
            torch.onnx.export(
                wrapped, (dummy,), buf, dynamo=False, opset_version=17,
                input_names=["X"], output_names=["P_attack"],
                dynamic_axes={"X": {0: "n_flows"}, "P_attack": {0: "n_flows"}},
            )
        return buf.getvalue()

    def learned(self) -> dict[str, Any]:
        return {
            "best_epoch": getattr(self, "best_epoch_", None),
            "history": getattr(self, "history_", []),
        }

    # -- artifacts -----------------------------------------------------------------
    def _artifact_names(self) -> tuple[str, str]:
        return f"{self.name}.onnx", f"{self.name}.safetensors"

    def _save(self, folder: Path) -> list[str]:
        from safetensors.torch import save_file

        onnx_name, weights_name = self._artifact_names()
        (folder / onnx_name).write_bytes(self.onnx_bytes_)
        state = {k: v.detach().contiguous() for k, v in self.network_.state_dict().items()}
        save_file(state, str(folder / weights_name), metadata={"detector": self.name})
        return [onnx_name, weights_name]

    def _load(self, folder: Path, meta: dict[str, Any]) -> None:
        from safetensors.torch import load_file

        onnx_name, weights_name = self._artifact_names()
        net = nn.ModuleList(self.build_network(self.n_features_in_) for _ in range(self.n_members))
        net.load_state_dict(load_file(str(folder / weights_name)), strict=True)
        self.network_ = net.eval()
        self.onnx_bytes_ = (folder / onnx_name).read_bytes()
        md = meta.get("metadata", {})
        self.best_epoch_ = md.get("best_epoch")
        self.history_ = md.get("history", [])
        self._start_session()
