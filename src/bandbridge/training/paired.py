"""One LightningModule for every conditional GAN bandbridge trains (manual optimization).

x: input ``(B, Ci, h, w)``; y: target ``(B, Ct, H, W)``; m: valid mask ``(B, 1, H, W)``.
Critic (every batch):   L_D = adv_d(D(x, y), D(x, G(x))) [+ λ_gp · GP]
Generator (every n_critic-th batch):  L_G = λ_adv · adv_g(D(x, G(x))) + λ_L1 · ‖G(x) − y‖₁
    [+ λ_emd · EMD(hist G(x), hist y)] [+ λ_idx · Σ_k ‖idx_k(x, G(x)) − idx_k(x, y)‖₁]
Masked pixels are zeroed on both sides of the critic and excluded from L1, so they contribute
to no loss. Each critic step consumes its own batch, as in WGAN-GP's Algorithm 1.
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bandbridge.bands import INDICES, find_role, is_single_nir, ndvi
from bandbridge.config import Config, build_config
from bandbridge.data.datasets import batch_context
from bandbridge.errors import BandbridgeError
from bandbridge.losses import ADVERSARIAL, gradient_penalty, histogram_emd, index_l1, masked_l1
from bandbridge.metrics import batch_metrics, evaluate_loader
from bandbridge.generators import build_from
from bandbridge.models import build_critic
from bandbridge.training.display import make_grid, to_display
from bandbridge.training.steps import cosine_decay, frozen, linear_decay, optimizer_step


def index_band_positions(cfg: Config) -> dict[str, int]:
    """Input channels of the roles the index loss needs; a clear error when they are missing."""
    src = cfg.data.sources[0] if cfg.data.sources else None
    names = [str(b) for b in (src.input.bands or [])] if src else []
    if src is None or not is_single_nir(src.target.bands):
        raise BandbridgeError("loss.lambda_index needs a single NIR target band "
                              "(set loss.lambda_index=0 for other targets)")
    need = {r for k in cfg.loss.indices for r in INDICES[k][1] if r != "nir"}
    pos = {r: find_role(names, r) for r in need}
    missing = sorted(r for r, i in pos.items() if i is None)
    if missing:
        raise BandbridgeError(f"loss.lambda_index: the input bands {names} have no {missing} band; "
                              "name them (e.g. B04, red) or drop those indices from loss.indices")
    return pos


class GANTask(L.LightningModule):
    def __init__(self, config: dict, in_channels: int, out_channels: int):
        super().__init__()
        self.save_hyperparameters()  # the full resolved config goes into every checkpoint
        self.cfg: Config = build_config(config)
        g, d, t = self.cfg.model.generator, self.cfg.model.critic, self.cfg.task
        self.G = build_from(g, in_channels, out_channels, t.scale)
        self.D = build_critic(d.name, self.critic_channels(in_channels, out_channels), d.args)
        self.adv_d, self.adv_g = ADVERSARIAL[self.cfg.loss.adversarial]
        self.automatic_optimization = False
        self.register_buffer("batches_seen", torch.zeros((), dtype=torch.long))
        src = self.cfg.data.sources[0] if self.cfg.data.sources else None
        nir = src is not None and t.kind == "translation" and is_single_nir(src.target.bands)
        self.red_index = find_role([str(b) for b in (src.input.bands or [])], "red") if nir else None  # for NDVI
        self.index_bands = index_band_positions(self.cfg) if self.cfg.loss.lambda_index else None
        self._grid_logged = False

    # ------------------------------------------------------------------ pieces
    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        return self.G(x, context)

    @property
    def sensors(self) -> list[str]:
        return self.cfg.sensors

    def critic_channels(self, in_channels: int, out_channels: int) -> int:
        """What the critic sees: the condition and a target, stacked on channels."""
        return in_channels + out_channels

    def networks(self) -> tuple[list[nn.Module], list[nn.Module]]:
        """(generators, critics): one Adam optimizer each side."""
        return [self.G], [self.D]

    def start_metrics(self, dm) -> dict[str, float]:
        """Validation of the untrained model (the run's starting point), on ``dm``'s val split."""
        return evaluate_loader(self.G, dm.val_dataloader(), self.sensors)

    def seed_batch(self) -> None:
        """Seed this batch's noise (dropout, the penalty's ε, the image pool) by (seed, batch,
        rank): with crops drawn by (seed, index) (see EpochSampler), a resumed run repeats the
        uninterrupted one exactly, whatever else touched the global RNG in between."""
        torch.manual_seed(self.cfg.train.seed * 1_000_003 + int(self.batches_seen) * 101
                          + self.global_rank)

    def condition(self, x: Tensor) -> Tensor:
        """The critic's view of the input, on the target's grid (bicubic for super-resolution)."""
        s = self.cfg.task.scale
        return x if s == 1 else F.interpolate(x, scale_factor=s, mode="bicubic", align_corners=False)

    def configure_optimizers(self):
        o = self.cfg.optim
        gens, critics = self.networks()
        opt_g = torch.optim.Adam([p for m in gens for p in m.parameters()], lr=o.lr_g,
                                 betas=self.cfg.betas)
        opt_d = torch.optim.Adam([p for m in critics for p in m.parameters()], lr=o.lr_d,
                                 betas=self.cfg.betas)
        s = o.schedule
        if s.kind == "plateau":
            mode = self.cfg.train.monitor_mode
            scheds = [torch.optim.lr_scheduler.ReduceLROnPlateau(op, mode=mode, factor=s.factor,
                                                                 patience=s.patience)
                      for op in (opt_g, opt_d)]
        else:
            f = {"linear": linear_decay(s.n_epochs, s.n_epochs_decay),
                 "cosine": cosine_decay(s.n_epochs)}.get(s.kind, lambda e: 1.0)
            scheds = [torch.optim.lr_scheduler.LambdaLR(op, f) for op in (opt_g, opt_d)]
        return [opt_g, opt_d], scheds

    # ------------------------------------------------------------------ training
    def training_step(self, batch: dict, batch_idx: int) -> None:
        x, y, m = batch["input"], batch["target"], batch["mask"]
        opt_g, opt_d = self.optimizers()
        lc = self.cfg.loss
        self.batches_seen += 1
        self.seed_batch()
        # λ_adv = 0 (a PSNR-oriented recipe): no critic at all, the generator steps every batch.
        adversarial = lc.lambda_adv > 0
        update_g = not adversarial or int(self.batches_seen) % lc.critic_steps == 0
        c = self.condition(x) if adversarial else None
        real = y * m
        with torch.set_grad_enabled(update_g):
            fake = self.G(x, batch_context(batch, self.sensors)) * m
        logs = {}

        # Critic: L_D = adv_d(D(x, y), D(x, G(x))) + λ_gp · GP
        if adversarial:
            d_real, d_fake = self.D(c, real), self.D(c, fake.detach())
            loss_d = self.adv_d(d_real, d_fake)
            logs = {"train/loss_d": loss_d.detach(),
                    "train/wasserstein": (d_real.mean() - d_fake.mean()).detach()}
            if lc.adversarial == "wgan-gp":
                gp = gradient_penalty(self.D, c, real, fake.detach())
                loss_d = loss_d + lc.lambda_gp * gp
                logs["train/gp"] = gp.detach()
            optimizer_step(self, opt_d, loss_d)

        # Generator: L_G = λ_adv · adv_g(D(x, G(x))) + λ_L1 · ‖G(x) − y‖₁
        if update_g:
            with frozen([self.D]):
                loss_adv = self.adv_g(self.D(c, fake)) if adversarial else fake.new_zeros(())
                loss_l1 = masked_l1(fake, y, m)
                loss_g = lc.lambda_adv * loss_adv + lc.lambda_l1 * loss_l1
                if lc.lambda_emd:
                    loss_emd = histogram_emd(fake, y, m, lc.emd_bins)
                    loss_g = loss_g + lc.lambda_emd * loss_emd
                    logs["train/emd"] = loss_emd.detach()
                if lc.lambda_index:
                    loss_idx = index_l1(x.float(), self.index_bands, fake.float(), y.float(), m,
                                        tuple(lc.indices))
                    loss_g = loss_g + lc.lambda_index * loss_idx
                    logs["train/index_l1"] = loss_idx.detach()
                optimizer_step(self, opt_g, loss_g)
            logs.update({"train/loss_g": loss_g.detach(), "train/g_adv": loss_adv.detach(),
                         "train/l1": loss_l1.detach()})
        self.log_dict(logs, prog_bar=False, batch_size=x.shape[0])

    def on_train_epoch_end(self) -> None:
        sched_g, sched_d = self.lr_schedulers()
        if self.cfg.optim.schedule.kind != "plateau":
            sched_g.step()
            if self.cfg.loss.lambda_adv > 0:  # a critic that never steps keeps its LR
                sched_d.step()
        self.log("lr/generator", self.optimizers()[0].param_groups[0]["lr"])
        self.log("lr/critic", self.optimizers()[1].param_groups[0]["lr"])

    # ------------------------------------------------------------------ validation
    def on_validation_epoch_start(self) -> None:
        self._grid_logged = False

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        x, y, m = batch["input"], batch["target"], batch["mask"]
        pred = self.G(x, batch_context(batch, self.sensors)).float()
        metrics = batch_metrics(pred, y, m)
        if self.red_index is not None:  # NIR target: how far is the NDVI it implies?
            red = x[:, self.red_index:self.red_index + 1].float()
            metrics["ndvi_mae"] = masked_l1(ndvi(red, pred), ndvi(red, y.float()), m)
        for k, v in metrics.items():
            self.log(f"val/{k}", v, batch_size=x.shape[0], sync_dist=True, prog_bar=k != "ssim")
        if not self._grid_logged and self.cfg.train.image_samples:
            self._log_grid(x, y, pred, m)
            self._grid_logged = True

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking or self.cfg.optim.schedule.kind != "plateau":
            return
        metric = self.trainer.callback_metrics.get(self.cfg.train.monitor)
        if metric is not None:
            for s in self.lr_schedulers():
                s.step(float(metric))

    def _log_grid(self, x: Tensor, y: Tensor, pred: Tensor, m: Tensor) -> None:
        exp = getattr(self.logger, "experiment", None)
        if exp is None or not hasattr(exp, "add_image") or self.global_rank != 0:
            return
        k = min(self.cfg.train.image_samples, x.shape[0])
        cond = self.condition(x[:k]).float()
        err = (pred[:k] - y[:k]).abs() * m[:k]
        cols = [to_display(cond), to_display(y[:k]), to_display(pred[:k]), to_display(err, True)]
        grid = make_grid(torch.cat([torch.stack(cols, 1).flatten(0, 1)], 0), ncol=4)
        exp.add_image("val/input_target_prediction_error", grid, self.global_step)

    # ------------------------------------------------------------------ checkpoint extras
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["rng_state"] = {"torch": torch.get_rng_state()}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("rng_state")
        if state is not None:
            torch.set_rng_state(state["torch"])
