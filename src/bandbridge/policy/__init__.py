"""The thresholds of the rules that decide what a user gets, each one named constant with the rule
it serves and what set it (issue 59). The rules themselves stay where their data is; every message
that states a threshold is built from the constant here (:func:`percent`), so the manual, the
cards and the code cannot disagree.

- :data:`WITHIN` — *never worse*: a model may score this much worse than its reference on one
  source (a held-out source against the floor, a validation source against the network or the
  anchor) and still count as never worse. 1 %: set with issue 49's rule as a margin below
  what a user would notice; no measurement yet ties it to the folds' own noise (which
  ``select.within_noise`` measures per choice). Used by ``select.never_worse`` (learner vs network,
  the anchor), ``floor.versus_floor`` (learner vs floor), ``workflows/held_out.py`` (network vs
  floor) and ``scripts/ship_rule.py`` (what ships).
- :data:`STUDENT_WITHIN` — a distilled student replaces its teacher when its out-of-fold MAE is at
  most this much above the teacher's (``select.distil``): the same 1 %, set with it.
- :data:`GATE_REL_TOL` — the precision gate: a faster backend or precision is used only when the
  task metric on the bundle's check sample changes by less than this, relative
  (``inference/runtime/gate.py``). 1 %: set with the gate as what a user could not tell from
  fp32 (beside the mean |Δ| under half a quantisation step, the gate's other test).
- :data:`IMAGE_MAE_WITHIN`, :data:`CONTRAST_RANGE`, :data:`R_MIN` — the image rule (issue 60,
  ``realism.image_rule``): an image-like network ships over the floor when it looks more real on
  every held-out source and pays at most 15 % more error; the thermal study's target adds the
  contrast range and the correlation on daytime sources (the floor's r is about 0.2 in domain).
- :func:`broke_floor` — *held out by source, never worse than the floor*: the one check the floor
  (a learner against it, ``floor.versus_floor``), a run (its network, ``workflows/held_out.py``)
  and the shipping step (``scripts/ship_rule.py``) apply, with :func:`held_out_rule` its words.
- :data:`ONE_GROUP` — *the one-group rule*: when validation cannot see another scene (one group
  of near-copies), a score says nothing about a new place, so only the constant and the linear
  map may be kept; :func:`one_group` is what ``train`` and ``adapt`` pass the selection core, and
  the others are not fitted at all (issue 59: one mechanism, not two).

Every rule that decides what a user gets, where it is decided and by what threshold (those not
above keep their constant beside the data they judge, named here):

==========================  ==========================================  ==============================
rule                        function                                    threshold (what set it)
==========================  ==========================================  ==============================
precision gate              ``inference/runtime/gate.judge``            :data:`GATE_REL_TOL`
backend probe on a job      ``inference/jobs/plan.make_plan``           :data:`PROBE_MPIX` 16 MPix
                            (``runtime/select.decide_backend``)         (a probe's ~15 s pays off)
a provisional choice        ``runtime/select.provisional``              ``select.BUSY`` 0.5 per core
the floor                   ``learners/floor.choose_floor``             lower on every held-out source
learner vs the floor        ``learners/floor.versus_floor``             :func:`broke_floor`
network vs the floor        ``workflows/held_out.weigh``                :func:`broke_floor`; images:
                                                                        ``realism.image_rule``
what ships                  ``scripts/ship_rule.decide``                :func:`broke_floor`
learner vs network          ``learners/select.never_worse``             :data:`WITHIN`
what model/best is          ``workflows/best.decide``                   the two records above
student for its teacher     ``learners/select.distil``                  :data:`STUDENT_WITHIN`
cheaper within noise        ``learners/select.cheaper_within_noise``    the folds' own spread
                                                                        (``NOISE_FOLDS`` 3 folds)
                                                                        and :data:`TRADE_WITHIN`
one group of near-copies    :func:`one_group`                           :data:`ONE_GROUP`
per-image fallback          ``models/fallback.Fallback``                the floor's ``ranges``
                                                                        (``models/anchor.DomainGuard``)
route by look and level     ``inference/core/route.route_model``        the file's values and name
route by stored depth       ``inference/core/route.floor_instead``      a depth no training file had
doubtful input (CHECK)      ``inference/core/interpret.doubtful``       ``SATURATED`` 2 %, ``FLAT`` 0.1 %
a scaling that saturates    ``inference/core/interpret._check_range``   :data:`MAX_SATURATED` 1 %
a file unlike the pairs     ``data/seen.unlike``                        :data:`SCALE_RATIO` 4×
pairs adapt holds           ``workflows/pairs.check_size``              :data:`ADAPT_MAX_MPIX` 128 MPix
a web page's request        ``demo/files.check_pixels``                 :data:`DEMO_MAX_MPIX` 16 MPix
the page's cloud fill       ``demo/fill.fill_upload``                   :data:`DEMO_FILL_MAX_MPIX` 4 MPix
pixels a file's look reads  ``data/reader._decimated``                  :data:`LOOK_READ_MPIX` 100 MPix
memory plan (tiles)         ``inference/jobs/tiles.fit_memory``         ``PEAK_BUDGET`` 1.5 GB,
                                                                        ``PLAN_RESERVE`` 5 %
a reference's scale         ``data/reference.open_reference``           :data:`MIN_K`, :data:`MAX_K`
a reference's clear cells   ``data/reference.check_cells``              :data:`MIN_CELLS`
a reference not the band    ``data/reference.check_band``              :data:`NEGATIVE_SHARE`, one value
                                                                        on every clear cell
a reference in kelvin       ``data/reference.check_quantity``          :data:`KELVIN_RANGE`,
                                                                        :data:`KELVIN_SPREAD`
a reference's route         ``learners/guided.fit``                     :data:`FIT_CELLS_MIN`,
                                                                        :data:`FIT_DEGRADED_MIN`,
                                                                        :data:`EVERYWHERE_MPIX`,
                                                                        :data:`HOLE_SHARE`,
                                                                        :data:`MIN_COVER`,
                                                                        :data:`UNSEEN_COVER`,
                                                                        :data:`CHECK_CELLS`, then the
                                                                        held-out check (no margin)
the consistency correction  ``learners/guided.decide``                  :data:`STALE_DAYS`
a sharpened band's line     ``learners/sharpen_routes.line_route``      ``sharpen_routes.MARGIN`` 1 %,
                                                                        ``sharpen_routes.RIDGE`` 2
a reference's shift         ``inference/place/reference_fit.register``   :data:`MIN_SHIFT`,
                                                                        :data:`SHIFT_GAIN`,
                                                                        :data:`SHIFT_CELLS_MIN`
reference warnings          ``inference/place/reference.plan_reference`` :data:`LOW_OVERLAP`,
                                                                        :data:`FAR_DAYS`
a reference found by STAC   ``inference/interop/stac_search``           :data:`WINDOW_DAYS`
dates found by STAC (fill)  ``inference/place/fill_stac.found_dates``    :data:`STAC_DATES`,
                                                                        :data:`STAC_CLEAR_MIN`,
                                                                        :data:`STAC_DAYS`,
                                                                        :data:`STAC_SAR_DAYS`
what a STAC source sends    ``inference/interop/stac_io.fetch``         :data:`FETCH_SECONDS`, :data:`FETCH_BYTES`,
                                                                        :data:`JSON_DEPTH`
a cloud gap's route         ``learners/gapfill.fill``                   :data:`FILL_FIT_MIN`,
                                                                        :data:`FILL_LINEAR_MIN`,
                                                                        then the held-out check
a cloud gap's edge          ``inference/place/fill_read.gap_of``         :data:`FILL_DILATE`
a file fill reads whole     ``inference/place/fill_read.check_fits``     ``fill_read.READ_SHARE`` 0.5 of
                                                                        the memory available (a
                                                                        judgement: the scene, earlier
                                                                        dates and SAR held at once)
the residual at the edge    ``learners/gapfill.edge_correction``        :data:`FILL_EDGE_PX`
an earlier date's snow      ``inference/place/fill_read.snow_is_ground`` :data:`FILL_SNOW_MIN`
SAR near the scene's date   ``inference/place/fill_inputs._sar``         :data:`SAR_DAYS` (a note)
a cloud in L1C (scoring)    ``evaluation/gaps_sources.cloud_masks``     :data:`CLOUD_THRESHOLD`
==========================  ==========================================  ==============================

The sharpener's rules (``bandbridge sharpen``, issue 76) keep their constants beside the code they
judge, each with what set it there:

- a band's route (``learners/sharpen.decide``): the fit beats the best upsampling by ``sharpen.MARGIN``
  1 % at both checks, the reference's scale and one Wald step down (at least ``sharpen.TRANSFER_MIN``
  400 cells there), decided on a window of ``sharpen.DECIDE_CELLS`` 2²⁰ cells sampled to
  ``sharpen.SAMPLE_CELLS``; candidates within ``sharpen.BUDGET_S`` 0.15 s of work a target
  (``select.WORK``, ``select.FIXED``), trees from ``sharpen.TREES_MIN`` cells, pairwise products up
  to ``sharpen.PRODUCTS_MAX`` channels. A band the fit does not take may take a line of the guides
  (the TsHARP form, its weights fitted on the detail a Wald step takes away and ridge-shrunk by
  ``sharpen_routes.RIDGE``, plus the band's low-pass) where it beats the best upsampling by
  ``sharpen_routes.MARGIN`` 1 % out of fold one Wald step down, on ``sharpen_routes.FOLDS`` folds of
  ``sharpen_routes.FOLD_BLOCK``-cell blocks with ``sharpen_routes.PER_PARAMETER`` cells a parameter
  at least. RIDGE was set on development cases outside the record (stop 81: sen1floods11 ×2/×6,
  wildfire_s2_20m B12, Wales/BigEarthNet NIR, NAIP ×6). The record was measured after each of three
  rules; the two that let the line displace a passing fit lost SAM to cubic there (WorldView-2,
  Landsat's thermal pair) and were dropped on that evidence, so the record is no clean test of
  the choice between them. The line replaced ``LINE_SHARE`` ⅓ (stop 80), a bound against a line
  that over-sharpened the finest octave, which the ridge now shrinks.
- the run (``inference/place/sharpen``): the guides' units from ``sharpen.UNITS_CELLS``; a pan and MS on two lattices
  beyond ``products.ALIGN_PX`` of a fine pixel are refused; memory by ``sharpen.FIT_BYTES``,
  ``sharpen.FIT_CELL_BYTES``, ``sharpen.TILE_PX_BYTES`` and the merge's ``sharpen_sets.MERGE_ROWS``,
  ``sharpen_sets.MERGE_PX_BYTES``; Landsat's thermal bands read ``landsat.TIRS_CELL`` × 3 (90 m), and
  ``landsat.GUIDES_LEFT_OUT`` are no default guides. Issue 85: a reference grid half a pixel off (within
  :data:`HALF_PIXEL_TOL` 0.15, the context map :data:`HALF_PIXEL_GAIN` 5 % better moved) is corrected
  (``sharpen_shift``, on its central ``SHIFT_CELLS``); a written band stays in ``reference_finish.band_bounds``
  (:data:`FLOOR_DROP` 2, :data:`FLOOR_QUANTILE` 0.1 %, :data:`FLOOR_CELLS` 100); what set each is said there.
- fill's inputs on another grid (``inference/place/fill_rows``): ``fill_rows.VALUES`` resampling
  (masks nearest), warped in ``fill_rows.BLOCK``-pixel blocks.

The reference path's thresholds (``predict --reference``, issue 68), and what set each:

- :data:`MIN_K` 2 — the definition of a coarser reference: at 1 the two are a pair (``adapt``).
  :data:`MAX_K` 1000 — a judgement: a 5 cm drone image under a 10 m Sentinel-2 pixel is k = 200,
  and the consistent route was measured up to that (NAIP 2020, k = 16–200:
  ``docs/results/reference_scales.json``, ``python benchmarks/reference_scales.py``); beyond 1000
  one cell averages a million pixels.
- :data:`MIN_CELLS` 1 — one clear cell still scales the model's output (the consistent route).
- :data:`FIT_CELLS_MIN` — clear cells below which no learner is fitted at the reference's scale
  (folds of fewer cells hold out too few to choose by); above it the held-out check decides between
  the fit and the upsampled reference, with no margin. Set by ``bandbridge wald`` (the table's
  small scenes: ``docs/results/wald.json``). :data:`FIT_DEGRADED_MIN` 100 — cells the degraded grid
  (the reference averaged once more by k) must hold: with fewer the fit learns a reference upsampled
  from a grid of a few cells a side, nothing like the one it meets at full scale (NAIP 2020 at
  k = 24: 1 140 cells, 2 at the degraded scale; a fit that held out well there gave 59.9 DN at full
  scale against 24.4 for the nearest upsampled reference; at k = 16, 10 cells, the flexible fits
  carried worst in issue 57).
- :data:`EVERYWHERE_MPIX` 16 MPix — an input this large is served by the fit only with candidates
  every backend runs (the constant, the linear map, the context MLP and their blend): measured on
  ``benchmarks/reference_speed.py --size 4096`` (16.8 MPix), boosted trees won at the reference's
  scale (0.0895 against the MLP's 0.0942 out of fold), their student was refused (0.104, 16 % worse)
  after 22 s of distillation, and the trees' onnxruntime pass took 36.8 s where plain ``predict``
  took 4.2 s. The same size as :data:`PROBE_MPIX`'s large job.
- :data:`HOLE_SHARE` 1 % — a judgement: unseen cells fewer than this share of the clear ones are
  holes, filled from their nearest clear cell; more are a part of the image the reference does not
  see, filled by a fit or the model's own output (whichever holds out better), which costs a
  second fit or a run of the model (``reference_speed.py --size 8192``: 2 cells of value 0, the
  reference's nodata, cost 24 s so).
- :data:`MIN_COVER` 99 % — of a reference cell the input must cover for the cell to be fitted on or
  checked against (a cell the image's edge cuts averages pixels the input does not hold); and
  :data:`UNSEEN_COVER` 50 % — an unseen cell covered at least this much is part of the image a user
  sees filled (less: the footprint's margin, which only the interpolations read). Judgements.
- :data:`CHECK_CELLS` 16 — the consistent route is held out one scale coarser; with fewer clear
  cells there (a 4 × 4 grid) it is taken by the measured rule instead: on NAIP 2020 at k = 24–200 it
  was 18–24 % below the nearest upsampled reference and below the model alone (20.07–41.25 DN
  against 24.38–54.18 and 43.33; ``docs/results/reference_scales.json``).
- :data:`STALE_DAYS` 45 — measured on NAIP (``docs/results/stale_reference.json``, ``python
  benchmarks/stale_reference.py``): with a reference of another year (315–763 days off, k = 6) the
  held-out check, blind to the date, applied the correction on all 10 dates and it hurt on 7 (mean
  32.41 → 33.05 DN; 2020 with 2019's NIR 20.25 → 21.29); a judgement where between 0 and 315 days
  the line falls (no pair in between was measured).
- :data:`MIN_SHIFT` 0.2 reference pixels — measured on NAIP at k = 2, 6 and 16: a reference in place
  read 0.0–0.1, one shifted by 0.5 read 0.4–0.7; below it, noise. :data:`SHIFT_GAIN` 0.5 % — a shift is
  corrected only where a linear map of the input's context features fits the reference at least this
  much better moved by it, on the same cells: NAIP 2020 at k = 6 (``bandbridge wald``) shifted by ¼,
  ½ and 1 cell improved it by 1.2, 3.5 and 10 %, and a false peak (a RoadScene IR frame as the
  reference for its visible frame) by 0.3 %; at 2 % the ¼-cell shift went uncorrected (8.3 DN
  against 6.1 corrected). :data:`SHIFT_CELLS_MIN` 256 — a judgement: on fewer clear cells (a 16 × 16 grid) no shift is
  measured; a phase correlation of a few cells a side found shifts that were not there (NAIP 2020 at
  k = 32, 64 cells: +0.2 cell "found" on a reference in place).
- :data:`SCENE_COVER` 50 % — a judgement: inputs sharing one reference, model and pixel grid are fitted
  once over their mosaic (``inference/place/reference_scene.py``: at k = 8 on NAIP 2020 in 2×2 tiles,
  8.10 DN over the scene against 12.03 tile by tile, ``benchmarks/reference_tiles.py``) unless they
  cover less than this share of their bounding box (the mosaic's engine would run mostly on holes).
- :data:`LOW_OVERLAP` 50 % and :data:`FAR_DAYS` 365 — judgements; they warn and decide nothing.
- :data:`NEGATIVE_SHARE` 5 % — a judgement (issue 77): a reflective band's reflectance or DN is never
  negative; a Sentinel-2 L2A scene's dark water dips below 0 on a few cells after its −1000 offset, a
  negated or differenced reference holds negatives on every cell it changed (the trial: 50–100 %).
- :data:`KELVIN_RANGE` 170–350 K and :data:`KELVIN_SPREAD` 20 % — a reference named as a reflective band
  whose physical values (a float type or stated scales; integer codes are not judged) have their
  2nd–98th percentiles inside Earth's surface temperatures (about −100 to +75 °C), above 8 bits and
  within 20 % of their median is a temperature in K, refused (``data/reference.check_quantity``).
  Measured (``python benchmarks/reference_quantity.py --data ../shared/data``,
  ``docs/results/reference_quantity.json``, windows of 4² to 32² cells and whole scenes): Landsat-8
  B10/B11 in K by the MTL: 7 159 of 7 171 windows and both scenes refused; real NIR products
  (Sentinel-2, ARCSI ×1000, NAIP, GeoEye-1, IKONOS, WorldView-2, CBERS, MODIS, Landsat L1: 29 files)
  as stored and as 0–1 reflectance: none of 840 861 windows refused. The limit, measured too: a
  uniform field's ×1000 reflectance (280–340) reads as K where written as float (1.2 % of 8² windows,
  0.2 % of 16²); the line names the scale to state. A range alone cannot tell them: an 8-bit DN of
  bright ground reads 170–255 (NAIP 2009: 24 077 of 42 173 4² windows inside 170–350).
- :data:`WINDOW_DAYS` 30 — a judgement: either side of the input's date a STAC search looks.
- ``fill -e stac`` (``inference/place/fill_stac``): :data:`STAC_DATES` 3 Items each side, as many as
  ``fill`` takes of a cube (``fill.EARLIER_STEPS``; a test holds the two equal); :data:`STAC_CLEAR_MIN`
  50 % of the footprint clear by the Item's SCL, the rule ``fill_read.earlier_steps`` applies to a
  cube's steps; :data:`STAC_DAYS` 60 days searched each side, a judgement (issue 75: a date 70 days
  off gained 2 % over the per-band map; nearer dates are taken first); :data:`STAC_SAR_DAYS` 12 days
  either side for Sentinel-1, one satellite's repeat cycle (``fill`` notes a SAR date more than
  :data:`SAR_DAYS` off; its held-out check decides).
- A STAC source's answer over http(s) (``inference/interop/stac_io``, issue 85) ends by :data:`FETCH_SECONDS`
  60 s for the whole exchange (a per-read limit let a server trickling a byte every 20 s hold a run past 200 s)
  and at :data:`FETCH_BYTES` 16 MiB (an Item is about 20 KB, a search's page about 2 MB); its JSON nests at most
  :data:`JSON_DEPTH` 100 levels (an Item is under 10; 200 000 nested lists ended in a RecursionError). Judgements.

The cloud-filling path's thresholds (``bandbridge fill``, issue 70), and what set each:

- :data:`FILL_FIT_MIN` — clear pixels (with an earlier clear date) below which no fit is tried and
  the per-band linear map or the earlier date as it is fills the gap. 256 — measured on the
  development sample only (WorldCereal 00002806639B424A, its first four date pairs; a disc of N
  clear pixels left, the rest the gap; ``python benchmarks/fill_min.py``): re-measured 2026-11-27
  with the fit on top of the per-band map (stop 73): from 256 clear pixels on the fit was never
  worse than the per-band map on the gap (better on 2 of 4 pairs, equal on 2; mean MAE 0.0268
  against 0.0278 reflectance; 512: 0.0213 against 0.0221; 1024: 0.0187 against 0.0198, one pair
  worse by 0.0009); at 128 the spatial folds held nothing out on 3 of 4 pairs (first measure, with
  the fit on the earlier date: 0.0192 against 0.0278 at 256). Above it the held-out check decides.
- :data:`FILL_LINEAR_MIN` 64 — a judgement: a line per band on fewer clear pixels than one row of
  a 64-pixel scene is not worth its held-out check; the earlier date goes in as it is.
- :data:`FILL_DILATE` 4 px — measured on the real cloudy date of the manual's figure (WorldCereal
  00002806639B424A, 2018-06-03; ``benchmarks/fill_figure.py``'s seam check, 2026-11-27): cloud edges
  and shadow the scene classification calls clear. At 2 px the mean step across the gap's edge was
  0.0201 reflectance against 0.0105 between clear neighbours; at 4 px 0.0136 against 0.0100, at 6 px
  0.0138 against 0.0095 (no better, and more of the scene refilled).
- :data:`FILL_EDGE_PX` 2 px — the route's held-out error on the clear pixels spread into the gap
  (a Gaussian of this σ, faded by ``exp(−d / FILL_EDGE_PX)`` with the distance from the clear
  part). Measured on the development sample only (WorldCereal 00002806639B424A, its first 15 date
  pairs with seeded discs, the route ``fill`` takes, the fit then learning the change from the
  earlier date itself; 2026-11-27): MAE over the hidden pixels
  0.01481 reflectance without, 0.01461 at 1 px, **0.01455 at 2**, 0.01458 at 3, 0.01463 at 4,
  0.01475 at 12; on the ring 3 px deep inside the gap 0.01371 without, 0.01300 at 2 px.
- :data:`FILL_SNOW_MIN` 1 % — an earlier date's SCL snow is taken for the ground under the gap only
  where the scene's own clear part shows at least this share of snow (or has no SCL to say): snow
  hides the ground, and where the scene shows none now it has melted or was a cloud the scene
  classification called snow. Measured on WorldCereal: 00002806639B424A 2018-09-23 and
  0000280849BAC91C 2018-11-12 are 99 % and 97 % "snow" by SCL in West Flanders and Flemish Brabant
  in September and November (flat reflectance near 0.6 in every band: clouds), and every clear
  date after them shows 0 % snow; 1 % is a judgement that keeps real snow wherever the scene
  itself shows some. Real snow that persists into the scene is kept.
- :data:`SAR_DAYS` 3 — the protocol the SAR gain was measured on (``bandbridge gaps``, issue 70;
  ``docs/results/gaps.json``):
  Sentinel-1 within 3 calendar days of each Sentinel-2 date (the issue's 42 pairs: counted in
  hours, 0000280849BAC91C 2019-02-25 is 3.3 days from its SAR and the list has 41); a SAR date
  further off is said in a line (the held-out check still decides whether the fit with it fills
  the gap).
- :data:`CLOUD_THRESHOLD` 0.2 — where the smoothed cloud score of Schmitt et al. 2019 marks a cloud
  in a SEN12MS-CR L1C scene that ``bandbridge gaps`` fills: the ``cloud_threshold`` default of
  GLF-CR (codes/dataloader.py, Xu et al. 2022) and DSen2-CR (Meraner et al. 2020) on that very
  dataset; taken as published, not tuned here.

What set the thresholds, measured or not:

- ``PROBE_MPIX`` 16 MPix — measured: the probe took 9.4 s of its 15 s bound (2 cores, one kept
  busy; the prediction page). At 16 MPix the backend it chose saves ``rgb2thermal`` about 55 s
  (OpenVINO int8 2.47 against torch fp32 0.26 MPix/s, there) and ``rgb2nir-naip`` 7.8 s (5.39
  against 1.48 MPix/s, ``docs/results/bench_bundles.json``): the probe pays for itself within one
  such job or two, and its cached choice serves every later one.
- :data:`LOOK_READ_MPIX` 100 MPix — the most pixels a file's decimated look decodes (the look a plan
  takes at its values, and per-image statistics: ``data/reader._decimated``) where the file has no
  overviews; larger files are sampled block by block, evenly (``data/reader._sampled``). Measured: the
  whole look took 1 s at 8192² (67 MPix) and 6 s at 20000² (400 MPix) here (``data/reader``), and a
  plan on a 200000² sparse GeoTIFF 75–600 s before the bound (issue 69); 100 MPix keeps every file up
  to 10000² (the 8192² benchmark mosaics among them) read whole, and bounds any other at about 1.5 s.
- ``PLAN_RESERVE`` 5 % — measured: without it OpenVINO fp32 and onnxruntime int8 peaked 3–5 %
  over the plan at 20000² (``benchmarks/memory_plan.py``, the benchmarks page); with it every
  backend stays under (``docs/results/memory_plan.json``). ``PEAK_BUDGET`` 1.5 GB is a choice
  (half the memory available where less) that the same record shows held.
- ``select.NOISE_FOLDS`` and the cheaper-within-noise rule use the folds' own spread, measured
  per choice; the floor and the routes compare measured errors with no margin of their own.
- :data:`TRADE_WITHIN` 5 % — a judgement (issue 77): the most out-of-fold error a cheaper learner
  may cost to be kept for speed. One standard error of three or four folds' differences is a
  loose bound: a new user's ``adapt --within-scene`` (issue 77) saw ``gbm-context`` (41.34) traded
  for ``mlp-context``, 14.4 % worse, "within the folds' noise". A trade also never hands the choice to
  the model as it was where the lowest learner beat it.
- :data:`MAX_SATURATED` 1 % — a judgement (issue 11): a scaling the user or the model names is
  refused when more than this share of the valid pixels lies beyond its range (they would
  saturate); a few clipped highlights pass.
- :data:`SCALE_RATIO` 4× — a judgement (issue 47): a file whose values span this many times wider
  or narrower than those a model saw, centred outside them, is read at another scale (the
  family's scalings lie 10× apart, × 1000 against × 10000 reflectance, and 8-bit against 16-bit
  257×; a dark or hazy scene of the right scaling is narrower but centred inside, and passes).
- :data:`ADAPT_MAX_MPIX` 128 MPix — a judgement (issue 34): ``adapt`` holds every pair in memory
  (bands, features, the learners' copies). Not measured at that size: six NAIP dates, 4.05 MPix,
  peaked at 936 MB (``docs/results/adapt_naip.json``).
- :data:`DEMO_MAX_MPIX` 16 MPix — a judgement set with the web page: the output pixels one request
  may ask for (the page runs on the machine that serves it); the same size as :data:`PROBE_MPIX`.
- :data:`DEMO_FILL_MAX_MPIX` 4 MPix — the page's cloud fill (issue 75), measured through the page's own
  handler (``python benchmarks/fill_page.py --mpix 1 4 16``, ``docs/results/fill_page.json``; 2 busy
  cores): 1 MPix 158 CPU-s, 1.41 GB peak; 4 MPix 253 CPU-s, 1.70 GB; 16 MPix 517 CPU-s, 2.59 GB. The
  page's budget, a judgement: about 300 CPU-s a request (what its 1 MPix cap cost before the engine,
  268 CPU-s) and under 2 GB; 4 MPix is the largest measured size inside both, and a real 4-band
  uint16 scene of 4 MPix is about 24 MB, inside the page's 40 MB upload cap (16 MPix: about 94 MB).
- Not measured, a judgement each: :data:`WITHIN` and :data:`STUDENT_WITHIN` 1 % and
  :data:`GATE_REL_TOL` 1 % (a margin below what a user would notice), ``select.BUSY`` 0.5 per
  core, ``interpret.SATURATED`` 2 % and ``interpret.FLAT`` 0.1 %; the image rule's
  :data:`IMAGE_MAE_WITHIN`, :data:`CONTRAST_RANGE` and :data:`R_MIN` are issue 60's own targets.

``bandbridge predict … --plan`` prints what these decide for a given file before any work.
"""

