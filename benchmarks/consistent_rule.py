"""Set the consistent route's rule on one half of the floor's sources and report it on the other (issue 84):
which octaves `predict --reference` checks the model's output made consistent at, and by what margin it must
beat the best upsampling there (`policy.CONSISTENT_MARGIN`).

    OMP_NUM_THREADS=1 nice python benchmarks/consistent_rule.py --data ../shared/data --json docs/results/consistent_rule.json

Every image of every source a bundled model takes (`evaluation/floor_cases.py`), at k = 4, 10 and 40, is run
through `predict --reference` **forced onto the consistent route** (no fit is tried, and the route's check is
recorded, then passed), so that its output can be scored at the output's scale against the checks that
would have decided it: the route's MAE over the best upsampling's at 2, 4, 8, … cells a side
(`guided.consistent_check`). A rule takes the route on an image where its checks pass, else the image is
scored as the best upsampling (1.0: what the route falls back to, near enough). Per half and rule: how many
images take the route, how many of those lose over `LIMIT` (1.01×) to the best upsampling in MAE or RMSE,
and the mean log MAE ratio over every image. The rule is chosen on a half by the fewest losses, then the
lowest mean; the other half reports it. Then the halves swap.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

from bandbridge.data.grids import block_mean, upsample_onto
from bandbridge.evaluation import floor_run
from bandbridge.evaluation.floor_cases import HALVES, LIMIT, all_cases
from bandbridge.evaluation.sharpen_record import code_state, save

MARGINS = (0.0, 0.05, 0.1, 0.15, 0.2)
FORMS = ("at 2 alone", "every octave")  # the rule before issue 84's re-run; the rule after it


def forced(c, k: int, work: Path) -> dict | None:
    """One image at ``k`` forced onto the consistent route: its gains at each octave and its MAE and RMSE over
    the best upsampling's at the output's scale (None: the command failed)."""
    from bandbridge.learners import guided
    seen: dict = {}
    original, can_fit = guided.consistent_octaves, guided.can_fit

    def record(z, r, ok, grid, k_):  # every octave's check once (not again by the rule), and the route taken
        checks = [guided.consistent_check(z, r, ok, grid, f) for f in guided.octave_factors(k_)]
        gains = [e / b if b > 0 else float("nan") for e, b in checks]
        seen["gains"] = {str(int(f)): g if np.isfinite(g) else None for f, g in zip(guided.octave_factors(k_), gains)}
        octaves = {"one_step_down": gains[0], "octave_coarser": gains[1] if len(gains) > 1 else float("nan"),
                   "output_scale": 0.0}  # taken, whatever its checks said
        return octaves, *checks[0]
    guided.consistent_octaves, guided.can_fit = record, (lambda n, k_: False)
    try:
        got = floor_run.run_methods(c, k, work).get("reference")
    finally:
        guided.consistent_octaves, guided.can_fit = original, can_fit
    if not isinstance(got, tuple) or "gains" not in seen:
        return None
    fine = c.grid
    ref, t = block_mean(c.truth, k)[0], c.truth[0].astype(np.float64)
    ups = [upsample_onto(ref, fine.coarser(k), fine, m)[0] for m in floor_run.UPSAMPLERS]
    mae, rmse = (lambda p: float(np.abs(p - t).mean())), (lambda p: float(np.sqrt(((p - t) ** 2).mean())))
    return {"source": c.source, "image": c.name, "k": k, "gains": seen["gains"],
            "mae_vs_best": mae(got[0]) / min(map(mae, ups)), "rmse_vs_best": rmse(got[0]) / min(map(rmse, ups))}


def takes(row: dict, form: str, margin: float) -> bool:
    """Whether ``form`` at ``margin`` takes the route on ``row``: its check at 2 alone, or every octave checked
    (the first two needed; one past them with too few cells skipped), each under ``1 − margin``."""
    gains = list(row["gains"].values())
    need = gains[:1] if form == FORMS[0] else gains[:2]
    rest = [] if form == FORMS[0] else [g for g in gains[2:] if g is not None]
    return all(g is not None and g < 1 - margin for g in need + rest)


def score(rows: list[dict], form: str, margin: float) -> dict:
    taken = [r for r in rows if takes(r, form, margin)]
    lost = [r for r in taken if max(r["mae_vs_best"], r["rmse_vs_best"]) > LIMIT]
    return {"images": len(rows), "taken": len(taken), "lost": len(lost),
            "mean_log_mae": round(sum(math.log(r["mae_vs_best"]) for r in taken) / max(len(rows), 1), 5)}


def settle(rows: list[dict]) -> dict:
    """Per half: every rule scored; the one set there (fewest losses, then lowest mean) reported on the other."""
    halves = {h: [r for r in rows if r["source"] in s] for h, s in HALVES.items()}
    out = {}
    for h, other in (("A", "B"), ("B", "A")):
        tried = {f"{form}, margin {m:g}": (form, m, score(halves[h], form, m)) for form in FORMS for m in MARGINS}
        best = min(tried, key=lambda n: (tried[n][2]["lost"], tried[n][2]["mean_log_mae"]))
        form, m, _ = tried[best]
        out[f"set on {h}"] = {"rule": best, "tried": {n: t[2] for n, t in tried.items()},
                              f"reported on {other}": score(halves[other], form, m),
                              f"the rule before, on {other}": score(halves[other], FORMS[0], 0.0)}
        print(f"set on {h}: {best} ({tried[best][2]}); on {other}: {score(halves[other], form, m)} "
              f"(the rule before: {score(halves[other], FORMS[0], 0.0)})")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data", help="the development data folder")
    ap.add_argument("--json", default="docs/results/consistent_rule.json", help="where the record goes")
    a = ap.parse_args()
    if not Path(a.data, "nir_naip_opengeos").is_dir():
        sys.exit(f"--data {a.data}: no nir_naip_opengeos under it; give the development data folder")
    rows = []
    with tempfile.TemporaryDirectory(prefix="consistent_rule_") as work:
        for c in all_cases(a.data):
            for k in c.factors if c.model else ():
                row = forced(c.cut(k), k, Path(work))
                if row:
                    rows.append(row)
                    print(f"{c.source} {c.name} ×{k}: {row['mae_vs_best']:.3f} MAE, gains {row['gains']}", flush=True)
    record = {"command": "OMP_NUM_THREADS=1 nice python " + " ".join(["benchmarks/consistent_rule.py", *sys.argv[1:]]),
              "code": code_state(), "halves": {h: list(s) for h, s in HALVES.items()}, "limit": LIMIT,
              "margins": list(MARGINS), "forms": list(FORMS), "rules": settle(rows), "rows": rows}
    print(f"written {save(record, a.json)}")


if __name__ == "__main__":
    main()
