"""The rules of a fit at the place (``predict --reference``, ``fill``, ``sharpen``) and of STAC: what
each decides, where, and what set it."""

from __future__ import annotations

from bandbridge.policy.rule import Rule

REFERENCE = (
    Rule("the test at the output's scale", "learners/transfer.share",
         ("TRANSFER_CARRY", "TRANSFER_RIDGE", "TRANSFER_CELLS_MIN", "TRANSFER_PIXELS", "TRANSFER_FULL"),
         "Issue 95: each guide predicted from the others by the area-to-point ridge (the fine guides' features "
         "averaged onto the reference's cells), made consistent, at the guides' own pixels over its best "
         "upsampling from the cell means, and one scale up. The guides predicted under `TRANSFER_CARRY` one scale "
         "up are the related ones; where their ratios at their own pixels are, on the mean, at or over it, a guided "
         "route (sharpen's fit and line, predict --reference's fit and consistent route) takes no detail, else the "
         "mean of their least-squares shares of it; with none related, the route's own checks alone. "
         "`TRANSFER_CARRY` 0.8 set on half A of the floor's sources against their record before the test (`OMP_NUM_THREADS=1 "
         "nice python benchmarks/transfer_rule.py --data ../shared/data --floor BEFORE.json`, "
         "`docs/results/transfer_rule.json`): on A no gate from 0.7 to 1.05 stops an image that lost over 1.01× "
         "(17 such image × command pairs), and 0.8 is the most protective that stops none that won; reported on B it "
         "stops 1 image, one that won, and none of B's 36 losses (B's own choice 0.9). On the development data it is "
         "a safety net, not a cure: the floor's misses have guides that carry (M3SVD 0.06–0.24 at ×4). `TRANSFER_RIDGE` "
         "1e-3 set the same way with 1e-4 and 1e-2 beside (`--ridge R`, then `--ridges R=RECORD`): on A every ridge "
         "stops the same (none of the 17 losses, no win), so the rule before holds, and on B too (its own gates stop "
         "nothing); its effect on the share below the gate is not scored. `TRANSFER_CELLS_MIN` 64 cells at least for "
         "a ridge of the guides' features; "
         "`TRANSFER_PIXELS` 2²⁰ pixels of the output at most (the test's work bounded). `TRANSFER_FULL` 1: the "
         "share taken as measured. A floor at or over which the whole detail is taken (a proxy's errors shrink its "
         "least-squares share) was scored from the floor run whole twice, as measured and with every route's whole "
         "detail (`python benchmarks/share_rule.py --given FLOOR.json --full FLOOR_DETAIL1.json`, "
         "`docs/results/share_rule.json`): no floor from 0.6 to 0.95 improves half A (no cell over either way, the "
         "geometric mean 0.9403 as measured, 0.9403–0.9404 at the floors), and on B all but 0.95 add a cell over (7 → 8)."),
    Rule("the fit's detail at its own check's share", "learners/transfer.take_route", ("CHECK_SHARE",),
         "Issue 95: where `CHECK_SHARE` names `reference`, predict --reference's fit takes at most the least-squares "
         "share of its detail (over the best upsampling) that its own held-out cells support (`guided.check_share`), "
         "beside the test at the output's scale. Off: half A chose it on the floor run whole both ways (`sharpen_floor.py "
         "--check-share`; `python benchmarks/area_rule.py --off docs/results/sharpen_floor.json --setting \"check "
         "share=docs/results/sharpen_floor_check_share.json\" --kinds reference`, `docs/results/check_share_rule.json`: "
         "no cell over either way, the geometric mean 0.9288 → 0.9271) and B bore it out (2 → 1 over: M3SVD ×4 "
         "1.079/1.089 → 0.994/1.012), but the records beside broke: bandbridge wald's first date (NAIP 2009, bounded "
         "within its noise, 0 run to run) 2.188 → 2.236 DN at k = 2 and 4.328 → 4.529 at k = 6; reference_scales' "
         "partial reference 7.11 → 8.21 DN where it sees, 32.14 → 35.34 where it does not. sharpen does not take it."),
    Rule("the fit learned area to point", "learners/area.Levels", ("AREA_FIT", "AREA_RIDGE_MIN"),
         "Issue 95: the kinds whose fit learns on the fine guides' context features averaged over each reference cell "
         "(the function applied at full scale, checked exactly on the cells; only the learners a cell mean commutes "
         "with: the constant, the linear map, the context ridges at or above `AREA_RIDGE_MIN`) rather than on the "
         "features of the guides averaged onto the cells (windows of 3 and 9 cells; every candidate). Measured per "
         "kind on the whole floor both ways (`python benchmarks/area_rule.py --off FLOOR.json --on "
         "0.0001=FLOOR_AREA.json`, `docs/results/area_rule.json`; the floors by `benchmarks/sharpen_floor.py` with "
         "and without `--area`). predict --reference: off, set on half A (0 → 1 cell over 1.01×, the geometric mean "
         "of its ratios to the best upsampling 0.930 → 0.982; on B it would be 3 → 13: its linear fits' detail "
         "inside each cell up to 2.2× the true spread). sharpen: half A chose it (no cell over either way, 0.952 → "
         "0.949; reported on B 5 → 2 over, UKIS ×6 1.387 → 0.887), but it breaks the issue's bound on the records "
         "beside (at 338c42f, where it was on: the drone stand-in at ×4 0.741 → 0.863× the best upsampling's RMSE, "
         "asked within 2 %; the sharpening record's IKONOS ×4 0.53–0.64 → 0.98–1.12× the better cubic, though "
         "pooled over every band 0.613 → 0.594), so off too. `AREA_RIDGE_MIN` 1e-4, every ridge of `area.LINEAR`: "
         "stronger floors (1e-3, 1e-2) were measured after a half-B image was seen, so chosen by neither half (B: "
         "predict --reference 6 and 5 over; sharpen 2 and 6)."),
    Rule("the Sentinel-2 network's route", "learners/sharpen_network.prefer", ("NETWORK_ALLOWANCE",),
         "Issue 96: with `--network`, a band takes the network where it beats the best upsampling one Wald step down and, over the best "
         "upsampling at the reference's scale, errs less by `SHARPEN_MARGIN` than the band's own route as that route "
         "is applied beyond what it was fitted on (the scene's fit fitted one step down), times `NETWORK_ALLOWANCE` "
         "(at most the best upsampling's): the scene's checks are made at scales coarser than the output's, where a "
         "fit of the scene looks better than it is (issue 95), and the network was never fitted there. On Major-TOM's "
         "held-out fold the fit, fitted one step down, erred 0.13–0.51× the best upsampling at the reference's scale "
         "against the network's 0.24–0.62×, and at the output's scale the network's route was the better. `NETWORK_"
         "ALLOWANCE` 3 set on half A of the development Sentinel-2 sources (Major-TOM, eo-learn, the wildfire "
         "composites; `python benchmarks/network_rule.py docs/results/s2_network.json`, `docs/results/network_rule.json`): "
         "of never, 1, 1.25, 1.5, 2, 3, 5 and always, 3 the lowest pooled RMSE there (0.525× the better cubic against "
         "0.596 without the network); reported on half B (SEN12MS-CR, Sen1Floods11, UKIS) 0.663 against 0.778, where "
         "B's own choice is 2 (the same figure). Its loss: the wildfire composites' B12, 0.96 → 1.07."),
    Rule("the Sentinel-2 network's reflectance", "inference/place/sharpen_network.reflectance", ("NETWORK_DN_ABOVE",),
         "Issue 96: the network reads reflectance. A band whose reader states a map (a SAFE's DN / 10000 and L2A's "
         "offset, a GeoTIFF's scale and offset) takes it; one with none whose stored median is over 2, which no "
         "reflectance is, is taken as Sentinel-2's digital numbers (÷ 10000); else as it is. A judgement: the "
         "network's own check at the reference's scale refuses it where the guess is wrong."),
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
          ),
         "Then the held-out check decides, with no margin. `FIT_CELLS_MIN` 1 000 clear cells, set by "
         "`bandbridge wald` (its small scenes, `docs/results/wald.json`). `FIT_DEGRADED_MIN` 100 cells at the "
         "degraded scale: NAIP 2020 at k = 24 (2 cells there) held out well and gave 59.9 DN at full scale "
         "against 24.4 for the nearest upsampled reference. `EVERYWHERE_MPIX` 16: on "
         "`benchmarks/reference_speed.py --size 4096` trees won held out but their onnxruntime pass took 36.8 s "
         "where plain predict took 4.2 s, so larger inputs take only learners every backend serves. "
         "`HOLE_SHARE` 1 %, `MIN_COVER` 99 %, `UNSEEN_COVER` 50 %: judgements."),
    Rule("the model's output made consistent", "learners/guided.consistent_octaves",
         ("CONSISTENT_MARGIN", "CHECK_CELLS"),
         "Issue 84: checked at every octave from 2 up to k cells a side (the first two needed), taken where each "
         "beats the best upsampling by `CONSISTENT_MARGIN` 20 %. Set on half A of the floor's sources with every "
         "image forced onto the route (`OMP_NUM_THREADS=1 nice python benchmarks/consistent_rule.py --data "
         "../shared/data`, `docs/results/consistent_rule.json`): on A it lost to the best upsampling (over 1.01×) on "
         "none of the 8 of 99 images it took; reported on B it took 8 of 108 and lost on none, where the check at "
         "2 alone with no margin (the rule before) took 73 and lost on 27. Set on B the margin would be 10 % (13 "
         "taken there, none lost), which loses on 3 of A's 19. `CHECK_CELLS` 16 cells at least for a check: a "
         "judgement."),
    Rule("the consistency correction", "learners/guided.decide", ("STALE_DAYS",),
         "Measured on NAIP (`python benchmarks/stale_reference.py`, `docs/results/stale_reference.json`): with "
         "a reference of another year (315–763 days off, k = 6) the held-out check applied the correction on "
         "all 10 dates and it hurt on 7 (mean 32.41 → 33.05 DN); where between 0 and 315 days the line falls is "
         "a judgement."),
    Rule("a reference's shift", "inference/place/reference_fit.register",
         ("MIN_SHIFT", "SHIFT_GAIN", "SHIFT_CELLS_MIN", "REFERENCE_SHIFT_MOST"),
         "`MIN_SHIFT` 0.2 reference pixels, measured on NAIP at k = 2, 6 and 16: a reference in place read "
         "0.0–0.1, one shifted by 0.5 read 0.4–0.7. `SHIFT_GAIN` 0.5 %: NAIP 2020 at k = 6 shifted by ¼, ½ and 1 "
         "cell improved the context map by 1.2, 3.5 and 10 %, a false peak (a RoadScene IR frame) by 0.3 %. "
         "`SHIFT_CELLS_MIN` 256, a judgement: on NAIP 2020 at k = 32 (64 cells) a +0.2 cell shift was found on a "
         "reference in place. `REFERENCE_SHIFT_MOST` 1.5 (issue 84), set on half A of the floor's sources: NAIP "
         "2020's deliberate shifts of ¼, ½ and 1 cell read at most 1.1, and a registered TNO thermal frame at k = 4 "
         "read a false 2.2 that the test passed (18.28 → 17.77) and that left the output 7× the best upsampling's "
         "RMSE. Issue 84: `SHIFT_GAIN` holds on each half of the grid too (top, bottom, left, right): a "
         "misregistration moves the whole alike, a false peak improves some halves only. Set on half A of the "
         "floor's sources of 0, 0.2, 0.5 and 1 % a half (`OMP_NUM_THREADS=1 nice python benchmarks/shift_rule.py "
         "--data ../shared/data`, `docs/results/shift_rule.json`): 0.5 % (the same `SHIFT_GAIN`) keeps none of A's 4 false corrections "
         "(thermal frames in place) and all 76 true ones (NIR references moved ¼–1 cell); reported on B: none of 4 "
         "false, 73 of 77 true. Set on B it is 0.5 % too."),
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

