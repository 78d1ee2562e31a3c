"""The bundled Sentinel-2 network (``bandbridge/networks/s2-residual``, issue 96) as one more route of
``bandbridge sharpen`` (``--network``) where a run's guides are Sentinel-2's four 10 m bands and its targets bands
the network makes. It is not run by default: issue 96 makes it the default where a 10980² tile's six 20 m bands
take at most 8× a plain predict, and they took 21.08× with it (219.2 s against 122.2 s without it,
``docs/results/sharpen_speed*.json``); the plan states its cost where it would apply.

The network reads the four 10 m bands and the coarse bands upsampled onto their grid, in reflectance,
and makes each band as its upsampled input plus a correction (``models/s2_residual.py``). Here it is
checked, per band, held out at the reference's scale and one Wald step down like any route
(``learners/sharpen_network.py``: it never saw the scene), and a band takes it only where it wins
there. At full scale it runs as a bundle made for the run (``models/channel_map.Mapped``: the work file's
channels, in the run's model values, mapped to what the network reads and its outputs mapped back),
served on the engine's backend and tiles like the fit's bundle, over the same work file.

Beside the guides: where the reference holds bands the network reads on a grid between the guides' and the
targets' (a Sentinel-2 product's 20 m bands on its 60 m run), they go in as upsampled bands of their own
(:class:`Beside`), averaged at each check as the guides are, as the network was trained (``workflows/s2_network``).

Reflectance: a band's product map where the reader states one (Sentinel-2's ``DN / 10000``, with L2A's
offset); a band of stored values over ``policy.NETWORK_DN_ABOVE`` with no map, Sentinel-2's digital numbers
(``bands.SCALINGS["reflectance_10000"]``); else the values as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bandbridge.bands import canonical_band_name
from bandbridge.data.grids import Grid
from bandbridge.models.s2_residual import S2_COARSE
from bandbridge.models.s2_residual import S2_FINE as GUIDES

NAME = "s2-residual"
# the network's pass measured at 10980² (docs/results/sharpen_speed.json: 120.56 MPix × 37,152 multiply-adds in 89.1 s,
# OpenVINO fp32 on a 2-core VM): multiply-adds a second, the plan's estimate of its cost
NETWORK_MACS_S = 120.56e6 * 37152 / 89.1


def network_folder() -> Path | None:
    """The bundled network's folder, where the package holds one."""
    from bandbridge.spec import BUNDLE_META, zoo_dir
    d = zoo_dir().parent / "networks" / NAME
    return d if (d / BUNDLE_META).exists() else None


@dataclass
class Beside:
    """Bands the network reads beside the guides (the 60 m run's 20 m bands): ``values (C, h, w)`` in reflectance
    on their own ``grid`` (unknown cells: the band's median), ``names`` as Sentinel-2 names them."""

    names: list[str]
    values: np.ndarray
    grid: Grid

    def on(self, grid: Grid, fine: Grid) -> np.ndarray:
        """``(C, H, W)`` on ``grid``, where the guides lie averaged by ``m`` from ``fine``: these bands averaged by
        the same ``m`` from their own grid and upsampled onto ``grid`` as the work file upsamples (the network's
        training gave them so: ``workflows/s2_network._pair``)."""
        from bandbridge.learners.sharpen_routes import averaged, up_all
        from bandbridge.policy import REFERENCE_UPSAMPLING
        m = abs(grid.transform.a / fine.transform.a)
        coarse = self.grid.coarser(m)
        means = averaged(self.values, np.ones(self.values.shape[1:], bool), self.grid, coarse)[0]
        return up_all(np.nan_to_num(means, nan=0.0), coarse, grid, REFERENCE_UPSAMPLING).astype(np.float32)


