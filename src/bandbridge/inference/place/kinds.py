"""The kinds of a fit at the place, each a registration of the contract ``place/runner.py`` states:
a fourth kind is one module a layer, one line here and one section of ``policy``."""

from __future__ import annotations

from bandbridge.inference.place.fill import KIND as FILL
from bandbridge.inference.place.reference import KIND as REFERENCE
from bandbridge.inference.place.sharpen import KIND as SHARPEN

KINDS = {"reference": REFERENCE, "fill": FILL, "sharpen": SHARPEN}
