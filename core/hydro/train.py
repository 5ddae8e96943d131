"""Training of dXAJ and its baselines on sliding windows: the hydrology half's task for the shared trainer.

``train_model(config, run)`` trains the config's ``model`` into the run folder ``run`` with
:func:`core.training.trainer.fit`, the loop both halves share (epochs, DDP, resume, early stopping,
checkpoints, history, NaN guard, gradient clipping, ``max_minutes``, learning-rate schedule, cancel
and progress). This module supplies what is particular to hydrology: the data (:func:`prepare`,
loaded once per run and shared by every model in it), windows of basins as samples, the loss on
observed streamflow, and validation scores (loss, median NSE and KGE over basins) computed from
per-basin sums so that ranks can add them.

``checkpoints/best.pt`` and ``last.pt`` carry the normalisation statistics, the config, input names,
basins and periods besides the weights, so evaluation rebuilds the model as it was trained.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from core.data.normalize import Normalizer
from core.hydro.ensemble import member_loss_inputs
from core.hydro.losses import training_loss
from core.hydro.models import build_model
from core.hydro.prepare import Prepared, PreparedCache, period_table, prepare  # noqa: F401  (re-exported)
from core.hydro.windows import WindowSampler
from core.machine.device import resolve_device
from core.runs.folder import RunDir
from core.training import distributed as D
from core.training.checkpoint import load_checkpoint as _load_checkpoint
from core.training.lifecycle import Progress
from core.training.trainer import TrainingTask, TrainSettings, fit


@torch.no_grad()
def validate(model: nn.Module, prepared: Prepared, sampler: WindowSampler, config: Mapping[str, Any],
             device: torch.device) -> tuple[float, float, float]:
    """(val_loss, median per-basin NSE, median per-basin KGE) over the validation windows, all-reduced
    across ranks.

    Validation windows do not overlap (stride = rho + horizon), so each validation day counts once.
    NSE and KGE come from per-basin sums (n, sum obs, sum obs^2, sum squared error, sum sim, sum sim^2,
    sum sim * obs) so ranks can add them.
    """
    model.eval()
    n_basins = len(prepared.inputs.basins)
    sums = torch.zeros(n_basins, 7, dtype=torch.float64)
    loss_fn = training_loss(config["train"])
    loss_sum = torch.zeros(2, dtype=torch.float64)
    idx = np.arange(len(sampler))[D.rank() :: D.world_size()]
    q_std_all = torch.as_tensor(prepared.inputs.q_std)
    bs = int(config["evaluate"]["batch_size"])
    for i in range(0, len(idx), bs):
        batch = sampler.batch(idx[i : i + bs]).to(device)
        q = model(batch.x, batch.z, prepared.spec.warmup, batch.basin)["q"]
        loss = loss_fn(q, batch.y, q_std_all[batch.basin.cpu()].to(device))
        n_obs = torch.isfinite(batch.y).sum().item()
        loss_sum += torch.tensor([float(loss) * n_obs, n_obs], dtype=torch.float64)
        q, y = q.double().cpu(), batch.y.double().cpu()
        ok = torch.isfinite(y)
        y0, q0 = torch.where(ok, y, 0.0), torch.where(ok, q, 0.0)
        parts = torch.stack([ok.sum(0).double(), y0.sum(0), (y0**2).sum(0), ((q0 - y0) ** 2).sum(0),
                             q0.sum(0), (q0**2).sum(0), (q0 * y0).sum(0)], dim=1)  # [B, 7]
        sums.index_add_(0, batch.basin.cpu(), parts)
    sums = D.all_reduce_sum(sums)
    loss_sum = D.all_reduce_sum(loss_sum)
    val_loss = float(loss_sum[0] / loss_sum[1]) if loss_sum[1] > 0 else float("nan")
    nse, kge = _nse_kge_from_sums(sums)
    return val_loss, _finite_median(nse), _finite_median(kge)


def _nse_kge_from_sums(sums: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-basin NSE and KGE (``[B]`` each, NaN where undefined) from the 7 sums of :func:`validate`."""
    n, so, so2, sse, ss, ss2, sso = sums.unbind(1)
    n1 = n.clamp(min=1)
    var_obs, var_sim = so2 / n1 - (so / n1) ** 2, ss2 / n1 - (ss / n1) ** 2
    cov = sso / n1 - (so / n1) * (ss / n1)
    ok = (n > 1) & (var_obs > 0)
    nan = torch.full_like(n, float("nan"))
    nse = torch.where(ok, 1 - sse / (var_obs * n1).clamp(min=1e-12), nan)
    std_obs, std_sim = var_obs.clamp(min=0).sqrt(), var_sim.clamp(min=0).sqrt()
    ok_kge = ok & (std_sim > 0) & (so != 0)
    r = cov / (std_obs * std_sim).clamp(min=1e-12)
    alpha, beta = std_sim / std_obs.clamp(min=1e-12), ss / torch.where(so != 0, so, torch.ones_like(so))
    kge = torch.where(ok_kge, 1 - torch.sqrt((r - 1) ** 2 + (alpha - 1) ** 2 + (beta - 1) ** 2), nan)
    return nse, kge


