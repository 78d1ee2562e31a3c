"""``bandbridge gaps``: cloud filling (``bandbridge fill``) scored on the WorldCereal time series (its record
``docs/results/gaps.json``): per sample, pairs of consecutive Sentinel-2 dates both more than :data:`CLEAR` clear
by SCL, each with Sentinel-1 within :data:`~bandbridge.policy.SAR_DAYS` days; a seeded disc hiding 20–80 % of the
later date is the "cloud" (every :data:`REAL_EVERY`-th pair also under a cloudy date's real SCL mask); MAE in
reflectance over the hidden pixels really clear, B02, B03, B04, B08, for each of :data:`COLUMNS`, and realism
beside. The fill's settings were chosen on sample 00002806639B424A only; 0000280849BAC91C is held out.
"""

from __future__ import annotations

import json
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from bandbridge.data.cube import step_fractions
from bandbridge.evaluation.gaps_dates import day, interpolation, median_composite, read_series
from bandbridge.evaluation.gaps_table import LATER, STRATA
from bandbridge.evaluation.gaps_fill import Case, fill_columns, mask_of
from bandbridge.inference.place.fill_read import read_layer, sar_on
from bandbridge.learners.fill_fit import composite, linear_maps
from bandbridge.policy import SAR_DAYS

SAMPLES = ("sample_00002806639B424A", "sample_0000280849BAC91C")
CLEAR = 0.95  # a date is clear when more than this share of its pixels is clear by SCL
HIDE = (0.2, 0.8)  # the disc hides this share of the later date (uniform, seeded)
REAL_EVERY = 4  # pairs that also get a real cloudy date's SCL mask laid over them
COLUMNS = ("as-is", "linear", "median", "interp", "sar2optical", "fit-no-sar", "fit-sar", "fill", "fill-later")
AREAS = ("cloud", "image")  # the field's two areas: the hidden pixels scored, and the whole image
SEED = 70
WORKERS = 2  # processes the cases are spread over (the reference machine's two cores)


@dataclass
class Row:
    sample: str
    earlier: str
    later: str
    days: int
    mask: str  # "disc" or the cloudy date whose SCL was laid over
    hidden: int  # pixels scored
    mae: dict[str, float] = field(default_factory=dict)
    route: str = ""  # what fill chose
    snow: str = ""  # which date SCL calls more than half snow ("earlier", "later"; in Belgium: a cloud)
    scores: dict[str, dict] = field(default_factory=dict)  # column → area → metrics.removal_metrics
    both: float = 0.0  # share of the scored pixels with a clear date on both sides (interpolated)
    after: str = ""  # the nearest clear date after the scene, given to fill-later ("": none in the cube)


PARTS = (("S2_L2A_10m_*.nc", "10 m Sentinel-2 cube"), ("S2_L2A_20m_*.nc", "20 m Sentinel-2 cube (its SCL)"),
         ("S1_GRD-*.nc", "Sentinel-1 cube"))
RECORDS = ("gaps.json", "gaps.md")  # what ``save`` writes; gaps_sources.* beside them with the sources


def check_run(data: str | Path, output: str | Path, overwrite: bool, records: tuple[str, ...] = RECORDS) -> None:
    """Refuse, before anything is read or scored (issue 77), in one line: ``--data`` without
    ``worldcereal/`` or with a sample folder that lacks one of its :data:`PARTS`; ``-o`` a file, a
    folder that cannot be written, or one that holds ``records`` already, without ``--overwrite``."""
    from bandbridge.errors import BandbridgeError
    from bandbridge.fileio import check_writable
    root = Path(data) / "worldcereal"
    if not root.is_dir():
        raise BandbridgeError(f"--data {data}: no worldcereal/ folder there; give the development data root")
    for sample in SAMPLES:
        for pattern, what in PARTS:
            if (root / sample).is_dir() and not any((root / sample).glob(pattern)):
                raise BandbridgeError(f"--data {data}: worldcereal/{sample} has no {what} ({pattern}); add it, or "
                                      "move the sample's folder out to score the others")
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise BandbridgeError(f"--output {output} is a file; give a folder for {', '.join(records)}")
    there = [n for n in records if (out / n).exists()]
    if there and not overwrite:
        raise BandbridgeError(f"--output {output} holds {', '.join(there)} already; pass --overwrite to replace "
                              "them (or choose another folder)")
    check_writable(out, "--output")


