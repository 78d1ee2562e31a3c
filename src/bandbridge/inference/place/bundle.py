"""The one bundle builder of a fit at the place: a fitted module saved as a model bundle that the
engine serves like any model (``bundle.save_bundle``: safetensors and ``model.yaml``, loaded without
unpickling), with one source read as the kind's stacked input, its target bands, the generator the
module is, the engine's tile and overlap, and the fit's own record in ``model.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bandbridge.inference.place.engine import OVERLAP
from bandbridge.policy import FIT_TILE


def save(folder: Path, module, name: str, inputs: dict, target: dict, generator: dict, record: tuple[str, dict]):
    """``module`` saved in ``folder`` as the bundle ``name``; its spec. ``inputs``/``target``: the source's
    ``input`` and ``target`` blocks (``bands``, ``scaling``, ``vmin``/``vmax``, ``band_names``);
    ``generator``: ``model.generator`` (``name``, ``args``, ``learner``); ``record``: the key and value
    the fit's record takes in ``model.yaml`` (``reference_fit``, ``fill_fit``…)."""
    from bandbridge.bundle import save_bundle
    from bandbridge.config import build_config
    from bandbridge.spec import read_spec
    src = {"name": "scene", "layout": "multiband", "files": ["scene.tif"], "input": inputs, "target": target}
    conf = build_config({"name": name, "data": {"root": ".", "sources": [src]}, "model": {"generator": generator},
                         "inference": {"tile": FIT_TILE, "overlap": OVERLAP}})
    save_bundle(folder, module.eval(), conf, len(inputs["bands"]), len(target["bands"]), epoch=-1,
                **{record[0]: record[1]})
    return read_spec(folder)


@dataclass
class Part:
    """A fitted module and its bundle's blocks, as :func:`save` takes them: saved alone, or joined with others
    that read the same work file (:func:`save_joined`)."""

    module: object
    name: str
    inputs: dict
    target: dict
    generator: dict
    record: tuple[str, dict]

    def save(self, folder: Path):
        return save(folder, self.module, self.name, self.inputs, self.target, self.generator, self.record)


def save_joined(folder: Path, parts: list[Part]):
    """``parts`` as one bundle (``models/joined.Joined``: one engine pass, one read of each tile of the work file
    for all of them): the widest part's input, every part's targets in turn (each named by its part), each part's
    generator block and record; its spec."""
    from bandbridge.learners.saved import JOINED
    from bandbridge.models.joined import Joined
    widest = max(parts, key=lambda p: len(p.inputs["bands"]))
    sizes = [len(p.inputs["bands"]) for p in parts]
    target = {**parts[0].target, "bands": [f"{b} ({p.name})" for p in parts for b in p.target["bands"]]}
    blocks = [{**p.generator, "inputs": n, "outputs": len(p.target["bands"])} for p, n in zip(parts, sizes)]
    record = ("joined", {p.record[0]: p.record[1] for p in parts})
    return save(folder, Joined([p.module for p in parts], sizes), JOINED, widest.inputs, target,
                {"name": JOINED, "args": {"parts": blocks}}, record)
