"""The Sentinel-2 network as a route of ``bandbridge sharpen`` (issue 96, ``place/sharpen_network.py``): the
run's bundle (``models/channel_map.Mapped``) computes on the work file's model values exactly what the network
computes on the stored values; a SAFE's plan states its cost and ``--network`` offers it; a band that takes it is written from the engine's pass of that bundle, tagged with its route and learner."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch

from test_sharpen_read import s2_safe, sharpened

import bandbridge.inference.place.sharpen_network as sn
from bandbridge.learners.fill_fit import FEED
from bandbridge.learners.sharpen import Headroom
from bandbridge.models.s2_residual import S2_COARSE, S2Residual


GRID = None  # the grid the network's input lies on: read only for the bands beside the guides (none here)


def random_network(seed: int = 0) -> S2Residual:
    """An S2Residual whose correction is not zero (its tail drawn small), so it differs from the upsampled band."""
    torch.manual_seed(seed)
    net = S2Residual()
    with torch.no_grad():
        net.tail.weight.normal_(0, 0.02)
    return net.eval()


@pytest.fixture
def bundled(tmp_path_factory, monkeypatch):
    """A network bundle of :func:`random_network`, found where the package's would be."""
    from bandbridge.bundle import save_bundle
    from bandbridge.config import build_config
    folder = tmp_path_factory.mktemp("network") / sn.NAME
    refl = {"scaling": "reflectance"}
    src = {"name": "s2", "layout": "multiband", "files": ["scene.tif"],
           "input": {"bands": list(range(20)), **refl}, "target": {"bands": S2_COARSE, **refl}}
    conf = build_config({"name": sn.NAME, "data": {"root": ".", "sources": [src]},
                         "model": {"generator": {"name": "s2-residual", "args": {"nf": 24, "n_blocks": 3}}}})
    save_bundle(folder, random_network(), conf, 20, 8, epoch=-1)
    monkeypatch.setattr(sn, "network_folder", lambda: folder)
    return folder


def test_the_runs_bundle_is_the_network_on_the_work_files_model_values(bundled):
    rng = np.random.default_rng(0)
    net, _ = sn.offered(["B02", "B03", "B04", "B08"], ["B05", "B11"], True)
    xs = (800 + 2000 * rng.random((4, 24, 24))).astype(np.float32)  # digital numbers: ÷ 10000
    ups = (1000 + 3000 * rng.random((2, 24, 24))).astype(np.float32)
    net.gmap = [sn.reflectance(x, 1.0, 0.0) for x in xs]
    net.tmap = [(1e-4, -0.1)] * 2  # L2A's map, as the reader states it
    assert net.gmap == [(1e-4, 0.0)] * 4
    ok = np.ones((24, 24), bool)
    gunits, units = Headroom(xs, ok), Headroom(ups, ok)
    expect = units.to_model(net(xs, ups, GRID))  # the network on stored values, its output in model values
    module, args = sn.mapped(net, gunits, units, 2)
    channels = np.concatenate([units.to_model(ups), gunits.to_model(xs)])
    z = (channels - FEED[0]) / (FEED[1] - FEED[0])  # the bundle's minmax input
    with torch.no_grad():
        got = module(torch.from_numpy(z[None]))[0].numpy()
    inside = (expect > 0.01) & (expect < 0.99)  # the bundle clamps to [0, 1], as every fit's does
    assert inside.mean() > 0.9 and np.abs(got - expect)[inside].max() < 1e-4
    assert args["outputs"] == [S2_COARSE.index("B05"), S2_COARSE.index("B11")]