@dataclass
class Network:
    """The network on one run: ``guides`` the run's guide index of each of :data:`GUIDES`, ``slots`` each
    target's output of the network, ``outputs`` the network's bands; ``gmap``/``tmap`` each run guide's and
    target's stored value → reflectance ``(scale, offset)``."""

    folder: Path
    guides: list[int]
    slots: list[int]
    outputs: list[str]
    gmap: list[tuple[float, float]] = field(default_factory=list)
    tmap: list[tuple[float, float]] = field(default_factory=list)
    fine: Grid | None = None  # the guides' grid
    beside: list[str] = field(default_factory=list)  # the reference's bands it reads beside the guides (:func:`besides`)
    values: Beside | None = None  # those bands, read at the fit (:func:`read_beside`)
    beside_ratio: float = 1.0  # their pixel over the guides'
    _net: object = None

    def beside_bytes(self, pixels: int) -> float:
        """What the bands beside hold at the fit on a fine grid of ``pixels``: read, and in reflectance (float32)."""
        return 8.0 * len(self.beside) * pixels / self.beside_ratio ** 2

    def net(self):
        """The network (loaded once, from the bundle's safetensors: no unpickling)."""
        if self._net is None:
            from bandbridge.bundle import load_bundle
            self._net = load_bundle(self.folder).generator.eval()
        return self._net

    def __call__(self, xs: np.ndarray, ups: np.ndarray, grid: Grid) -> np.ndarray:
        """``(Ct, h, w)`` the run's targets in stored values, by the network from the run's guides ``xs (G, h, w)``
        and upsampled targets ``ups (Ct, h, w)`` (stored values) on ``grid``, with the bands beside upsampled
        onto it as :meth:`Beside.on` gives them (``models/s2_residual.refine``, in tiles)."""
        from bandbridge.models.s2_residual import refine
        g = np.stack([xs[i] * self.gmap[i][0] + self.gmap[i][1] for i in self.guides])
        u = np.stack([ups[i] * a + b for i, (a, b) in enumerate(self.tmap)])
        names = [S2_COARSE[s] for s in self.slots]
        if self.values is not None:
            u, names = np.concatenate([u, self.values.on(grid, self.fine)]), names + self.values.names
        y = refine(self.net(), g, u, names)
        return np.stack([(y[i] - b) / a for i, (a, b) in enumerate(self.tmap)]).astype(np.float32)


def offered(guide_names: list[str], target_names: list[str], enabled: bool | str | Path = False,
            pixels: int = 0, fine: Grid | None = None, beside: tuple[list[str], float] = ([], 1.0)
            ) -> tuple[Network | None, str]:
    """The network on this run, or None, and the plan's line: offered where it is asked (``enabled``: True the
    package's, a folder a bundle of it, a record's fold) and bundled, the guides hold Sentinel-2's four 10 m bands
    and every target is a band it makes; where not asked but it would apply, its cost on the ``pixels`` of the
    fine grid, and how to ask. ``beside``: the reference's bands it reads beside the guides (:func:`besides`), on
    the guides' grid ``fine``."""
    folder = (network_folder() if enabled in (True, False) else Path(enabled))
    if folder is None:
        return None, ""
    from bandbridge.spec import read_spec
    outputs = [canonical_band_name(n) for n in read_spec(folder).target_names]
    gs, ts = [canonical_band_name(n) for n in guide_names], [canonical_band_name(n) for n in target_names]
    if not set(GUIDES) <= set(gs) or not set(ts) <= set(outputs):
        if not enabled:
            return None, ""
        lacks = [b for b in GUIDES if b not in gs] or [b for b in ts if b not in outputs]
        what = "guides lack" if lacks[0] in GUIDES else "targets it does not make are"
        return None, (f"the Sentinel-2 network: not offered (--network): it takes {', '.join(GUIDES)} as guides and "
                      f"makes {', '.join(outputs)}; the {what} {', '.join(lacks)} (name the bands as Sentinel-2 does)")
    if not enabled:
        return None, (f"the Sentinel-2 network: not run ({cost(pixels)}; --network runs it, a route per band "
                      "taken where it holds out better)")
    from bandbridge.policy import NETWORK_ALLOWANCE
    net = Network(folder, [gs.index(b) for b in GUIDES], [outputs.index(b) for b in ts], outputs, fine=fine,
                  beside=list(beside[0]), beside_ratio=beside[1])
    also = f", with the reference's {', '.join(beside[0])} upsampled beside them" if beside[0] else ""
    return net, (f"the Sentinel-2 network ({NAME}, bundled: trained across Sentinel-2 scenes on {', '.join(GUIDES)} "
                 f"and the coarse bands upsampled{also}): a route per band, taken where it beats the best upsampling one Wald "
                 "step down and, over the best upsampling at the reference's scale, the band's own route as that is "
                 f"applied beyond its fit, allowed {NETWORK_ALLOWANCE:g}×; {cost(pixels)}")


