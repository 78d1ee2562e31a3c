"""``learner: select``: the CNN residual trained on top of the small-data learner the selection
core chooses on the run's training split — the residual is one more candidate, never the base.

Before training, the core (learners/select.py) cross-validates its candidates on the training
pixels (sources, groups or blocks of rows held out), refits the winner on every training pixel,
and the generator's ``learner`` becomes that learner's arguments (``{kind, …}`` or ``{blend: [...]}``,
boosted trees included: learners/registry.py). The residual starts at zero, so the untrained model
*is* the chosen learner, and ``model/best`` moves off it only when an epoch validates better
(workflows/groups.py: on every held-out group). A run whose best is still its start hands back the
learner alone (workflows/learner_best.py), so no unused residual network is ever run.
"""

from __future__ import annotations

import numpy as np

from bandbridge.config import Config, build_config
from bandbridge.policy import WITHIN, one_group, percent


def fit_learner_anchor(cfg: Config, train: list, budget_s: float | None,
                       blind: str | None = None, choice: tuple[str, tuple[str, ...]] | None = None
                       ) -> tuple[Config, object, dict]:
    """``(cfg with the fitted anchor's arguments, the Selection, its record)``: the core's
    choice on ``train`` (only the constant or linear map when ``blind``: validation cannot see
    other scenes), refitted on every training pixel (``Selection.fitted``); the run's last step
    weighs the same Selection against the network (workflows/learner_best.py). ``choice``: a
    parent run's choice, refitted on ``train`` with no search (a held-out fold, issue 59)."""
    from bandbridge.learners.folds import pair_pixels
    from bandbridge.learners.select import choose, given
    from bandbridge.spec import generator_halo
    px, _ = pair_pixels(train)
    sel = given(*choice, px) if choice is not None and not blind else \
        choose(px, budget_s=budget_s, allowed=one_group(bool(blind)))
    floor = None
    names = np.array([p.source.name for p in train])[px.image]
    if not blind and len(set(names.tolist())) >= 2:  # issue 49: more than the floor only if it carries
        from bandbridge.learners.baselines import floor_pixels
        from bandbridge.learners.select import against_floor
        floor = against_floor(sel, px, names, floor_pixels(train))  # evaluate's floor, same pixels
        vs = floor["versus"]
        broke = ", ".join(f"{s} {vs['by_source'][s]['ratio'] - 1:+.1%}" for s in vs["broke"])
        print(f"floor: the {floor['kind']} map; the {floor['learner']} learner "
              + (f"replaces it: no held-out source more than {percent(WITHIN)} worse" if vs["kept"] else
                 f"does not, worse held out on {broke}: the floor is the anchor"), flush=True)
    from bandbridge.learners.saved import learner_value
    learner = learner_value(sel.fitted.generator())
    d = cfg.model_dump(mode="json")
    d["model"]["generator"]["learner"] = learner
    # tiles overlap by at least the learner's context halo (the residual's own overlap is larger)
    halo = generator_halo(cfg.model.generator.name, cfg.model.generator.args, learner)
    d["inference"]["overlap"] = max(d["inference"]["overlap"], 2 * (halo + 10))
    from bandbridge.learners.record import LearnerRecord
    rule = ("the parent run's choice (its search on every source), refitted on every training "
            "pixel" if sel.rule == "given" else
            "chosen by spatial cross-validation on the training split, refitted on every "
            "training pixel" + (f" ({blind}: constant or linear only)" if blind else ""))
    if floor and not floor["versus"]["kept"]:
        rule = (f"the zero-shot floor ({floor['kind']} map): the {floor['learner']} learner the core "
                "chose did not carry to every training source held out")
    record = {"kind": "learner", **LearnerRecord.of(sel, rule, cfg.data.sources[0].target).to_dict(),
              **({"floor": floor} if floor else {})}
    print(f"anchor: the {record['chosen']} learner, {record['rule']}", flush=True)
    return build_config(d), sel, record


def learner_baseline(train: list, record: dict) -> dict:
    """The run's ``baseline.json`` for a learner anchor: the linear map on the same pixels (what
    predict and trust fall back to) and the anchor's record."""
    from bandbridge.learners.baselines import SAMPLE_PIXELS, LinearBaseline, sample_pixels
    X, Y = sample_pixels(train)
    return {"linear": LinearBaseline().fit(X, Y).coef.tolist(),
            "fitted_on": f"train split of {sorted({p.source.name for p in train})} ({len(train)} "
                         f"images); the linear map by least squares on up to {SAMPLE_PIXELS} "
                         "valid pixels balanced by source",
            "anchor": record}