def test_the_bands_beside_go_in_as_the_check_gives_them_and_the_bundle_reads_them_from_the_work_file(bundled):
    """The 60 m run's 20 m bands beside the guides (``Beside``): at the guides' own grid, upsampled as the work file
    upsamples them; on a grid the guides are averaged onto by 6, averaged by 6 from their own grid first (what the
    network was trained on); the run's bundle reads them from the work file's channels after the guides, in
    reflectance, and computes what the network computes."""
    from affine import Affine

    from bandbridge.data.grids import Grid, block_mean
    from bandbridge.inference.place.fields import Lattice
    from bandbridge.learners.sharpen_routes import up_all
    rng = np.random.default_rng(1)
    fine = Grid(None, Affine(10.0, 0, 0.0, 0, -10.0, 480.0), 48, 48)
    between = (0.05 + 0.3 * rng.random((2, 24, 24))).astype(np.float32)
    side = sn.Beside(["B05", "B11"], between, fine.coarser(2))
    assert np.allclose(side.on(fine, fine), up_all(between, fine.coarser(2), fine, "cubic"), atol=1e-6)
    at6 = side.on(fine.coarser(6), fine)  # 8² guides' grid: the 20 m bands averaged by 6 (4²), upsampled onto it
    assert at6.shape == (2, 8, 8)
    assert np.allclose(at6, up_all(block_mean(between, 6)[0], fine.coarser(12), fine.coarser(6), "cubic"), atol=1e-6)
    net, _ = sn.offered(["B02", "B03", "B04", "B08"], ["B01", "B09"], True, 48 * 48, fine, (["B05", "B11"], 2.0))
    net.values = side
    xs = (0.02 + 0.3 * rng.random((4, 48, 48))).astype(np.float32)
    ups = (0.02 + 0.3 * rng.random((2, 48, 48))).astype(np.float32)
    net.gmap, net.tmap = [(1.0, 0.0)] * 4, [(1.0, 0.0)] * 2
    ok = np.ones((48, 48), bool)
    gunits, units = Headroom(xs, ok), Headroom(ups, ok)
    expect = units.to_model(net(xs, ups, fine))
    module, args = sn.mapped(net, gunits, units, 2)
    beside = Lattice.of(fine, side.grid).up(between, 0, 48, "cubic")
    channels = np.concatenate([units.to_model(ups), gunits.to_model(xs), beside])
    with torch.no_grad():
        got = module(torch.from_numpy(((channels - FEED[0]) / (FEED[1] - FEED[0]))[None]))[0].numpy()
    inside = (expect > 0.01) & (expect < 0.99)
    assert inside.mean() > 0.9 and np.abs(got - expect)[inside].max() < 1e-4
    plain = units.to_model(sn.Network(net.folder, net.guides, net.slots, net.outputs, net.gmap, net.tmap)(xs, ups, fine))
    assert np.abs(plain - expect).max() > 1e-3  # the bands beside change what it makes


def test_a_safe_states_its_cost_and_network_offers_it(tmp_path, run_cli, bundled):
    """Not run by default (issue 96: not within 8× a plain predict at 10980²): the plan states its cost where it
    would apply; ``--network`` offers it as a route."""
    safe, _ = s2_safe(tmp_path, jp2=False)
    code, plan, _ = run_cli("sharpen", str(safe), "--reference", str(safe), "--bands", "B05,B11", "-o",
                            str(tmp_path / "p.tif"), "--plan")
    assert code == 0 and "the Sentinel-2 network: not run (its work 37,152 multiply-adds a pixel" in plan, plan
    assert "--network runs it" in plan
    code, plan, _ = run_cli("sharpen", str(safe), "--reference", str(safe), "--bands", "B05,B11", "-o",
                            str(tmp_path / "p.tif"), "--plan", "--network")
    assert code == 0 and "the Sentinel-2 network (s2-residual, bundled" in plan and "its work 37,152" in plan
    assert not (tmp_path / "p.tif").exists()


def network_taken(monkeypatch, only: str | None = None) -> None:
    """The route rule made to give the network to every band (``only``: to that band; the others by the rule), so
    a test reaches the engine's pass of the network's bundle (the rule's own checks are ``learners``' tests')."""
    import bandbridge.learners.sharpen as ls
    from bandbridge.learners.sharpen_network import NETWORK
    rule = ls.prefer

    def take(band, heldout, transfer, su=None):
        if only is not None and band.name != only:
            return rule(band, heldout, transfer, su)
        band.heldout.update(heldout)
        band.route, band.why, band.network = NETWORK, "taken by the test", "taken by the test"
        return True
    monkeypatch.setattr(ls, "prefer", take)