from __future__ import annotations

WITHIN = 0.01
STUDENT_WITHIN = 0.01
GATE_REL_TOL = 0.01
IMAGE_MAE_WITHIN = 1.15
CONTRAST_RANGE = (0.7, 1.3)
R_MIN = 0.3
MIN_K, MAX_K = 2.0, 1000.0
MIN_CELLS = 1
FIT_CELLS_MIN = 1_000
FIT_DEGRADED_MIN = 100
EVERYWHERE_MPIX = 16.0
SCENE_COVER = 0.5
PROBE_MPIX = 16.0
HOLE_SHARE = 0.01
MIN_COVER = 0.99
UNSEEN_COVER = 0.5
CHECK_CELLS = 16
STALE_DAYS = 45
MIN_SHIFT, SHIFT_GAIN, SHIFT_CELLS_MIN = 0.2, 0.005, 256
HALF_PIXEL_TOL, HALF_PIXEL_GAIN, FLOOR_DROP, FLOOR_QUANTILE, FLOOR_CELLS = 0.15, 0.05, 2.0, 0.001, 100
LOW_OVERLAP = 0.5
FAR_DAYS = 365
WINDOW_DAYS = 30
STAC_DATES = 3
STAC_CLEAR_MIN = 0.5
STAC_DAYS = 60
STAC_SAR_DAYS = 12
FILL_FIT_MIN = 256
FILL_LINEAR_MIN = 64
FILL_DILATE = 4
FILL_EDGE_PX = 2.0
FILL_SNOW_MIN = 0.01
SAR_DAYS = 3
FETCH_SECONDS = 60
FETCH_BYTES = 16 * 2**20
JSON_DEPTH = 100
CLOUD_THRESHOLD = 0.2
LOOK_READ_MPIX = 100.0
TRADE_WITHIN = 0.05
MAX_SATURATED = 0.01
SCALE_RATIO = 4.0
ADAPT_MAX_MPIX = 128
DEMO_MAX_MPIX = 16
DEMO_FILL_MAX_MPIX = 4
NEGATIVE_SHARE = 0.05
KELVIN_RANGE = (170.0, 350.0)
KELVIN_SPREAD = 0.20