ENGINE = (
    Rule("a quicklook's size", "inference/core/preview.preview_size", ("PREVIEW_PX",),
         "Issue 98: `--preview` writes at most 1024 px on the long side (a screen's width; a 10980² output averaged "
         "down about 11×), read by strips averaged down as read: a judgement."),
    Rule("the work folder's space", "inference/place/engine.check_space", ("WORK_DISK_SPARE", "WORK_DISK_LOW"),
         "Issue 98: a run whose work folder's disk (TMPDIR's, or beside the output on a cluster) has less free "
         "space than its work files (`place/plan.Disk`: float32 a band on the grids the plan holds, as written, "
         "uncompressed) and 10 % more is refused before any work, in one line; a raster error while that disk has "
         "under 256 MB free, or a full disk in a work file, ends the run in one line naming the folder. Both "
         "judgements: GDAL's own headers and the bundles are small beside the rasters; 256 MB is `core/writer`'s "
         "own mark of a nearly full disk."),
    Rule("a fit's tile and backend", "inference/place/engine.decide",
         ("FIT_TILE", "FIT_BLOCK_PX", "SMALL_BACKEND", "ONE_TILE_THREADS", "REFERENCE_FIT_CELLS",
          "REFERENCE_UPSAMPLING"),
         "Every kind's bundle runs on the largest tile of at most 1024² (a learner's tile: a model made for one "
         "run is not measured for a larger one) in as few equal tiles as that allows, in column blocks of at "
         "most 2048 px (10980² sharpen: peak 4.06 → 3.87 GB, engine 62.1 → 62.5 s; 512² tiles: 70 s); under `EVERYWHERE_MPIX` on "
         "torch fp32, which serves whichever learner the fit chooses as fitted (no graph exported or checked at "
         "that size); an image of one tile on one thread (600² sharpen: 1.0 CPU-s on one against 1.6–1.9 on "
         "two). The reference fit's choice on 200 000 cells at most; its upsampling GDAL's cubic (VHR scenes at "
         "k = 4: 5–8 % better than bilinear)."),
)

