"""``student``: a per-pixel MLP on ``φ`` fitted to a teacher's predictions — model compression
(Buciluǎ, Caruana & Niculescu-Mizil 2006; Hinton et al. 2015's distillation with a regression
target). A teacher whose graph cannot run on every backend (trees, or a blend holding them) is
served as its student: one graph of 1×1 convolutions on the context features, which torch,
onnxruntime, OpenVINO (bf16 and int8 too, where the precision gate passes them) and QGIS run.

The teacher labels any pixel for free, so the student learns from every pixel it is given, not
only the sample the teacher was fitted on. Flips and crops would add nothing: ``φ`` is symmetric
under flips (box filters, products), so a flipped pixel has the same features and the same
teacher label. Whether the student may replace its teacher is the selection core's decision
(``select.distil``: its out-of-fold MAE within ``policy.STUDENT_WITHIN`` of the teacher's); its saved form is
the MLP's (``kind: student``), and loading it never needs the teacher.
"""

from __future__ import annotations

import numpy as np

from bandbridge.learners.base import Learner
from bandbridge.learners.mlp import MLP

STEPS, BATCH = 3000, 4096  # longer than a plain MLP's fit: the teacher's labels are noiseless
HIDDEN = 16  # units a layer: half the context MLP's, whose first layer is most of the graph's cost
DISTIL_PIXELS = 400_000  # pixels a student learns from (a uniform sample of those given)


class Student(MLP):
    kind = "student"

    def __init__(self, teacher: Learner | None = None, hidden: int = HIDDEN, steps: int | None = None,
                 batch: int = BATCH, seed: int = 0):
        super().__init__(context=True, hidden=hidden, steps=steps or STEPS, batch=batch, seed=seed)
        self.teacher = teacher
        if teacher is not None:  # it learns on the teacher's features (a blend's: its context parts')
            ctx = [p for p in getattr(teacher, "parts", None) or [teacher] if p.context] or [teacher]
            self.windows, self.products = tuple(ctx[0].windows), bool(ctx[0].products)

    @property
    def name(self) -> str:
        return "student" if self.teacher is None else f"student of {self.teacher.name}"

    @classmethod
    def candidates(cls) -> list:
        return []  # not a candidate: the selection core distils a winner that cannot run everywhere

    def fit(self, X: np.ndarray, Y: np.ndarray, bands: int) -> "Student":
        """Fit the teacher on ``(X, Y)``, then the student to the teacher's predictions on ``X``
        (without a teacher: an MLP fitted to ``Y``, as a saved student's contract test does)."""
        if self.teacher is None:
            return super().fit(X, Y, bands)
        return self.distil(self.teacher.clone().fit(X, Y, bands), X, bands)

    def distil(self, teacher: Learner, X: np.ndarray, bands: int, seed: int = 0) -> "Student":
        """Fit the student to a fitted ``teacher``'s predictions on the pixels ``X (N, F)`` (a
        uniform sample of :data:`DISTIL_PIXELS` when there are more)."""
        if len(X) > DISTIL_PIXELS:
            X = X[np.random.default_rng(seed).choice(len(X), DISTIL_PIXELS, replace=False)]
        return super().fit(X, teacher.predict(X, bands), bands)

    @classmethod
    def of(cls, teacher: Learner, X: np.ndarray, bands: int) -> "Student":
        """The student of a fitted ``teacher``, distilled on the pixels ``X``."""
        return cls(teacher).distil(teacher, X, bands)
