"""The rules of a user's data, the notes on an input and the web page: what each decides, where, and what set it
(issue 97 point 6: the numbers that decided these stood beside their data)."""

from __future__ import annotations

from bandbridge.policy.rule import Rule

RULES = (
    Rule("near-copies in names", "data/found_groups.name_links", ("GROUP_DENSE", "GROUP_BREAK", "GROUP_MIN_STEP"),
         "Groups found when a user names none (`docs/data.md`): ids that differ only in their numbers are one "
         "collection when the numbers fill at least `GROUP_DENSE` 10 % of their range (32 consecutive frames, a photo "
         "set's `country_0000 … country_0070`), else cut where the counter steps more than `GROUP_BREAK` 4× its "
         "median step and more than `GROUP_MIN_STEP` 2 (frames 1, 2, 4 of one video stay one run). Judgements, "
         "checked on the dev data (`tests/datasets/test_found_groups.py`): RoadScene's 204 FLIR frames fall into 24 "
         "drives, EPFL's nine categories are found exactly, no TNO group mixes two of its scenes.",
         section="data, notes and the page"),
    Rule("near-copies in images", "data/found_groups.image_links", ("NEAR_COPY",),
         "Two thumbnails whose perceptual hashes (`imagehash.phash`, 64 bits) are within `NEAR_COPY` 6 bits are "
         "near-copies whatever their names. Measured on the dev data (RoadScene, TNO, EPFL photos): pairs from "
         "different scenes or categories are never closer than 18 bits (their 0.1st percentile).",
         section="data, notes and the page"),
    Rule("one site by its footprints", "data/found_groups.place_links", ("SAME_PLACE",),
         "Georeferenced rasters in one CRS whose footprints overlap by at least `SAME_PLACE` half of the smaller one "
         "are one site (NAIP's ten dates of one quad: one group). A judgement.",
         section="data, notes and the page"),
    Rule("images hashed for near-copies", "data/found_groups.find_groups", ("IMAGE_CUE_MAX",),
         "Above 5 000 items no thumbnail is read (names and footprints still link them). A judgement: the reading "
         "bounded before a run starts.",
         section="data, notes and the page"),
    Rule("a flat error map", "inference/core/confidence.ErrorRaster", ("FLAT_ERROR",),
         "An expected-error map whose standard deviation is under `FLAT_ERROR` 5 % of its mean (a photo far from "
         "the training data: about one expected error everywhere) is said to tell nothing pixel by pixel. A "
         "judgement.",
         section="data, notes and the page"),
    Rule("8-bit imagery divided by 255", "inference/core/doubts.divided_8bit", ("MIN_LEVELS",),
         "A float file read as reflectance whose values are whole multiples of 1/255 is doubted as 8-bit imagery "
         "divided by 255 when it holds at least `MIN_LEVELS` 16 distinct values (fewer could be a mask or a few "
         "classes). A judgement.",
         section="data, notes and the page"),
    Rule("a dark scene as reflectance × 10000", "inference/core/look.dark_as_10000", ("DARK_10000",),
         "Integer values guessed as reflectance × 10000 whose brightest band's 99th percentile is under "
         "`DARK_10000` 1000 (0.1) would be a black scene: the look says so and names `--scaling reflectance_1000` "
         "(ARCSI's). A judgement.",
         section="data, notes and the page"),
    Rule("two panels on one range", "stretch.shared_stretch", ("STRETCH_OUTSIDE",),
         "A panel shares its reference's 2–98 % range unless more than `STRETCH_OUTSIDE` a quarter of its values "
         "fall outside it; then both take the union and say so (issue 33: a display never hides the answer). A "
         "judgement.",
         section="data, notes and the page"),
    Rule("the page's calibration pair", "demo/calibrate.calibrate",
         ("DEMO_PAIR_MAX_MPIX", "DEMO_PAIR_USE_MPIX", "DEMO_ADAPT_MINUTES"),
         "Judgements set with the web page: a pair of at most 4 MPix, of which the top rows up to 1 MPix are used "
         "(adapt's fits and checks scale with them), and adapt's search of 0.5 reference minutes (`LEARNER_WORK`): "
         "the same candidates on any machine, a click about a minute on a quiet 2-core machine.",
         section="data, notes and the page"),
    Rule("a web page's upload", "demo/files.check_upload", ("DEMO_UPLOAD_MB",),
         "A judgement set with the web page: files up to 40 MB (Gradio's `max_file_size` too); the CLI has no such "
         "limit, and the refusal names the command to use.",
         section="data, notes and the page"),
)