def test_a_band_that_takes_it_is_the_engines_pass_of_the_runs_bundle(tmp_path, run_cli, bundled, monkeypatch):
    """The rule made to take the network for every band (its checks are ``learners``' tests'): the output is the
    network's, made consistent where its check says so, written and tagged as its route."""
    from bandbridge.learners.sharpen_network import NETWORK
    network_taken(monkeypatch)
    safe, _ = s2_safe(tmp_path, jp2=False)
    out, v, said = sharpened(run_cli, tmp_path / "o.tif", str(safe), "--reference", str(safe), "--bands", "B05,B11",
                             "--network")
    assert said["routes"] == [NETWORK, NETWORK], out
    with rasterio.open(tmp_path / "o.tif") as d:
        assert d.tags(1)["bandbridge_learner"].startswith("s2-residual")
    _, plain, said0 = sharpened(run_cli, tmp_path / "n.tif", str(safe), "--reference", str(safe), "--bands", "B05,B11")
    assert NETWORK not in said0["routes"] and not np.array_equal(v, plain)
    assert sorted(q.name for q in tmp_path.iterdir()) == sorted(["o.tif", "n.tif", safe.name])


def test_the_60m_bands_take_the_20m_bands_beside_through_the_engine(tmp_path, run_cli, bundled, monkeypatch):
    """``--bands B01,B09 --network`` on a SAFE: the plan names its 20 m bands (B05, B11: not the R20m copy of B02,
    which the network does not read) as read beside the guides; a band taking the network is written from the
    bundle's pass over a work file that holds them, and differs from the same run with none beside."""
    from bandbridge.learners.sharpen_network import NETWORK
    network_taken(monkeypatch)
    safe, _ = s2_safe(tmp_path, jp2=False)
    args = (str(safe), "--reference", str(safe), "--bands", "B01,B09", "--network")
    code, plan, _ = run_cli("sharpen", *args, "-o", str(tmp_path / "p.tif"), "--plan")
    assert code == 0 and "with the reference's B05, B11 upsampled beside them" in plan, plan
    out, v, said = sharpened(run_cli, tmp_path / "o.tif", *args)
    assert said["routes"] == [NETWORK, NETWORK], out
    monkeypatch.setattr(sn, "besides", lambda *a: ([], 1.0))
    _, alone, _ = sharpened(run_cli, tmp_path / "a.tif", *args)
    assert np.abs(v.astype(float) - alone.astype(float)).max() > 0


def test_the_fit_and_the_network_share_one_pass_and_each_band_reads_its_own_half(tmp_path, run_cli, bundled,
                                                                                monkeypatch):
    """B05 made to take the network, B11 left to the rule (the fit, on this SAFE): one joined bundle serves both in
    one engine pass over the work file (``sharpen.bundles``); each band is what its own bundle alone gives."""
    from bandbridge.learners.sharpen_network import NETWORK
    network_taken(monkeypatch, only="B05")
    safe, _ = s2_safe(tmp_path, jp2=False)
    args = (str(safe), "--reference", str(safe), "--bands", "B05,B11", "--network")
    out, joined, said = sharpened(run_cli, tmp_path / "j.tif", *args)
    assert said["routes"][0] == NETWORK and said["routes"][1].startswith("fit"), out
    assert "the sharpener's fit and the Sentinel-2 network, one pass" in out
    import bandbridge.learners.registry as lr
    monkeypatch.setattr(lr, "traceable", lambda m: False)  # each its own bundle and pass, as for trees
    out2, apart, _ = sharpened(run_cli, tmp_path / "a.tif", *args)
    assert "one pass" not in out2 and np.array_equal(joined, apart)


def test_network_asked_where_it_does_not_apply_says_why(bundled):
    """``--network`` on guides without B08, or a target it does not make: not offered, and the plan says why."""
    net, line = sn.offered(["B02", "B03", "B04"], ["B05"], True, 100)
    assert net is None and "not offered (--network)" in line and "guides lack B08" in line
    net, line = sn.offered(["B02", "B03", "B04", "B08"], ["B05", "thermal"], True, 100)
    assert net is None and "targets it does not make are THERMAL" in line
    assert sn.offered(["B02", "B03", "B04"], ["B05"], False, 100) == (None, "")  # not asked: nothing to say