def besides(reference: str, target_names: list[str], target_grid: Grid, fine: Grid) -> tuple[list[str], float]:
    """The reference's bands the network reads beside the guides on a run of these targets: bands it takes, none a
    target, on a grid finer than the targets' and coarser than the guides' (a Sentinel-2 product's 20 m bands on
    its 60 m run), those of the finest such grid (from the headers: nothing read), and their pixel over the guides'."""
    from bandbridge.inference.place.sharpen_read import bands_of, grid_of
    own, px_f = abs(target_grid.transform.a), abs(fine.transform.a)
    ts = {canonical_band_name(n) for n in target_names}
    sizes = {b.name: abs(grid_of(b.path).transform.a) * b.cell for b in bands_of(reference, "--reference")
             if canonical_band_name(b.name) in S2_COARSE and canonical_band_name(b.name) not in ts}
    sizes = {n: v for n, v in sizes.items() if px_f * 1.01 < v < own / 1.01}  # strictly between, past round-off
    if not sizes:
        return [], 1.0
    return [n for n, v in sizes.items() if v == min(sizes.values())], min(sizes.values()) / px_f


def read_beside(net: Network, reference: str) -> None:
    """The bands :attr:`Network.beside` names read from ``reference`` over the guides' footprint, in reflectance
    (:func:`reflectance`; an unknown cell its band's median)."""
    if not net.beside:
        return
    from bandbridge.inference.place.sharpen_read import open_targets
    t = open_targets(reference, list(net.beside), net.fine)
    maps = [reflectance(t.values[i][t.valid], t.scales[i], t.offsets[i]) for i in range(len(t.names))]
    v = np.stack([t.values[i] * a + b for i, (a, b) in enumerate(maps)])
    v = np.where(t.valid[None], v, np.nanmedian(np.where(t.valid[None], v, np.nan), axis=(1, 2))[:, None, None])
    net.values = Beside([canonical_band_name(n) for n in t.names], v.astype(np.float32), t.grid)


def cost(pixels: int) -> str:
    """The network's pass in words: its work on ``pixels`` and its time at the rate measured at 10980²."""
    from bandbridge.inference.place.sharpen_model import seconds
    from bandbridge.models.s2_residual import multiply_adds
    n = multiply_adds()
    return (f"its work {n:,} multiply-adds a pixel, {n * pixels / 1e12:.3g} T here: about {seconds(n * pixels / NETWORK_MACS_S)}"
            f" s at the rate measured at 10980² ({NETWORK_MACS_S / 1e9:.0f} G a second, OpenVINO fp32 on 2 cores), and a "
            "pass over its output for the correction; there a tile's six 20 m bands took 219.2 s with it, 122.2 s without")


def reflectance(values: np.ndarray, scale: float, offset: float) -> tuple[float, float]:
    """One band's stored value → reflectance ``(scale, offset)`` (see the module)."""
    from bandbridge.bands import SCALINGS
    from bandbridge.policy import NETWORK_DN_ABOVE
    if (scale, offset) not in ((1.0, 0.0), (0.0, 0.0)):
        return float(scale), float(offset)
    v = values[np.isfinite(values)]
    dn = SCALINGS["reflectance_10000"]
    return (1.0 / dn.scale, 0.0) if v.size and float(np.median(v)) > NETWORK_DN_ABOVE else (1.0, 0.0)