def sample_files(root: Path, sample: str) -> tuple[Path, str, Path]:
    """A WorldCereal sample's files: its 10 m Sentinel-2 cube, the name of its 20 m cube (the SCL),
    and its Sentinel-1 cube."""
    d = root / "worldcereal" / sample
    return (next(d.glob("S2_L2A_10m_*.nc")), next(d.glob("S2_L2A_20m_*.nc")).name,
            next(d.glob("S1_GRD-*.nc")))


def pairs(root: Path, sample: str) -> tuple[list[tuple[str, str, str, str]], list[str]]:
    """``[(earlier, later, S1 at earlier, S1 at later)]`` date labels of the protocol's pairs, and
    the sample's cloudy dates (20–80 % not clear)."""
    s10, s20, s1 = sample_files(root, sample)
    fr = step_fractions(f"{s10}#scl={s20}", [0, 1, 2, 3])
    return with_sar(fr, s1), [lab for lab, _, f in fr if 0.2 <= 1 - f <= 0.8]


def with_sar(fractions: list, s1: Path) -> list[tuple[str, str, str, str]]:
    """The protocol's pairs of consecutive dates of ``fractions`` (``cube.step_fractions``) more than
    :data:`CLEAR` clear, each with a step of the Sentinel-1 cube ``s1`` within :data:`SAR_DAYS` calendar days."""
    s1t = [(lab, t) for lab, t, f in step_fractions(str(s1), [0, 1]) if f > 0.99]
    s1_times = np.array([t for _, t in s1t], "datetime64[s]")

    def near(t) -> str | None:  # calendar days, as the list counts them
        d = np.abs(s1_times.astype("datetime64[D]") - np.datetime64(t, "D")) / np.timedelta64(1, "D")
        return s1t[int(d.argmin())][0] if len(d) and d.min() <= SAR_DAYS else None
    ok = [(lab, near(t)) for lab, t, f in fractions if f > CLEAR and near(t)]
    return [(a, b, sa, sb) for (a, sa), (b, sb) in zip(ok, ok[1:])]


