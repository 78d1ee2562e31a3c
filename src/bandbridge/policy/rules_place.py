"""The rules of a fit at the place (``predict --reference``, ``fill``, ``sharpen``) and of STAC: what
each decides, where, and what set it."""

from __future__ import annotations

from bandbridge.policy.rule import Rule

REFERENCE = (
    Rule("a reference's scale", "data/reference.open_reference", ("MIN_K", "MAX_K"),
         "`MIN_K` 2, the definition of a coarser reference (at 1 the two are a pair: `adapt`). `MAX_K` 1000, a "
         "judgement: a 5 cm drone image under a 10 m Sentinel-2 pixel is k = 200, and the consistent route was "
         "measured up to that (NAIP 2020, k = 16–200: `python benchmarks/reference_scales.py`, "
         "`docs/results/reference_scales.json`); beyond 1000 one cell averages a million pixels."),
    Rule("a reference's clear cells", "data/reference.check_cells", ("MIN_CELLS",),
         "One clear cell still scales the model's output (the consistent route)."),
    Rule("a reference not the band", "data/reference.check_band", ("NEGATIVE_SHARE",),
         "A judgement (issue 77): a reflective band is never negative; a Sentinel-2 L2A scene's dark water dips "
         "below 0 on a few cells after its −1000 offset, a negated or differenced reference holds negatives on "
         "every cell it changed (the trial: 50–100 %). One value on every clear cell is refused too."),
    Rule("a reference in kelvin", "data/reference.check_quantity", ("KELVIN_RANGE", "KELVIN_SPREAD"),
         "A reference named as a reflective band whose physical values have their 2nd–98th percentiles inside "
         "170–350 K, above 8 bits and within 20 % of their median is a temperature, refused. Measured "
         "(`python benchmarks/reference_quantity.py --data ../shared/data`, `docs/results/reference_quantity.json`): "
         "Landsat-8 B10/B11 in K: 7 159 of 7 171 windows and both scenes refused; 29 real NIR products as stored "
         "and as reflectance: none of 840 861 windows refused. The limit: a uniform field's ×1000 reflectance "
         "written as float reads as K (1.2 % of 8² windows)."),
    Rule("a reference's route", "learners/guided.fit",
         ("FIT_CELLS_MIN", "FIT_DEGRADED_MIN", "EVERYWHERE_MPIX", "HOLE_SHARE", "MIN_COVER", "UNSEEN_COVER",
          "CHECK_CELLS"),
         "Then the held-out check decides, with no margin. `FIT_CELLS_MIN` 1 000 clear cells, set by "
         "`bandbridge wald` (its small scenes, `docs/results/wald.json`). `FIT_DEGRADED_MIN` 100 cells at the "
         "degraded scale: NAIP 2020 at k = 24 (2 cells there) held out well and gave 59.9 DN at full scale "
         "against 24.4 for the nearest upsampled reference. `EVERYWHERE_MPIX` 16: on "
         "`benchmarks/reference_speed.py --size 4096` trees won held out but their onnxruntime pass took 36.8 s "
         "where plain predict took 4.2 s, so larger inputs take only learners every backend serves. "
         "`HOLE_SHARE` 1 %, `MIN_COVER` 99 %, `UNSEEN_COVER` 50 %: judgements. `CHECK_CELLS` 16: with fewer "
         "cells one scale coarser the consistent route is taken by the rule measured on NAIP 2020 at "
         "k = 24–200 (18–24 % below the nearest upsampled reference)."),
    Rule("the consistency correction", "learners/guided.decide", ("STALE_DAYS",),
         "Measured on NAIP (`python benchmarks/stale_reference.py`, `docs/results/stale_reference.json`): with "
         "a reference of another year (315–763 days off, k = 6) the held-out check applied the correction on "
         "all 10 dates and it hurt on 7 (mean 32.41 → 33.05 DN); where between 0 and 315 days the line falls is "
         "a judgement."),
    Rule("a reference's shift", "inference/place/reference_fit.register", ("MIN_SHIFT", "SHIFT_GAIN", "SHIFT_CELLS_MIN"),
         "`MIN_SHIFT` 0.2 reference pixels, measured on NAIP at k = 2, 6 and 16: a reference in place read "
         "0.0–0.1, one shifted by 0.5 read 0.4–0.7. `SHIFT_GAIN` 0.5 %: NAIP 2020 at k = 6 shifted by ¼, ½ and 1 "
         "cell improved the context map by 1.2, 3.5 and 10 %, a false peak (a RoadScene IR frame) by 0.3 %. "
         "`SHIFT_CELLS_MIN` 256, a judgement: on NAIP 2020 at k = 32 (64 cells) a +0.2 cell shift was found on a "
         "reference in place."),
    Rule("one fit over a scene's tiles", "inference/place/reference_scene.scenes", ("SCENE_COVER",),
         "A judgement: inputs sharing one reference, model and grid are fitted once over their mosaic (k = 8 on "
         "NAIP 2020 in 2×2 tiles: 8.10 DN against 12.03 tile by tile, `benchmarks/reference_tiles.py`) unless "
         "they cover less than half their bounding box."),
    Rule("reference warnings", "inference/place/reference.plan_reference", ("LOW_OVERLAP", "FAR_DAYS"),
         "Judgements; they warn and decide nothing."),
)

