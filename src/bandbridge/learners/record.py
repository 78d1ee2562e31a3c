"""What the selection core chose and on what, in the one form every file keeps it: a run's
``learner.json``, ``baseline.json``'s ``anchor`` and a bundle's ``model.yaml: learner`` (training
and ``adapt`` alike). Errors are in model values [0, 1], one per candidate measured (and per fixed
prediction, e.g. ``zero-shot``); ``unit`` turns them into the target's units."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from bandbridge.bands import get_scaling
from bandbridge.learners.base import family


@dataclass
class LearnerRecord:
    chosen: str  # the learner refitted (a candidate's name, or "blend"; served as its student
    # when ``student["kept"]``)
    oof_mae: dict[str, float]  # out-of-fold MAE, model values, per candidate and fixed prediction
    folds: list[str]  # what each fold held out
    rule: str  # how the choice was made, in words
    blend_of: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # candidates the time budget left out
    pixels: int = 0  # pixels the choice and the refit used
    valid_pixels: int = 0  # valid pixels given
    seconds: float = 0.0
    unit: list = field(default_factory=lambda: [1.0, "model values"])  # [target units per model unit, name]
    student: dict = field(default_factory=dict)  # a distilled student's and its teacher's out-of-fold MAE
    traded: dict = field(default_factory=dict)  # a cheaper candidate kept within the folds' noise

    @classmethod
    def of(cls, sel, rule: str, target=None) -> "LearnerRecord":
        """The record of a :class:`~bandbridge.learners.select.Selection`; ``target``: the
        target bands' selection (``BandSel``), whose scaling gives the unit."""
        return cls(sel.chosen, dict(sel.oof), list(sel.folds), rule, list(sel.blend_of),
                   list(sel.skipped), int(sel.pixels), int(sel.total), round(float(sel.seconds), 1),
                   unit_of(target), dict(sel.student), dict(sel.traded))

    @classmethod
    def read(cls, d: dict) -> "LearnerRecord":
        """A record as a file keeps it (other keys, e.g. a run's validation comparison, are
        ignored here)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_dict(self) -> dict:
        return asdict(self)

    def families(self) -> dict[str, float]:
        """Each family's best out-of-fold MAE (``ridge-context λ=…`` → ``ridge-context``), in
        candidate order (model values)."""
        out: dict[str, float] = {}
        for k, v in self.oof_mae.items():
            out[family(k)] = min(out.get(family(k), float("inf")), v)
        return out


def unit_of(target=None) -> list:
    """``[target units per model unit, their name]`` of a target selection (``BandSel``: its
    scaling's physical units), or model values themselves without one."""
    if target is None:
        return [1.0, "model values"]
    scale, _, units = get_scaling(target.scaling, target.vmin, target.vmax).physical
    return [scale, units]


def traded_line(traded: dict | None, units: str) -> list[str]:
    """The card's line on what the cost rule traded (select.cheaper_within_noise), or none."""
    if not traded:
        return []
    return [f"- Traded for speed: `{traded['kept']}` ({traded['kept_oof_mae']:.4g} {units}) is kept "
            f"over the lowest out-of-fold MAE, `{traded['best']}` ({traded['best_oof_mae']:.4g}), "
            f"{traded['kept_oof_mae'] / traded['best_oof_mae'] - 1:+.1%}: it is cheaper to serve and "
            f"within the folds' noise ({traded['rule']})."]