def disc(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A disc of :data:`HIDE` of the image's area, centred at a seeded point that keeps it inside
    where it fits."""
    h, w = shape
    r = np.sqrt(rng.uniform(*HIDE) * h * w / np.pi)
    cy = rng.uniform(min(r, h / 2), max(h - r, h / 2))
    cx = rng.uniform(min(r, w / 2), max(w - r, w / 2))
    yy, xx = np.mgrid[:h, :w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def sar2optical_rgb(db: np.ndarray, grid, work: Path, tag: str) -> np.ndarray:
    """The ``sar2optical`` bundle's output ``(3, H, W)`` in B02, B03, B04 order (reflectance) for VV,
    VH in dB ``(2, H, W)`` on ``grid``, through ``predict`` as a user runs it on a GeoTIFF."""
    import rasterio

    from bandbridge.inference.core.options import PredictOptions
    from bandbridge.inference.jobs.predict import predict
    src, out = work / f"s1_{tag}.tif", work / f"s2_{tag}.tif"
    prof = dict(driver="GTiff", height=db.shape[1], width=db.shape[2], count=2, dtype="float32",
                crs=grid.crs, transform=grid.transform)
    with rasterio.open(src, "w", **prof) as dst:
        dst.write(db[:2].astype(np.float32))
        dst.descriptions = ("VV", "VH")
    predict([str(src)], "sar2optical", str(out), PredictOptions(dtype="float32"), overwrite=True)
    with rasterio.open(out) as r:
        return r.read().astype(np.float32)[[2, 1, 0]]


def score_pair(root: Path, sample: str, pair: tuple[str, str, str, str], mask_name: str, rng, seed: int,
               work: str) -> tuple[Row, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """One case (a pair under ``mask_name``: "disc", drawn by ``rng``, or a cloudy date whose SCL is laid over), in a
    worker process: its :class:`Row`, each column's filled image ``(4, H, W)``, the real scene and the scored
    pixels. The fill columns are ``bandbridge fill``'s own output on the cube's steps with the hidden pixels as
    ``--mask`` (``gaps_fill.py``)."""
    work = Path(work)
    s10, s20, s1 = sample_files(root, sample)
    a, b, sa, sb = pair
    step = lambda d: f"{s10}@{d}#scl={s20}"  # noqa: E731
    scene, e = read_layer(step(b), ""), read_layer(step(a), "--earlier")
    base, has, _ = composite([np.where(e.clear, e.values, np.nan)])
    valid = scene.valid & scene.clear
    hidden = disc(scene.valid.shape, rng) if mask_name == "disc" else ~read_layer(step(mask_name), "").clear
    days = int((np.datetime64(b[:10]) - np.datetime64(a[:10])) / np.timedelta64(1, "D"))
    score, learn = hidden & valid & has, valid & ~hidden & has
    fractions = step_fractions(f"{s10}#scl={s20}", [0, 1, 2, 3])
    series = read_series(tuple(step(lab) for lab, _, _ in fractions))
    after = next((lab for lab, _, f in fractions if f > CLEAR and day(lab) > day(b)), "")
    mask = mask_of(Path(tempfile.mkdtemp(dir=work)) / "hidden.tif", hidden, scene)
    case = Case(step(b), [step(a)], mask, f"{s1}@{sb}", f"{s1}@{sa}")
    y = scene.values
    out, route, both = columns(case, base, y, learn, series, a, b, work, seed, step(after) if after else None)
    try:
        out["sar2optical"] = sar2optical_rgb(sar_on(scene, f"{s1}@{sb}", "--sar")[0], scene.grid, work, sb[:10])
    except Exception as ex:  # noqa: BLE001 - the bundle's failure is a finding, recorded
        out["sar2optical"] = None
        route += f" (sar2optical failed: {ex})"
    row = Row(sample[7:], a[:10], b[:10], days, mask_name[:10], int(score.sum()), route=route, after=after[:10],
              snow=",".join(k for k, lay in (("earlier", e), ("later", scene))
                            if lay.snow is not None and lay.snow.mean() > 0.5))
    row.mae = {k: float(np.mean(np.abs(v[:, score] - y[:v.shape[0], score]))) for k, v in out.items() if v is not None}
    row.scores = field_scores(out, y, score, valid & ~hidden)
    row.both = float(both[score].mean()) if score.any() else 0.0
    return row, out, y, score


def columns(case: Case, base: np.ndarray, y: np.ndarray, learn: np.ndarray, series: tuple, a: str, b: str,
            work: Path, seed: int, later: str | None = None, extra: dict | None = None) -> tuple[dict, str, np.ndarray]:
    """One case's columns: the earlier date ``base`` as is and mapped linearly per band (fitted on ``learn``), the
    command's (``gaps_fill.fill_columns``), ``extra``, then ``median`` and ``interp`` (``gaps_dates``) of the place's
    ``series`` at ``b``'s day (the composite reaching back to ``a``'s); the route, and where interpolation had a
    clear date on both sides ``(H, W)``."""
    ab = linear_maps(base[:, learn].T, y[:, learn].T)
    filled, route = fill_columns(case, base, work, seed, later)
    out = {"as-is": base, "linear": base * ab[:, :1, None] + ab[:, 1:, None], **filled, **(extra or {})}
    days, values = series
    out["median"] = median_composite(days, values, day(b), day(a))
    out["interp"], both = interpolation(days, values, day(b))
    return out, route, both


def field_scores(out: dict[str, np.ndarray | None], y: np.ndarray, score: np.ndarray, observed: np.ndarray,
                 kept: np.ndarray | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """Each column's :func:`~bandbridge.metrics.removal_metrics` against the real ``y`` over the cloud area
    (``score``) and the whole image (those and the ``observed`` pixels, kept as ``kept``, default ``y``):
    ``{column: {"cloud": …, "image": …}}``; a column of fewer bands than ``y`` scored on its own."""
    import torch

    from bandbridge.metrics import removal_metrics
    image = torch.from_numpy(score | observed)
    kept = y if kept is None else kept
    got = {}
    for k, v in ((k, v) for k, v in out.items() if v is not None):
        whole = torch.from_numpy(np.where(score, v, kept[:v.shape[0]]).astype(np.float32))
        t = torch.from_numpy(y[:v.shape[0]].astype(np.float32))
        got[k] = {"cloud": removal_metrics(whole, t, torch.from_numpy(score)), "image": removal_metrics(whole, t, image)}
    return got


def run_gaps(data: str | Path, say: Callable[[str], None] = print, limit: int | None = None,
             seed: int = SEED, samples: tuple[str, ...] = SAMPLES, workers: int = WORKERS) -> dict:
    """Every pair of ``samples`` scored (``limit``: the first pairs of each only), the cases
    spread over ``workers`` processes (each seeded by its pair, so the record is the same for any
    number); the record."""
    root = Path(data)
    cases = []
    for sample in samples:
        if not (root / "worldcereal" / sample).is_dir():
            continue
        prs, cloudy = pairs(root, sample)
        for i, pair in enumerate(prs[:limit]):
            rng = np.random.default_rng([seed, i, SAMPLES.index(sample)])
            extra = [cloudy[int(rng.integers(len(cloudy)))]] if i % REAL_EVERY == 0 and cloudy else []
            cases += [(sample, pair, name, rng) for name in ("disc", *extra)]
    rows: list[Row] = []
    images = []
    with tempfile.TemporaryDirectory(prefix="bandbridge-gaps-") as tmp:
        with _cases_pool(workers, tmp) as pool:
            done = pool.map(score_pair, *zip(*[(root, *c, seed, tmp) for c in cases])) if pool else \
                (score_pair(root, *c, seed, tmp) for c in cases)
            for row, out, y, score in done:
                rows.append(row)
                say(f"{row.sample} {row.earlier} → {row.later} ({row.days} d, {row.mask}): " +
                    ", ".join(f"{k} {v:.4f}" for k, v in row.mae.items()) + f"; fill: {row.route}")
                images += [(k, out[k], y, score) for k in COLUMNS if out.get(k) is not None]
    real = realism_of(images, None)
    scores = {kind: {g: {"pairs": len(rs), **mean_scores([r.scores for r in rs])} for g, rs in gs.items() if rs}
              for kind, gs in groups(rows, snow=False).items()}  # by mask kind, all pairs, each sample and stratum
    return {"rows": [r.__dict__ for r in rows], "summary": summarise(rows), "scores": scores,
            "realism": {k: real[k] for k in COLUMNS if k in real}}


def _case_process(tmp: str) -> None:
    """A case process's start: its temporary files (the fill's work folder) in the run's own folder."""
    import os
    tempfile.tempdir = os.environ["TMPDIR"] = tmp