FILL = (
    Rule("a cloud gap's route", "learners/fill_fit.decide", ("FILL_FIT_MIN", "FILL_LINEAR_MIN"),
         "Then the held-out check decides. `FILL_FIT_MIN` 256 clear pixels, measured on the development sample "
         "only (WorldCereal 00002806639B424A, four date pairs, `python benchmarks/fill_min.py`, 2026-11-27): "
         "from 256 on the fit was never worse than the per-band map (mean MAE 0.0268 against 0.0278); at 128 "
         "the folds held nothing out on 3 of 4 pairs. `FILL_LINEAR_MIN` 64, a judgement."),
    Rule("a cloud gap's fit", "learners/fill_fit.decide", ("FILL_FIT_PIXELS",),
         "The choice is made on at most 200 000 clear pixels (a uniform sample where more): the reference fit's "
         "`REFERENCE_FIT_CELLS`, set with it."),
    Rule("a cloud gap's search work", "learners/fill_fit.candidates", ("FILL_FOLD_WORK", "FILL_BUDGET_S"),
         "The search's work scales with the scene (its pixels and bands: a tree candidate is a model a band), in "
         "reference seconds (`LEARNER_WORK`), not the clock: each fold's fit sees at most 160 000 pixel-bands (40 000 "
         "pixels of 4 bands, `select.FIT_PIXELS`, as before), and a candidate is tried while the work so far is "
         "within 7 reference seconds over all bands. Set so that the four-band cases of the record keep every "
         "candidate (WorldCereal 64² and SEN12MS-CR 256² at B02-B08: about 0.37 and 1.7 reference seconds a band "
         "before `gbm-context`, under 1.75), while a 13-band 256² SEN12MS-CR fill (ROIs2017_winter_112_p797, `-e "
         "FILE#clear`, SAR, issue 98: over 1.0 a band before it, against 0.54) leaves `gbm-context` and the blend "
         "out: 244 CPU-s → 22 (130 LightGBM boosters of 200 rounds on 75 features, 41 s of it binning the same "
         "features again for each band → 52 boosters on 15), held-out MAE 35.65 → 36.91 DN."),
    Rule("a cube's earlier dates", "inference/place/fill_inputs.open_inputs", ("EARLIER_STEPS",),
         "A time-series cube as `--earlier` gives its 3 nearest steps before the scene that are at least half "
         "clear: a judgement (the nearest clear one per pixel is the base; the held-out check decides whether "
         "the others help); `STAC_DATES` takes as many."),
    Rule("inputs on another grid", "inference/place/fill_rows.open_rows", ("FILL_RESAMPLING", "WARP_BLOCK"),
         "Values are read onto the scene's grid bilinearly (masks and classes nearest), warped in 512-pixel "
         "blocks (GDAL warps whole blocks, and by default one block is the scene)."),
    Rule("a file fill reads whole", "inference/place/fill_rows.check_fits", ("FILL_READ_SHARE",),
         "One file may take half the memory available when it is read: the scene, each earlier date and the SAR "
         "are held at once, the fit beside. A judgement (issue 77's 60000²–100000² inputs asked 37–54 GiB of a "
         "24 GB machine and ended in a MemoryError traceback)."),
    Rule("the fill's memory plan", "inference/place/fill_plan.memory", ("FILL_FIT_BYTES", "FILL_FIT_PX_BYTES", "FORWARD_PX"),
         "Measured with `python benchmarks/fill_speed.py`: at 1024² the run peaked at 1.35 GB where the plan "
         "without the fit's 1 GB said 0.97; at 10980² (stop 89) the run peaked at most 1.37 GB above what it held "
         "after the scan, at 4096² the fit 0.76 GB: 1 GB + 8 B a pixel holds both. One forward is about 1 MPix "
         "(`predictor.default_batch`)."),
    Rule("a cloud gap's edge", "inference/place/fill_strips.scan", ("FILL_DILATE",),
         "The scene's own SCL or QA_PIXEL, whose cloud edges they miss. Measured on the manual's figure "
         "(`benchmarks/fill_figure.py`'s seam check, 2026-11-27): at 2 px the mean step across the gap's edge was "
         "0.0201 reflectance against 0.0105 between clear neighbours; at 4 px 0.0136 against 0.0100; at 6 px no "
         "better. A `--mask` is filled as given (`--dilate` either way): on the gaps protocol's exact masks, first 6 "
         "pairs a sample without a snow-labelled date, growing it by 4 px took `fill` from 0.0168 to 0.0187 on discs "
         "and from 0.0143 to 0.0211 on real SCL masks (2026-11-28)."),
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
    Rule("a band's route: the fit", "learners/sharpen.decide",
         ("SHARPEN_MARGIN", "SHARPEN_TRANSFER_MIN", "WALD_STEP", "SHARPEN_DECIDE_CELLS", "SHARPEN_SAMPLE_CELLS",
          "SHARPEN_FOLD_PIXELS"),
         "The fit (one for all bands) is taken where it beats the best upsampling by 1 % at both checks, the "
         "reference's scale and one Wald step down (k, or ×2 where k's leaves too few cells; at least 400 cells "
         "there, a 20 × 20 grid: the refit says nothing on fewer); a smaller win is within the held-out noise. "
         "Decided on a window of 2²⁰ cells, the most clear of nine placements (every cell of a 10980² tile's "
         "20 m bands at once held 8–10.7 GB and ran over 4 min), sampled to 50 000 cells, 20 000 a fold. "
         "`SHARPEN_MARGIN` 1 % (and the line's `LINE_MARGIN`, the same), set on half A of the floor's sources "
         "(issue 84; `python benchmarks/octave_rules.py docs/results/sharpen_floor.json`): of 1, 2, 5 and 10 %, 1 "
         "and 2 % left 6 (source, k, method, metric) over 1.01× the best upsampling there, 1 % the lowest mean "
         "ratio (the same on the floor re-run with issue 95's test); on half B, its Sentinel-2 sources in, 11, where B's "
         "own choice is 1 % too (10 there at its own τ, 8 on A). A smaller margin the record "
         "cannot score (it refuses no route 1 % took). The rest are judgements, checked by the record "
         "(`OMP_NUM_THREADS=1 nice python benchmarks/sharpen_record.py --data ../shared/data --json "
         "docs/results/sharpen.json`), whose cases they were set on."),
    Rule("a band's route: the candidates", "learners/sharpen.fit_all",
         ("SHARPEN_BUDGET_S", "SHARPEN_TREES_MIN", "SHARPEN_PRODUCTS_MAX"),
         "Candidates within 0.15 reference seconds of work a target (`LEARNER_WORK`, not the clock: a 600² run "
         "near 3× plain predict's CPU time, issue 76). Trees from 20 000 cells (SEN12MS-CR ROIs1970_fall_139_p839 "
         "×2: 13.3 CPU-s with them, 3.4 without; B11/B12 0.60/0.61 against 0.66/0.72× cubic's RMSE). Pairwise "
         "products up to 12 channels (SEN12MS-CR's two scenes ×2: B11/B12 0.58/0.61 and 0.63/0.61× cubic's with "
         "them, 0.66/0.72 and 0.64/0.63 without; 4.8–5.3 CPU-s against 4.4 at 600²)."),
    Rule("a sharpened band's line", "learners/sharpen_routes.line_route",
         ("LINE_MARGIN", "LINE_RIDGE", "LINE_FOLDS", "LINE_FOLD_BLOCK", "LINE_PER_PARAMETER"),
         "A band the fit does not take may take a line of the guides (TsHARP's form, fitted on the detail a Wald "
         "step takes away) where it beats the best upsampling by 1 % out of fold one step down, on 5 folds of "
         "4-cell blocks with 4 cells a parameter at least. The ridge, `LINE_RIDGE` × the guides' mean detail "
         "variance × (1 − R²): 0.5, set on half A of the floor's sources (issue 84; `OMP_NUM_THREADS=1 nice python "
         "benchmarks/line_ridge.py`, `docs/results/line_ridge.json`): of 0.5, 1, 2, 4 and 8, every ridge up to 4 "
         "left 2 (source, k, metric) over 1.01× the best upsampling there, 0.5 the lowest mean log ratio; on half "
         "B it leaves 2 (M3SVD's MAE at ×4 and ×10) as 2 did, where B's own choice would be 8 (none over there, 3 "
         "on A). It was 2 before, set on Sentinel-2 and NIR cases now in the records (sen1floods11 ×2/×6, "
         "wildfire_s2_20m B12, Wales/BigEarthNet/NAIP NIR). A line over a passing fit lost SAM on WorldView-2 and Landsat's "
         "thermal pair in the record and was dropped."),
    Rule("an upsampling chosen on few cells", "learners/upsampling.upsampling_choice", ("FALLBACK_UPSAMPLING",),
         "Where one Wald step down by k and by 2 both leave under `FIT_DEGRADED_MIN` clear cells, nothing to choose "
         "an interpolation by. Lanczos, set on half A of the floor's sources: each interpolation's geometric-mean "
         "RMSE over the image's best on A's images under 400 cells, Lanczos 1.0004, B-spline 1.0023, cubic "
         "1.0182, nearest 1.0765 (half B: the same order; `python benchmarks/octave_rules.py "
         "docs/results/sharpen_floor.json`, `docs/results/octave_rules.json`)."),
    Rule("the upsampling a band takes", "learners/upsampling.preferred", ("UPSAMPLING_MARGIN",),
         "Issue 95: a band without a guided route (sharpen's and predict --reference's) takes `FALLBACK_UPSAMPLING` "
         "(Lanczos) unless another interpolation beats it at the check (held out at the reference's scale, or one "
         "Wald step down) by `UPSAMPLING_MARGIN`. The best at the check alone, the rule before, was noisy. 0.02 set "
         "on half A of the floor's images (`python benchmarks/upsampling_rule.py --data ../shared/data`, "
         "`docs/results/upsampling_rule.json`; the upsampling alone, each image's check and output): of 0, 0.01, "
         "0.02, 0.05, 0.1, 0.2 and 1 (Lanczos always), 0.02 and up leave no (source, k, metric) cell over 1.01× "
         "the best single upsampling there (the best at the check: 1, at 1.015), 0.02 the smallest of the lowest "
         "geometric mean; reported on half B it leaves 3 (the best at the check: 7), where B's own choice is 0.1 "
         "(1 over on B, 0 on A). The floor's record at the final code gives what it does beside the guided routes."),
    Rule("a reference's fit one step down", "learners/sharpen.fit_octaves", ("REFERENCE_TRANSFER_MIN",),
         "Issue 84, set on half A (NAIP 2020, `bandbridge wald`): one step down by k = 6 held 516 cells, the "
         "refitted context MLP erred 1.21× the best upsampling there and the fit was refused, where it gives "
         "6.08 DN at the output's scale against 9.49 for the upsampling; by 2 (4 650 cells) it passes. The step "
         "of k is taken from 2 000 cells (4× the sharpener's 400, whose fit is linear or trees), else 2."),
    Rule("a band's route at the output's scale", "learners/sharpen.octave_check", ("OCTAVE_TREND",),
         "Issue 84: a guided band's gain over the best upsampling one step down and one octave coarser, the "
         "trend carried log₂ k octaves by τ (`learners/octaves.py`). τ = 0, set on half A of the floor's sources "
         "(`evaluation/floor_cases.HALVES`): τ from 0 to 0.75 left 6 (source, k, method, metric) over 1.01× the "
         "best upsampling there (7–8 from 1 to 2), τ = 0 the lowest mean ratio; on half B, its Sentinel-2 "
         "sources in, 11 at τ = 0, where B's own choice would be τ = 2 (10 there, 8 on A) (`python "
         "benchmarks/octave_rules.py docs/results/sharpen_floor.json`, the floor re-run at stop 99 with issue 95's "
         "test; at c298def 12, and B's τ = 2 11 there, 7 on A). The check one "
         "step down decides; the gains an octave coarser are recorded per band."),
    Rule("the guides' units", "inference/place/sharpen.decided", ("SHARPEN_UNITS_CELLS",),
         "The guides' 0.1–99.9 % range from every step-th cell of a grid over 2²⁰ cells: at 10980² every cell "
         "took 9.7 s, every fifth row and column 0.3 s, the range within 0.2 % of its span."),
    Rule("the sharpener's memory plan", "inference/place/sharpen.SharpenPlan",
         ("SHARPEN_FIT_BYTES", "SHARPEN_TILE_PX_BYTES", "MERGE_ROWS", "MERGE_PX_BYTES"),
         "Measured with `benchmarks/sharpen_speed.py`: the fit's libraries 0.3 GB (600²: 0.31 → 0.55 GB); the "
         "engine 1100 B a tile pixel (4096², OpenVINO fp32: eight runs peaked 2.46–2.66 GB, planned 2.70); each "
         "stage's arrays by their sizes (issue 83, 10980²: peak 4.06 GB, planned 4.60; the largest stage, the engine, "
         "1.97 GB over what is held, planned 2.26); a multi-grid merge in 256-row strips, 30 B a pixel and band "
         "(0.61 GB over 8 bands × 256 rows × 10980 px)."),
    Rule("the shift test", "inference/place/sharpen_shift.misregistered", ("SHIFT_CELLS", "SHIFT_MOST"),
         "On the central 2²⁰ cells (a misregistration is one shift for the whole grid; at 10980² every cell took "
         "156 s, the centre 1–4 s). `--reference-shift X,Y` moves at most one reference pixel along an axis: the "
         "targets are read with one cell of margin, and a larger error is no label a flag fixes. A band is held shifted "
         "by `predict --reference`'s test (`MIN_SHIFT`, `SHIFT_GAIN` on the whole window and on each half of it; "
         "issue 97: one `reference_fit.moved_fits`)."),
    Rule("a written band's range", "inference/place/reference_finish.band_bounds",
         ("FLOOR_DROP", "FLOOR_QUANTILE", "FLOOR_CELLS"),
         "Issue 85: a written band stays above the reference's low end (its 0.1 % quantile less twice the gap "
         "to its minimum) and under NBITS or a 2^n − 1 saturation; the floor only from 100 whole cells one step "
         "down (SEN12MS-CR's 7 × 7 cells of B09 at ×6 lost 26 % RMSE to a floor told by one cell)."),    Rule("a band resampled onto a stack's grid", "data/resampled.find", ("SMOOTH_STEEPER",),
         "Issue 98: a band's power spectrum over the octave below a coarser grid's Nyquist frequency falls with a "
         "log-log slope 1 steeper than the native bands' (their median): interpolated from that grid. Measured on "
         "SEN12MS-CR's two scenes (13 bands, every one reprojected onto 10 m): the 20 m bands 1.5–3.5 steeper at "
         "k = 2, the 60 m bands 2.2–4.6 steeper at k = 6, the native bands within 0.6 of the others' median; a "
         "cubic or bilinear ×2 of a native band 1.3–2.5 steeper. Nearest-resampled bands are told by their "
         "blocks (`data/sentinel2.BLOCK_SHARE`)."),
    Rule("a guide that is the target", "inference/place/sharpen_same.same_bands", ("SAME_BAND_SPREAD",),
         "Issue 98: a guide whose cell means match a target's values (a line of gain within 2 % of 1, its residual "
         "within 2 % of the target's spread, RMS) is that band (the reference its block average) and guides nothing: dropped, and said. A different "
         "band of one scene leaves more (SEN12MS-CR at 20 m: B8A from B08, the closest pair, 10–14 %; B05 from any "
         "other band 33–42 %); the reference averaged from the guide leaves 0.15 % (its rounding). A judgement."),
)


def _all() -> tuple[Rule, ...]:
    import dataclasses
    return tuple(dataclasses.replace(r, section=s) for s, group in
                 (("engine", ENGINE), ("reference", REFERENCE), ("STAC", STAC), ("fill", FILL),
                                            ("sharpen", SHARPEN)) for r in group)


RULES = _all()