def percent(x: float) -> str:
    """A threshold as the manual writes it: ``0.01`` → ``1 %``, ``0.005`` → ``0.5 %``."""
    return f"{x * 100:g} %"


EPS = 1e-12  # a floor that scores 0 (a constant target) still gives a finite ratio


def broke_floor(scores: dict[str, tuple[float, float]]) -> list[str]:
    """The held-out sources on which a model scores more than :data:`WITHIN` worse than the floor
    chosen on the other sources; ``scores``: ``{source: (model's MAE, the floor's MAE)}``, one
    unit. Empty: the model may stand in the floor's place."""
    return [s for s, (mine, floor) in scores.items() if mine / max(floor, EPS) > 1 + WITHIN]


def held_out_rule(what: str) -> str:
    """:func:`broke_floor`'s rule in words, for ``what`` (``"the network is kept"``, …)."""
    return (f"{what} only when, leave-one-source-out, no held-out source scores more than "
            f"{percent(WITHIN)} worse than the floor chosen on the other sources")


def probes(mpix: float) -> bool:
    """Whether a model's jobs of ``mpix`` megapixels in all are a large run: its backends are
    measured once (cached) and, run here, its tiles grown to what memory allows (:data:`PROBE_MPIX`)."""
    return mpix >= PROBE_MPIX


ONE_GROUP = ("constant", "linear")


def one_group(blind: bool) -> tuple[str, ...] | None:
    """The learners the selection core fits (its ``allowed``) under the one-group rule: only
    :data:`ONE_GROUP` when ``blind`` (validation cannot see another scene), else all."""
    return ONE_GROUP if blind else None
