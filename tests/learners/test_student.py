"""The student (learners/student.py): the selection core serves a distilled MLP in place of a
chosen learner holding trees only when its out-of-fold MAE is within 1 % of the teacher's."""

import numpy as np
import pytest
import rasterio
import torch

from bandbridge.learners import student
from bandbridge.learners.base import TARGETS
from bandbridge.learners.constant import Constant
from bandbridge.learners.folds import gather
from bandbridge.learners.gbm import GBM
from bandbridge.learners.linear import Linear
from bandbridge.learners.select import choose, everywhere
from bandbridge.learners.student import Student
from tests.conftest import SAMPLE

DATE = sorted((SAMPLE / "nir_naip_opengeos").glob("*.tif"))[-1]  # the demo's NAIP date, in the repo


@pytest.fixture(autouse=True)
def short_fits(monkeypatch):
    monkeypatch.setattr(student, "STEPS", 800)  # a test-sized student: the rule is what is tested


def test_a_student_that_matches_its_trees_is_served():
    """Trees on the context features of a real NAIP crop, chosen (only they may be): the student
    scores within 1 % out of fold, is what the selection hands back, saves as ``kind: student``
    and runs on every backend and precision."""
    with rasterio.open(DATE) as src:
        a = torch.from_numpy(src.read(window=((0, 192), (0, 256))).astype(np.float32) / 255)
    px, _ = gather([(a[:3], a[3:], torch.ones(a.shape[1:], dtype=torch.bool))], ["one"], max_pixels=20000)
    sel = choose(px, [Constant(), Linear(), GBM(context=True)], eligible=("gbm-context",))
    st = sel.student
    assert sel.chosen == "gbm-context" and st["teacher"] == "gbm-context"
    assert st["kept"] and st["oof_mae"] <= st["teacher_oof_mae"] * 1.01, st
    assert isinstance(sel.fitted, Student) and isinstance(sel.teacher, GBM)
    assert sel.fitted.generator()["args"]["kind"] == "student" and everywhere(sel.fitted)
    m = sel.fitted.module(3, 1)
    assert m.kind == "student" and student.Student.runs_on == TARGETS


def test_a_teacher_the_student_cannot_match_is_kept():
    """A target no smooth map of the features can follow — the parity of the red DN — which trees
    learn exactly: the student's out-of-fold MAE is far above the teacher's, so the teacher is
    served, and the record says both errors and why."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (3, 90, 120), generator=g).float() / 255
    y = ((x[:1] * 255).round() % 2) * 0.5 + 0.25
    px, _ = gather([(x, y, torch.ones(x.shape[1:], dtype=torch.bool))], ["one"])
    sel = choose(px, [Constant(), Linear(), GBM(context=False)])
    st = sel.student
    assert sel.chosen == "gbm-bands" and not st["kept"], st
    assert st["oof_mae"] > st["teacher_oof_mae"] * 1.01
    assert isinstance(sel.fitted, GBM) and sel.teacher is None
    assert "1 %" in st["rule"]


def test_a_learner_that_runs_everywhere_is_not_distilled():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 40, 300, generator=g)
    px, _ = gather([(x, x[:1] * 0.5 + 0.1, torch.ones(40, 300, dtype=torch.bool))], ["one"])
    sel = choose(px, [Constant(), Linear()])
    assert sel.chosen == "linear" and sel.student == {} and sel.teacher is None