@contextmanager
def _cases_pool(workers: int, tmp: str) -> Iterator[object]:
    """The processes the cases are spread over (None: this one), their temporary files under ``tmp``. On an
    interrupt (Ctrl-C, SIGTERM: the CLI's handler unwinds as ``fileio.Terminated``) the queued cases are dropped
    and the processes stopped before ``tmp`` is removed, so no case's work folder outlives the run (issue 98)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    if workers <= 1:
        yield None
        return
    pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_case_process,
                               initargs=(tmp,))
    try:
        yield pool
    except BaseException:
        running = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for p in running:
            p.terminate()
        for p in running:
            p.join(30)
        raise
    pool.shutdown(wait=True)


def realism_of(images: list[tuple], cast=np.float32) -> dict:
    """SWD and contrast of each column's filled pixels (the real elsewhere) from ``(key, filled, real, scored)``
    (``cast``: the filled image's type; None: as it is), keyed by column, or ``{mask: {column: …}}`` where the
    key is ``(mask, column)``."""
    import torch

    from bandbridge.realism import realism
    out = {}
    for k in dict.fromkeys(i[0] for i in images):
        got = [(v, y[:v.shape[0]], m) for c, v, y, m in images if c == k]
        ims = [torch.from_numpy(np.nan_to_num(np.where(m, v, y)).astype(cast or np.result_type(v, y)))
               for v, y, m in got]
        r = realism(ims, [torch.from_numpy(np.nan_to_num(y).astype(np.float32)) for _, y, _ in got],
                    [torch.from_numpy(m) for _, _, m in got])
        into, key = (out.setdefault(k[0], {}), k[1]) if isinstance(k, tuple) else (out, k)
        into[key] = {"swd": r["swd"], "contrast": r["contrast"]}
    return out


def mean_scores(scores: list[dict]) -> dict:
    """Per column and area, the mean over cases of each :func:`field_scores` figure (PSNR, SSIM,
    SAM averaged per image, as the field averages them over its test patches)."""
    out: dict = {}
    for k in dict.fromkeys(c for sc in scores for c in sc):
        got = [sc[k] for sc in scores if k in sc]
        out[k] = {a: {m: float(np.nanmean([g[a][m] for g in got])) for m in got[0][a]} for a in AREAS}
    return out


def groups(rows: list[Row], snow: bool = True) -> dict[str, dict[str, list[Row]]]:
    """The rows by mask kind, then: all pairs, each sample, each stratum of days apart and (with
    ``snow``) those without a snow-labelled date, over all and per stratum."""
    out: dict = {}
    for kind in ("disc", "real SCL"):
        sel = [r for r in rows if (r.mask == "disc") == (kind == "disc")]
        out[kind] = {"all": sel, **{s: [r for r in sel if r.sample == s] for s in sorted({r.sample for r in sel})},
                     **{lab: [r for r in sel if lo <= r.days < hi] for lo, hi, lab in STRATA},
                     LATER: [r for r in sel if "fill-later" in r.mae]}
        if snow:
            out[kind] |= {"no snow-labelled date": [r for r in sel if not r.snow],
                          **{f"{lab}, no snow date": [r for r in sel if lo <= r.days < hi and not r.snow]
                             for lo, hi, lab in STRATA}}
    return out


def summarise(rows: list[Row]) -> dict:
    """Mean MAE of each column by mask kind, sample and stratum of days apart."""
    return {kind: {g: {"pairs": len(rs), **{k: float(np.mean([r.mae[k] for r in rs if k in r.mae]))
                                           for k in COLUMNS if any(k in r.mae for r in rs)}}
                   for g, rs in gs.items() if rs} for kind, gs in groups(rows).items()}


def save(record: dict, folder: str | Path, command: str, name: str = "gaps", markdown=None,
         overwrite: bool = True) -> Path:
    """``NAME.json`` and ``NAME.md`` (``markdown(record)``; default ``gaps_table.markdown``) in
    ``folder``, the command first, each through a temporary file renamed when both are written
    (without ``overwrite``, files that appeared meanwhile are refused); returns the folder."""
    from bandbridge.fileio import atomic_paths
    if markdown is None:
        from bandbridge.evaluation.gaps_table import markdown
    f = Path(folder)
    record = {"command": command, **record}
    with atomic_paths([f / f"{name}.json", f / f"{name}.md"], replace=overwrite) as (js, md):
        js.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
        md.write_text(markdown(record))
    return f
