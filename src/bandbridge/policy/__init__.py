"""The thresholds of the rules that decide what a user gets: every one a named constant defined
here, and nowhere else (issue 83). What each decides, where, and the measurement or judgement that
set it are ``policy/rules*.py``'s records, from which the manual's table (``docs/policy.md``) is
generated (``python -m bandbridge.policy.table docs/policy.md``; a test holds the page to them and
every constant here to one rule). The rules themselves stay where their data is; every message that
states a threshold is built from the constant here (:func:`percent`), so the manual, the cards and
the code cannot disagree. ``bandbridge predict … --plan`` prints what these decide for a given file
before any work.
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
CONSISTENT_MARGIN = 0.2
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
DEMO_TEXT_CHARS = 500
NEGATIVE_SHARE = 0.05
KELVIN_RANGE = (170.0, 350.0)
KELVIN_SPREAD = 0.20
NOISE_FOLDS = 3
LEARNER_WORK = {"constant": (0.003, 0.08), "linear": (0.005, 0.07), "ridge-context": (0.02, 0.13),
                "gbm-bands": (0.3, 8.0), "gbm-context": (0.9, 10.0), "mlp-context": (1.2, 0.45)}
LEARNER_FIXED = {"gbm-bands": 0.06, "gbm-context": 0.16}
BUSY = 0.5
PEAK_BUDGET = 1.5e9
PLAN_RESERVE = 0.05
SATURATED = 0.02
FLAT_SPREAD = 1e-3
ALIGN_PX = 0.05
LANDSAT_GUIDES_LEFT_OUT = ("B8", "B9")
SHARPEN_TREES_MIN = 20_000
SHARPEN_TRANSFER_MIN = 400
SHARPEN_SAMPLE_CELLS = 50_000
SHARPEN_FOLD_PIXELS = 20_000
SHARPEN_BUDGET_S = 0.15
SHARPEN_MARGIN = 0.01
SHARPEN_DECIDE_CELLS = 1 << 20
SHARPEN_PRODUCTS_MAX = 12
WALD_STEP = 2.0
LINE_MARGIN = 0.01
OCTAVE_TREND = 0.0
LINE_RIDGE = 0.5
LINE_PER_PARAMETER = 4
LINE_FOLD_BLOCK = 4
LINE_FOLDS = 5
SHARPEN_FIT_BYTES = 0.3e9
SHARPEN_TILE_PX_BYTES = 1100.0
SHARPEN_UNITS_CELLS = 1 << 20
TRANSFER_CARRY = 0.8
TRANSFER_RIDGE = 1e-3
TRANSFER_CELLS_MIN = 64
TRANSFER_PIXELS = 1 << 20
TRANSFER_FULL = 1.0  # a test's share at or over this: the whole detail (1: as measured)
AREA_FIT: tuple[str, ...] = ()  # the kinds whose fit learns area to point (its rule)
AREA_RIDGE_MIN = 1e-4
CHECK_SHARE: tuple[str, ...] = ()  # the kinds whose fit's detail is capped at its own check's share
NETWORK_ALLOWANCE = 3.0  # how much the scene's checks overrate a band's own route beside the network (its rule)
NETWORK_DN_ABOVE = 2.0  # a Sentinel-2 band whose stored median is over this, with no map stated: digital numbers
MERGE_ROWS = 256
MERGE_PX_BYTES = 30.0
SHIFT_CELLS = 1 << 20
SMOOTH_STEEPER = 1.0
SAME_BAND_SPREAD = 0.02
SHIFT_MOST = 1.0
REFERENCE_SHIFT_MOST = 1.5
REFERENCE_TRANSFER_MIN = 2000
REFERENCE_FIT_CELLS = 200_000
REFERENCE_UPSAMPLING = "cubic"
FALLBACK_UPSAMPLING = "lanczos"
UPSAMPLING_MARGIN = 0.02
FIT_TILE = 1024
FIT_BLOCK_PX = 2048
ONE_TILE_THREADS = 1
SMALL_BACKEND = ("torch", "fp32")
FORWARD_PX = 1 << 20
FILL_FIT_BYTES = 1.0e9
FILL_FIT_PX_BYTES = 8.0
FILL_READ_SHARE = 0.5
FILL_RESAMPLING = "bilinear"
WARP_BLOCK = 512
EARLIER_STEPS = 3
FILL_FIT_PIXELS = 200_000
FILL_FOLD_WORK = 160_000
FILL_BUDGET_S = 7.0
WORK_DISK_SPARE = 0.1
WORK_DISK_LOW = 256e6
PREVIEW_PX = 1024
GROUP_DENSE = 0.1
GROUP_BREAK = 4.0
GROUP_MIN_STEP = 2
NEAR_COPY = 6
SAME_PLACE = 0.5
IMAGE_CUE_MAX = 5000
FLAT_ERROR = 0.05
MIN_LEVELS = 16
DARK_10000 = 1000
STRETCH_OUTSIDE = 0.25
DEMO_PAIR_MAX_MPIX = 4
DEMO_PAIR_USE_MPIX = 1
DEMO_ADAPT_MINUTES = 0.5
DEMO_UPLOAD_MB = 40


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
