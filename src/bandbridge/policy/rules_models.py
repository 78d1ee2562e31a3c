"""The rules of models, learners, inputs and the engine: what each decides, where, and what set it."""

from __future__ import annotations

from bandbridge.policy.rule import Rule

RULES = (
    Rule("never worse", "learners/select.never_worse", ("WITHIN",),
         "A model may score this much worse than its reference on one source (a held-out source against the "
         "floor, a validation source against the network or the anchor) and still count as never worse. 1 %: "
         "set with issue 49's rule as a margin below what a user would notice; no measurement ties it to the "
         "folds' own noise (which `select.within_noise` measures per choice). The same check "
         "(`policy.broke_floor`, its words `policy.held_out_rule`) serves the floor (`learners/floor.versus_floor`), "
         "a run's network (`workflows/held_out.weigh`) and what ships (`scripts/ship_rule.decide`); "
         "`workflows/best.decide` takes the two records."),
    Rule("student for its teacher", "learners/select.distil", ("STUDENT_WITHIN",),
         "A distilled student replaces its teacher when its out-of-fold MAE is at most this much above the "
         "teacher's: the same 1 % as `WITHIN`, set with it. A judgement."),
    Rule("precision gate", "inference/runtime/gate.judge", ("GATE_REL_TOL",),
         "A faster backend or precision is used only when the task metric on the bundle's check sample "
         "changes by less than this, relative. 1 %: set with the gate as what a user could not tell from fp32 "
         "(beside the mean |Δ| under half a quantisation step, the gate's other test). A judgement."),
    Rule("the image rule", "realism.image_rule", ("IMAGE_MAE_WITHIN", "CONTRAST_RANGE", "R_MIN"),
         "Issue 60: an image-like network ships over the floor when it looks more real on every held-out "
         "source and pays at most 15 % more error; the thermal study's target adds the contrast range and the "
         "correlation on daytime sources (the floor's r is about 0.2 in domain). The issue's own targets."),
    Rule("one group of near-copies", "policy.one_group", ("ONE_GROUP",),
         "When validation cannot see another scene (one group of near-copies), a score says nothing about a "
         "new place, so only the constant and the linear map may be kept; `train` and `adapt` pass this to the "
         "selection core and the others are not fitted at all (issue 59: one mechanism, not two)."),
    Rule("cheaper within noise", "learners/select.cheaper_within_noise", ("NOISE_FOLDS", "TRADE_WITHIN"),
         "The folds' own spread decides, measured per choice (with fewer than `NOISE_FOLDS` 3 folds the lowest "
         "error wins). `TRADE_WITHIN` 5 %, a judgement (issue 77): the most out-of-fold error a cheaper "
         "learner may cost to be kept for speed. One standard error of three or four folds' differences is a "
         "loose bound: a new user's `adapt --within-scene` saw `gbm-context` (41.34) traded for `mlp-context`, "
         "14.4 % worse, \"within the folds' noise\"."),
    Rule("a learner's work", "learners/select.serve_us", ("LEARNER_WORK", "LEARNER_FIXED"),
         "Seconds to fit `select.FIT_PIXELS` pixels and microseconds to predict one, per learner kind, on the "
         "reference machine (the 2-core kind, one thread; `python benchmarks/learner_work.py`, 2026-11-26), and the "
         "seconds of a fit whatever its pixels (trees are built on however few), so a search's budget is counted in work, not the clock: the same pixels choose "
         "the same candidates on any machine, busy or quiet (issue 58). Measured with `benchmarks/learner_work.py` "
         "(medians of 3, 2026-11-27): gbm-bands 0.059 s + 0.188 per 40 000 pixels, gbm-context 0.163 + 0.669."),
    Rule("backend probe on a job", "inference/jobs/plan.make_plan", ("PROBE_MPIX",),
         "Measured: the probe took 9.4 s of its 15 s bound (2 cores, one kept busy; the prediction page). At "
         "16 MPix the backend it chose saves `rgb2thermal` about 55 s (OpenVINO int8 2.47 against torch fp32 "
         "0.26 MPix/s) and `rgb2nir-naip` 7.8 s (5.39 against 1.48 MPix/s, `docs/results/bench_bundles.json`): "
         "the probe pays for itself within one such job or two, and its cached choice serves every later one."),
    Rule("a provisional choice", "inference/runtime/select.provisional", ("BUSY",),
         "A backend chosen while the load average per core is above this is provisional and measured again "
         "later. A judgement."),
    Rule("memory plan (tiles)", "inference/jobs/tiles.fit_memory", ("PEAK_BUDGET", "PLAN_RESERVE"),
         "`PLAN_RESERVE` 5 %, measured: without it OpenVINO fp32 and onnxruntime int8 peaked 3–5 % over the "
         "plan at 20000² (`benchmarks/memory_plan.py`); with it every backend stays under "
         "(`docs/results/memory_plan.json`). `PEAK_BUDGET` 1.5 GB is a choice (half the memory available "
         "where less) that the same record shows held."),
    Rule("doubtful input (CHECK)", "inference/core/interpret.doubtful", ("SATURATED", "FLAT_SPREAD"),
         "A band with 2 % or more of its pixels at its integer type's ceiling (clipped values, as in "
         "Sentinel-2 TCI images) or whose 1st–99th percentile spread is under 0.1 % of its type's range makes "
         "the input doubtful. Judgements."),
    Rule("a scaling that saturates", "inference/core/interpret._check_range", ("MAX_SATURATED",),
         "A judgement (issue 11): a scaling the user or the model names is refused when more than 1 % of the "
         "valid pixels lies beyond its range (they would saturate); a few clipped highlights pass."),
    Rule("a file unlike the pairs", "data/seen.unlike", ("SCALE_RATIO",),
         "A judgement (issue 47): a file whose values span 4 × wider or narrower than those a model saw, "
         "centred outside them, is read at another scale (the family's scalings lie 10× apart, × 1000 against "
         "× 10000 reflectance, and 8-bit against 16-bit 257×; a dark or hazy scene of the right scaling is "
         "narrower but centred inside, and passes)."),
    Rule("pixels a file's look reads", "data/reader._decimated", ("LOOK_READ_MPIX",),
         "The most pixels a file's decimated look decodes where the file has no overviews; larger files are "
         "sampled block by block. Measured: the whole look took 1 s at 8192² and 6 s at 20000² here, and a "
         "plan on a 200000² sparse GeoTIFF 75–600 s before the bound (issue 69); 100 MPix reads every file up to "
         "10000² whole and bounds any other at about 1.5 s."),
    Rule("pairs adapt holds", "workflows/pairs.check_size", ("ADAPT_MAX_MPIX",),
         "A judgement (issue 34): `adapt` holds every pair in memory. Not measured at that size: six NAIP dates, "
         "4.05 MPix, peaked at 936 MB (`docs/results/adapt_naip.json`)."),
    Rule("a web page's request", "demo/files.check_pixels", ("DEMO_MAX_MPIX",),
         "A judgement set with the web page: the output pixels one request may ask for (the page runs on the "
         "machine that serves it); the same size as `PROBE_MPIX`."),
    Rule("a web page's text box", "demo/translate.checked_text", ("DEMO_TEXT_CHARS",),
         "A judgement (issue 98: a 10 kB value was echoed back whole): the most characters a text box of the page "
         "takes; its longest use, a band list of 13 names of up to 30 characters, is under 400. A longer value is "
         "refused in one line that does not echo it."),
    Rule("the page's cloud fill", "demo/fill.fill_upload", ("DEMO_FILL_MAX_MPIX",),
         "Measured through the page's own handler (`python benchmarks/fill_page.py --mpix 1 4 16`, "
         "`docs/results/fill_page.json`; 2 busy cores): 1 MPix 158 CPU-s, 1.41 GB; 4 MPix 253 CPU-s, 1.70 GB; "
         "16 MPix 517 CPU-s, 2.59 GB. The page's budget, a judgement: about 300 CPU-s a request and under 2 GB."),
)