STAC = (
    Rule("a reference found by STAC", "inference/interop/stac_search.find_reference", ("WINDOW_DAYS",),
         "A judgement: either side of the input's date a STAC search looks."),
    Rule("dates found by STAC (fill)", "inference/place/fill_stac.found_dates",
         ("STAC_DATES", "STAC_CLEAR_MIN", "STAC_DAYS", "STAC_SAR_DAYS"),
         "`STAC_DATES` 3 Items each side, as many as fill takes of a cube (`EARLIER_STEPS`); `STAC_CLEAR_MIN` "
         "50 % of the footprint clear by the Item's SCL, a cube's steps' rule; `STAC_DAYS` 60, a judgement "
         "(issue 75: a date 70 days off gained 2 % over the per-band map); `STAC_SAR_DAYS` 12, one Sentinel-1 "
         "satellite's repeat cycle."),
    Rule("what a STAC source sends", "inference/interop/stac_io.fetch", ("FETCH_SECONDS", "FETCH_BYTES", "JSON_DEPTH"),
         "Judgements (issue 85): 60 s for the whole exchange (a per-read limit let a server trickling a byte "
         "every 20 s hold a run past 200 s), 16 MiB (an Item is about 20 KB, a search's page about 2 MB), 100 "
         "levels of JSON (an Item is under 10; 200 000 nested lists ended in a RecursionError)."),
)

FILL = (
    Rule("a cloud gap's route", "learners/fill_fit.decide", ("FILL_FIT_MIN", "FILL_LINEAR_MIN"),
         "Then the held-out check decides. `FILL_FIT_MIN` 256 clear pixels, measured on the development sample "
         "only (WorldCereal 00002806639B424A, four date pairs, `python benchmarks/fill_min.py`, 2026-11-27): "
         "from 256 on the fit was never worse than the per-band map (mean MAE 0.0268 against 0.0278); at 128 "
         "the folds held nothing out on 3 of 4 pairs. `FILL_LINEAR_MIN` 64, a judgement."),
    Rule("a cloud gap's edge", "inference/place/fill_strips.scan", ("FILL_DILATE",),
         "Measured on the manual's figure (`benchmarks/fill_figure.py`'s seam check, 2026-11-27): at 2 px the "
         "mean step across the gap's edge was 0.0201 reflectance against 0.0105 between clear neighbours; at "
         "4 px 0.0136 against 0.0100; at 6 px no better."),
    Rule("the residual at the edge", "learners/gapfill.edge_correction", ("FILL_EDGE_PX",),
         "Measured on the development sample only (15 date pairs, seeded discs, 2026-11-27): MAE over the "
         "hidden pixels 0.01481 without, 0.01455 at 2 px (the best of 1–12)."),
    Rule("an earlier date's snow", "inference/place/fill_read.snow_is_ground", ("FILL_SNOW_MIN",),
         "WorldCereal dates 99 % and 97 % \"snow\" by SCL in Flanders in September and November were clouds; "
         "1 % is a judgement that keeps real snow wherever the scene itself shows some."),
    Rule("SAR near the scene's date", "inference/place/fill_inputs._sar", ("SAR_DAYS",),
         "The protocol the SAR gain was measured on (`bandbridge gaps`, `docs/results/gaps.json`): Sentinel-1 "
         "within 3 days; further off is said in a line (the held-out check still decides)."),
    Rule("a cloud in L1C (scoring)", "evaluation/gaps_sources.cloud_masks", ("CLOUD_THRESHOLD",),
         "GLF-CR's and DSen2-CR's `cloud_threshold` on SEN12MS-CR, taken as published, not tuned here."),
)

SHARPEN = (
    Rule("a pan and MS on two lattices", "data/products.check_aligned", ("ALIGN_PX",),
         "A reference whose cell edges fall more than 0.05 of a fine pixel off the guides' pixel edges, at a "
         "whole-number k, is a pan and an MS on two lattices (the averaging would mix pixels): refused. A "
         "judgement."),
    Rule("Landsat's default guides", "data/landsat.default_guides", ("LANDSAT_GUIDES_LEFT_OUT",),
         "Not default guides: the pan B8 lies on a 15 m grid of its own, the cirrus band B9 sees the upper "
         "atmosphere, not the ground. A judgement."),
    Rule("the reference's grid half a pixel off", "inference/place/sharpen_shift.registered",
         ("HALF_PIXEL_TOL", "HALF_PIXEL_GAIN"),
         "Issue 85: within 0.15 of half a pixel, the context map 5 % better moved, is a corner/centre "
         "convention error, corrected and said; set on Major-TOM's native 20 m bands (+0.5, +0.5), the cases it "
         "reports."),
    Rule("a written band's range", "inference/place/reference_finish.band_bounds",
         ("FLOOR_DROP", "FLOOR_QUANTILE", "FLOOR_CELLS"),
         "Issue 85: a written band stays above the reference's low end (its 0.1 % quantile less twice the gap "
         "to its minimum) and under NBITS or a 2^n − 1 saturation; the floor only from 100 whole cells one step "
         "down (SEN12MS-CR's 7 × 7 cells of B09 at ×6 lost 26 % RMSE to a floor told by one cell)."),
)


def _all() -> tuple[Rule, ...]:
    import dataclasses
    return tuple(dataclasses.replace(r, section=s) for s, group in
                 (("reference", REFERENCE), ("STAC", STAC), ("fill", FILL), ("sharpen", SHARPEN)) for r in group)


RULES = _all()
