"""CycleGAN (Zhu et al. 2017): translation learnt from two image sets that are not registered.

x ∈ A (the input domain, ``(B, Ci, h, w)``) and y ∈ B (the target domain, ``(B, Ct, h, w)``) come
from different images (data/unpaired.py), each with its own valid mask. G: A → B is the
generator that is bundled (``self.G``, as in the paired task, so bundles, ``--init-from`` and
prediction treat it alike); F: B → A its inverse; D_B (``self.D``) and D_A are unconditional
PatchGANs that see an image alone.

Generators (every ``n_critic``-th batch; once per batch for LSGAN):
    L_G = λ_adv·[adv_g(D_B(G(x))) + adv_g(D_A(F(y)))] + λ_cyc·[‖F(G(x)) − x‖₁ + ‖G(F(y)) − y‖₁]
          + λ_id·[‖G(y) − y‖₁ + ‖F(x) − x‖₁]
Critics (every batch), on fakes drawn from a pool of past generator outputs:
    L_D = adv_d(D_B(y), D_B(pool_B(G(x)))) + adv_d(D_A(x), D_A(pool_A(F(y)))) [+ λ_gp·GP each]
Validation has no pairs either: the 1-D Wasserstein distances between the distributions of G's
outputs on the A tiles and of the real B tiles, of values and of gradient magnitudes
(losses/distribution.py), logged as ``val/w1_intensity``, ``val/w1_gradient`` and their mean
``val/w1`` (model units).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bandbridge.data.datasets import batch_context
from bandbridge.errors import BandbridgeError
from bandbridge.losses import gradient_penalty
from bandbridge.losses.cycle import as_bands, can_swap_bands, two_domain_l1
from bandbridge.losses.distribution import DistributionSample
from bandbridge.generators import build_generator
from bandbridge.models import build_critic
from bandbridge.training.display import make_grid, to_display
from bandbridge.training.paired import GANTask
from bandbridge.training.steps import frozen, optimizer_step


class ImagePool:
    """The last ``size`` generated images (Shrivastava et al. 2017, as CycleGAN uses it): until
    the pool is full each image is stored and shown as is; then, with probability ½, it is
    swapped for a random stored image, which it replaces. The critic thus also sees older fakes,
    which damps the generators' and critics' oscillation. Draws use the global RNG, which the
    task seeds per batch (exact resume); the stored images travel in the checkpoint."""

    def __init__(self, size: int):
        self.size = size
        self.images: list[Tensor] = []  # each (C, h, w), detached

    def query(self, images: Tensor) -> Tensor:
        """``images (B, C, h, w)`` → as many images, some swapped for older ones."""
        if self.size == 0:
            return images.detach()
        out = []
        for im in images.detach():
            if len(self.images) < self.size:
                self.images.append(im.clone())
                out.append(im)
            elif float(torch.rand(())) < 0.5:
                k = int(torch.randint(0, self.size, ()))
                out.append(self.images[k].to(im))
                self.images[k] = im.clone()
            else:
                out.append(im)
        return torch.stack(out)

    def state(self) -> Tensor | None:
        return torch.stack(self.images).cpu() if self.images else None

    def load(self, stacked: Tensor | None) -> None:
        self.images = list(stacked.unbind(0)) if stacked is not None else []


def unconditional(critic: nn.Module, image: Tensor) -> Tensor:
    """Scores of a PatchGAN on an image alone (its condition has no channels)."""
    return critic(image[:, :0], image)


class CycleGANTask(GANTask):
    """Two generators and two critics; the schedules, logging, checkpoint RNG and the bundled
    ``G`` are the paired task's."""

    def __init__(self, config: dict, in_channels: int, out_channels: int):
        super().__init__(config, in_channels, out_channels)
        g, d, lc = self.cfg.model.generator, self.cfg.model.critic, self.cfg.loss
        self.F = build_generator(g.name, out_channels, in_channels, g.args)
        self.D_A = build_critic(d.name, in_channels, d.args)
        self.pool_a, self.pool_b = ImagePool(lc.pool_size), ImagePool(lc.pool_size)
        if lc.lambda_identity and not can_swap_bands(out_channels, in_channels):
            raise BandbridgeError(
                f"loss.lambda_identity: the identity terms show B's {out_channels} bands to G, "
                f"which takes {in_channels}; only equal counts or a single band can be shown "
                "as the other. Set loss.lambda_identity=0")
        self._fake, self._real = DistributionSample(), DistributionSample()

    def critic_channels(self, in_channels: int, out_channels: int) -> int:
        return out_channels  # D_B sees a B image alone

    def networks(self) -> tuple[list[nn.Module], list[nn.Module]]:
        return [self.G, self.F], [self.D, self.D_A]

    # ------------------------------------------------------------------ training
    def training_step(self, batch: dict, batch_idx: int) -> None:
        a, b = batch["a"], batch["b"]
        x, mx, y, my = a["input"], a["mask"], b["input"], b["mask"]
        opt_g, opt_d = self.optimizers()
        lc = self.cfg.loss
        self.batches_seen += 1
        self.seed_batch()
        update_g = int(self.batches_seen) % lc.critic_steps == 0
        ci, ct = x.shape[1], y.shape[1]
        logs = {}
        with torch.set_grad_enabled(update_g):
            g_x = self.G(x, batch_context(a, self.sensors)) * mx  # G(x): fake B
            f_y = self.F(y, batch_context(b, self.sensors)) * my  # F(y): fake A

        # Generators. The fakes carry no image context: their statistics are their own.
        if update_g:
            with frozen([self.D, self.D_A]):
                adv = self.adv_g(unconditional(self.D, g_x)) + self.adv_g(unconditional(self.D_A, f_y))
                cyc = two_domain_l1(x, self.F(g_x) * mx, mx, y, self.G(f_y) * my, my)
                loss_g = lc.lambda_adv * adv + lc.lambda_cycle * cyc
                if lc.lambda_identity:
                    idt = two_domain_l1(x, self.F(as_bands(x, ct)) * mx, mx,
                                        y, self.G(as_bands(y, ci)) * my, my)
                    loss_g = loss_g + lc.lambda_identity * idt
                    logs["train/identity"] = idt.detach()
                optimizer_step(self, opt_g, loss_g)
            logs.update({"train/loss_g": loss_g.detach(), "train/g_adv": adv.detach(),
                         "train/cycle": cyc.detach()})

        # Critics: real images against pooled fakes, one objective per domain.
        loss_d = x.new_zeros(())
        for critic, real, fake in ((self.D, y * my, self.pool_b.query(g_x)),
                                   (self.D_A, x * mx, self.pool_a.query(f_y))):
            loss_d = loss_d + self.adv_d(unconditional(critic, real), unconditional(critic, fake))
            if lc.adversarial == "wgan-gp":
                gp = gradient_penalty(critic, real[:, :0], real, fake)
                loss_d = loss_d + lc.lambda_gp * gp
        optimizer_step(self, opt_d, loss_d)
        logs["train/loss_d"] = loss_d.detach()
        self.log_dict(logs, prog_bar=False, batch_size=x.shape[0])

    # ------------------------------------------------------------------ validation
    def on_validation_epoch_start(self) -> None:
        super().on_validation_epoch_start()
        self._fake, self._real = DistributionSample(), DistributionSample()

    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Loader 0: A tiles, translated by G; loader 1: real B tiles."""
        x, m = batch["input"], batch["mask"]
        if dataloader_idx == 1:
            self._real.add(x.float(), m)
            return
        pred = self.G(x, batch_context(batch, self.sensors)).float()
        self._fake.add(pred, m)
        if not self._grid_logged and self.cfg.train.image_samples:
            self._log_cycle_grid(x, pred, m)
            self._grid_logged = True

    def on_validation_epoch_end(self) -> None:
        if self._fake.values and self._real.values:
            for k, v in self._fake.distances(self._real).items():
                self.log(f"val/{k}", v, prog_bar=k == "w1")
        super().on_validation_epoch_end()  # a plateau schedule reads the monitor just logged

    def start_metrics(self, dm) -> dict[str, float]:
        """The distances of the untrained G, as validation measures them."""
        fake, real = DistributionSample(), DistributionSample()
        was_training = self.G.training
        self.G.eval()
        tiles_a, tiles_b = dm.val_dataloader()
        with torch.inference_mode():
            for batch in tiles_a:
                fake.add(self.G(batch["input"], batch_context(batch, self.sensors)), batch["mask"])
            for batch in tiles_b:
                real.add(batch["input"], batch["mask"])
        self.G.train(was_training)
        return fake.distances(real)

    def _log_cycle_grid(self, x: Tensor, pred: Tensor, m: Tensor) -> None:
        """A row per sample: x | G(x) | F(G(x)) (no target: there is none)."""
        exp = getattr(self.logger, "experiment", None)
        if exp is None or not hasattr(exp, "add_image") or self.global_rank != 0:
            return
        k = min(self.cfg.train.image_samples, x.shape[0])
        back = self.F(pred[:k] * m[:k]).float()
        cols = [to_display(x[:k]), to_display(pred[:k]), to_display(back)]
        grid = make_grid(torch.stack(cols, 1).flatten(0, 1), ncol=3)
        exp.add_image("val/input_translated_cycled", grid, self.global_step)

    # ------------------------------------------------------------------ checkpoint extras
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["image_pools"] = {"a": self.pool_a.state(), "b": self.pool_b.state()}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        super().on_load_checkpoint(checkpoint)
        pools = checkpoint.get("image_pools") or {}
        self.pool_a.load(pools.get("a"))
        self.pool_b.load(pools.get("b"))