def _finite_median(values: torch.Tensor) -> float:
    finite = values[torch.isfinite(values)]
    return float(finite.median()) if finite.numel() else float("nan")




CHECKPOINT_KEYS = ("model", "epoch", "normalization")


def load_checkpoint(path) -> dict:
    """A checkpoint written by :func:`train_model`, loaded safely (:class:`CheckpointError` names the file)."""
    return _load_checkpoint(path, required=CHECKPOINT_KEYS)


class HydroTask(TrainingTask):
    """One hydrology model (``config["model"]``) on the windows of the prepared basins."""

    # the sample order of runs trained before the shared trainer drew epoch e from seed + e
    shuffle_seed_offset = 1

    def __init__(self, config: Mapping[str, Any], prepared: Prepared):
        self.config, self.prepared, self.name = config, prepared, str(config["model"])
        inputs, spec = prepared.inputs, prepared.spec
        table = period_table(prepared, "train")
        if len(table) == 0:
            raise ValueError(f"no training window: train period {prepared.periods['train']} is shorter than "
                             f"warmup + rho + horizon = {spec.length} steps or has no observed streamflow")
        self.train_sampler = WindowSampler(inputs.x, inputs.z, inputs.y, table, spec)
        self.n_train = len(self.train_sampler)
        valid = period_table(prepared, "valid", stride=spec.target_length)
        self.valid_sampler = WindowSampler(inputs.x, inputs.z, inputs.y, valid, spec) if len(valid) else None
        self.loss_fn = training_loss(config["train"])
        self.q_std = torch.as_tensor(inputs.q_std)

    def build_model(self) -> nn.Module:
        return build_model(self.config, self.prepared)

    def train_batch(self, indices: np.ndarray, device: torch.device):
        return self.train_sampler.batch(indices).to(device)

    def forward(self, net: nn.Module, batch) -> dict[str, torch.Tensor]:
        return net(batch.x, batch.z, self.prepared.spec.warmup, batch.basin)

    def loss(self, out: dict[str, torch.Tensor], batch) -> torch.Tensor:
        return self.loss_fn(*member_loss_inputs(out, batch.y, self.q_std[batch.basin.cpu()].to(batch.y.device)))

    def describe_batch(self, batch) -> str:
        return "basins " + ", ".join(sorted({self.prepared.inputs.basins[int(b)] for b in batch.basin}))

    def validate(self, model: nn.Module, autocast) -> dict | None:
        if self.valid_sampler is None:
            return None
        device = next(model.parameters()).device
        loss, nse, kge = validate(model, self.prepared, self.valid_sampler, self.config, device)
        return {"val_loss": loss, "val_nse": nse, "val_kge": kge}

    def checkpoint_meta(self) -> dict[str, Any]:
        p = self.prepared
        meta = {"normalization": p.norm.to_dict(), "config": dict(self.config), "input_names": p.inputs.input_names,
                "basins": p.inputs.basins, "periods": p.periods}
        if p.snow:  # what "snow: auto" resolved to on the training data (only then: classic checkpoints unchanged)
            meta["snow"] = True
        return meta


def train_model(
    config: Mapping[str, Any],
    run: RunDir,
    resume: bool = False,
    progress_bar: bool = True,
    should_stop: Callable[[], bool] | None = None,
    prepared: Prepared | None = None,
    progress: Callable[..., None] | None = None,
) -> dict[str, Any]:
    """Train ``config["model"]`` into ``run``; returns ``{"best_epoch", "best_val_loss", "epochs_run", ...}``.

    ``prepared``: the run's data when the caller has it (else loaded here; on resume the
    checkpoint's normalisation is reused). ``progress(fraction, message, epoch=, force=)``: where
    progress goes (default: ``run``'s status.json, throttled). SIGTERM/SIGINT and ``should_stop``
    raise :class:`core.training.lifecycle.Cancelled`; the last complete checkpoint stays valid for
    ``resume``.
    """
    tcfg = config["train"]
    # Back-propagating a loss on late steps through hundreds of LSTM steps shrinks gradients into
    # float32 denormals, which x86 CPUs process ~100x slower: flushing them to zero made a dXAJ
    # iteration (365-step LSTM, batch 64) ~10x faster here, with no visible change in the result.
    torch.set_flush_denormal(True)
    if tcfg.get("num_threads"):
        torch.set_num_threads(int(tcfg["num_threads"]))
    device = D.local_device(resolve_device(tcfg["device"]))
    last_path = run.checkpoint_dir / "last.pt"
    if prepared is None:
        ckpt = load_checkpoint(last_path) if resume and last_path.exists() else None
        prepared = prepare(config, Normalizer.from_dict(ckpt["normalization"]) if ckpt else None)
    if progress is None:
        status = Progress(run, every=5.0)  # rank 0 only, throttled

        def progress(fraction: float, message: str, epoch: int, force: bool = False) -> None:
            status.update(force=force, progress=fraction, epoch=epoch, message=message)

    settings = TrainSettings.from_section(tcfg, seed=int(tcfg["seed"]))
    result = fit(HydroTask(config, prepared), settings, device, run, resume=resume, progress=progress,
                 progress_bar=progress_bar, should_stop=should_stop)
    return result.summary()