def mapped(net: Network, gunits, units, ct: int) -> tuple[object, dict]:
    """The run's bundle module (``models/channel_map.Mapped``): the work file's channels (the ``ct`` upsampled
    targets in ``units``' model values, then the guides in ``gunits``', then the bands beside in reflectance,
    each read as ``minmax`` over ``fill_fit.FEED``) → the network's inputs, its outputs of the run's targets →
    their model values; and its ``model.generator`` arguments."""
    import torch

    from bandbridge.learners.fill_fit import FEED
    from bandbridge.models.channel_map import ONE, ZERO, Mapped
    n, g, nb = len(net.outputs), len(net.gmap), len(net.values.names) if net.values is not None else 0
    gather = [ct + i for i in net.guides] + [ZERO] * (2 * n)
    slots = [(i, s) for i, s in enumerate(net.slots)] + [(ct + g + j, net.outputs.index(b)) for j, b in
                                                          enumerate(net.values.names if nb else [])]
    for i, s in slots:
        gather[len(GUIDES) + s], gather[len(GUIDES) + n + s] = i, ONE
    from bandbridge.spec import read_spec
    args = dict(read_spec(net.folder).config.model.generator.args)
    args = {"gather": gather, "outputs": list(net.slots),
            "net": {"in_channels": len(GUIDES) + 2 * n, "out_channels": n, **args}}
    m = Mapped(ct + g + nb, ct, **args)
    m.net.load_state_dict(net.net().state_dict())
    a, b = np.full(ct + g + nb, FEED[1] - FEED[0]), np.full(ct + g + nb, FEED[0])  # beside: reflectance fed as minmax
    for i, (sc, of) in enumerate(net.tmap):  # stored = lo + (fed value − ROOM0)·span/… : affine in z, here at 0 and 1
        s0, s1 = _stored_at(units, i, ct)
        a[i], b[i] = (s1 - s0) * sc, s0 * sc + of
    for i, (sc, of) in enumerate(net.gmap):
        s0, s1 = _stored_at(gunits, i, g)
        a[ct + i], b[ct + i] = (s1 - s0) * sc, s0 * sc + of
    c = np.array([_model_slope(units, i, ct, net.tmap[i]) for i in range(ct)])
    with torch.no_grad():
        for name, v in (("a", a), ("b", b), ("c", c[:, 0]), ("d", c[:, 1])):
            getattr(m, name).copy_(torch.tensor(v, dtype=torch.float32))
    return m.eval(), args


def network_part(net: Network, s, names: list[str], guide_names: list[str]):
    """The run's network (:func:`mapped` of the decision ``s``: its units) and its bundle's blocks, read from the
    work file as the fit's bundle reads it (``place/bundle.Part``)."""
    from bandbridge.inference.place.bundle import Part
    from bandbridge.learners.fill_fit import FEED
    module, args = mapped(net, s.guide_units, s.units, len(names))
    inputs = [f"{n} upsampled" for n in names] + list(guide_names) + [f"{n} beside" for n in beside_names(net)]
    record = {"network": NAME, "routes": {b.name: b.route for b in s.bands}}
    return Part(module, "sharpen-network", {"bands": list(range(len(inputs))), "scaling": "minmax", "vmin": FEED[0],
                                            "vmax": FEED[1], "band_names": inputs},
                {"bands": list(names), "scaling": "minmax", "vmin": 0.0, "vmax": 1.0},
                {"name": "s2-residual-mapped", "args": args}, ("sharpen_network", record))


def beside_names(net: Network) -> list[str]:
    """The bands read beside the guides (none where none were)."""
    return net.values.names if net.values is not None else []


def mapped_units(net: Network, x_c: np.ndarray, t) -> None:
    """Each guide's and target's stored value → reflectance map (:func:`reflectance`), from the guides' cell
    means ``x_c (G, h, w)`` and the targets ``t`` (``sharpen_read.Targets``)."""
    net.gmap = [reflectance(x_c[i], 1.0, 0.0) for i in range(x_c.shape[0])]
    net.tmap = [reflectance(t.values[i][t.valid], t.scales[i], t.offsets[i]) for i in range(len(t.names))]


def _stored_at(u, i: int, c: int) -> tuple[float, float]:
    """Band ``i``'s stored values (of ``c`` bands mapped by ``u``) at the fed values 0 and 1 (``FEED``'s ends)."""
    from bandbridge.learners.fill_fit import FEED
    ends = np.array(FEED, np.float32)[None, :, None].repeat(c, 0)  # (c, 2, 1) model values
    s = u.to_stored(ends)
    return float(s[i, 0, 0]), float(s[i, 1, 0])


def _model_slope(u, i: int, c: int, m: tuple[float, float]) -> tuple[float, float]:
    """``(c, d)``: band ``i``'s reflectance → its model values (``u``), affine: at reflectance 0 and 1."""
    refl = np.array([0.0, 1.0], np.float64)
    stored = ((refl - m[1]) / m[0]).astype(np.float32)[None, :, None].repeat(c, 0)
    v = u.to_model(stored)
    return float(v[i, 1, 0] - v[i, 0, 0]), float(v[i, 0, 0])
