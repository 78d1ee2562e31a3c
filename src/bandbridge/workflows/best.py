"""The end of a training run as one step: what ``model/best`` is.

A run records up to two comparisons: ``learner.json`` — the selection core's learner against the
network on validation (workflows/learner_best.py) — and ``held_out.json`` — the network trained
without each source against the zero-shot floor on it (workflows/held_out.py). :func:`decide`
reads what they kept: the network, its anchor alone, the learner, or the floor; :func:`place`
makes ``model/best`` that; :func:`write_card` is the one writer of the card that says so. An
interrupted run ends the same way with what it has: the comparisons it can make at once, and the
floor where a rule it could not run (the held-out trainings) would have had to clear the network.

This module is the one place bundles move (:func:`place`, :func:`replace`, :func:`put_floor`,
:func:`copy_without_floor`).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, TypeVar

from bandbridge.bundle import tie_floor, untie_floor
from bandbridge.config import Config, build_config
from bandbridge.fileio import atomic_write_bytes
from bandbridge.spec import BUNDLE_META, FLOOR_DIR, generator_halo, read_meta

KEPT = ("network", "anchor", "learner", "floor")  # what model/best may be, in the order replaced
LAST_CKPT = Path("checkpoints") / "last.ckpt"  # in a run folder: what --resume continues from
LEARNER_TILE = 1024  # px: the tile a learner bundle predicts on
T = TypeVar("T")


def folders(run_dir: Path) -> tuple[Path, Path]:
    """``(model/best, model/network)`` of a run."""
    return Path(run_dir) / "model" / "best", Path(run_dir) / "model" / "network"


def has_network(best: Path) -> bool:
    """Whether the bundle in ``best`` is (or holds) a network, not a per-pixel learner alone."""
    from bandbridge.generators import LEARNERS
    return (best / BUNDLE_META).exists() and \
        read_meta(best / BUNDLE_META)["config"]["model"]["generator"]["name"] not in LEARNERS


def decide(learner: dict | None, held: dict | None) -> str:
    """What ``model/best`` is (one of :data:`KEPT`) from the run's records: the floor when the
    network did not clear the held-out rule, else what the learner comparison kept, else the
    network."""
    if held is not None and held.get("kept") == "floor":
        return "floor"
    if learner is not None:
        return learner["kept"]
    return "network"


def restore_network(run_dir: Path) -> bool:
    """A resumed run whose ``model/best`` is still the stand-in an earlier end put there (a
    learner, the anchor alone, the floor) while no epoch of its own beat it: the network, kept in
    ``model/network``, goes back into ``model/best`` before the run is weighed again. Returns
    whether it did."""
    best, network = folders(run_dir)
    if not (network / BUNDLE_META).exists() or has_network(best):
        return False
    _copy(network, best)
    return True


def place(run_dir: Path, kept: str, stand_in: Callable[[Path], None] | None = None,
          fallback: Callable[[Path], None] | None = None) -> None:
    """Make ``model/best`` what :func:`decide` said: ``stand_in(best)`` writes the learner or the
    anchor alone in the network's place (the network copied to ``model/network`` first);
    ``fallback(best)`` gives ``model/best`` its floor (``model/best/floor``); ``floor``: the floor
    becomes ``model/best`` and the network, without it, ``model/network``. A ``model/network``
    left by an earlier end of a resumed run is replaced (``network``: removed)."""
    if kept not in KEPT:
        raise ValueError(f"model/best cannot be {kept!r} (one of {', '.join(KEPT)})")
    best, network = folders(run_dir)
    if kept == "network" and network.exists():
        shutil.rmtree(network)  # this tool's own, from an earlier end: the network is model/best
    if kept in ("learner", "anchor") and stand_in is not None:
        _copy(best, network)
        stand_in(best)
    if fallback is not None and best.exists():
        fallback(best)
    if kept == "floor" and (best / FLOOR_DIR / BUNDLE_META).exists():
        if network.exists():
            shutil.rmtree(network)
        best.rename(network)
        (network / FLOOR_DIR).rename(best)
        untie_floor(network)  # its floor is model/best now: model/network holds none


def replace(dest: Path, write: Callable[[Path], T]) -> T:
    """``dest`` ← the folder ``write(tmp)`` makes at ``tmp``, a temporary path beside ``dest``,
    renamed into place once whole (an older ``dest`` removed first): never half-written, and
    nothing left behind when ``write`` fails. Returns what ``write`` returns."""
    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        made = write(tmp)
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
        return made
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _copy(src: Path, dest: Path) -> None:
    """``dest`` ← a copy of ``src`` (:func:`replace`)."""
    replace(dest, lambda tmp: shutil.copytree(src, tmp))


def put_floor(folder: str | Path, write: Callable[[Path], None]) -> None:
    """``folder/floor`` ← the floor bundle ``write(tmp)`` makes (:func:`replace`: this tool's own
    floor replaced whole), then tied to ``folder`` (its hash in the parent's ``model.yaml``)."""
    replace(Path(folder) / FLOOR_DIR, write)
    tie_floor(folder)


def copy_without_floor(folder: str | Path, dest: str | Path) -> None:
    """``dest`` ← the bundle in ``folder`` without its ``floor/``, and untied from it."""
    shutil.copytree(folder, dest, ignore=lambda d, names: [FLOOR_DIR] if Path(d) == Path(folder) else [])
    untie_floor(dest)


def learner_config(cfg: Config, generator: dict) -> Config:
    """``cfg`` with the learner ``generator`` (``{"name", "args"}``: ``Learner.generator()``)
    as its generator and tiles overlapping by its context halo."""
    d = cfg.model_dump(mode="json")
    d["model"]["generator"] = generator
    halo = generator_halo(generator["name"], generator["args"])
    # a per-pixel learner is exact once tiles overlap by its context halo on each side; smaller
    # tiles than a network's: the features of a whole 2048² tile cost 2.4 GB at its peak
    # (benchmarks/learner_kinds.py), 1024² tiles 0.75 GB at the same speed
    d["inference"]["overlap"] = 2 * (halo + 10)
    d["inference"]["tile"] = min(d["inference"]["tile"], LEARNER_TILE)
    return build_config(d)


def how_to_finish(run_dir: Path) -> str:
    """What finishes an interrupted run: ``--resume`` from its last checkpoint or, when the stop
    came before the first one (each epoch's end writes it), a new run: nothing can be resumed."""
    if (Path(run_dir) / LAST_CKPT).exists():
        return f"`bandbridge train --resume {run_dir}` continues the run and ends it in full"
    return ("no checkpoint was written before the stop (each epoch's end writes one): there is "
            "nothing to resume; `bandbridge train` again starts the run over")


WHAT = {"network": "the trained network", "anchor": "the network's anchor alone (no epoch beat it on "
        "validation)", "learner": "the {chosen} learner", "floor": "the zero-shot floor"}


def write_card(run_dir: Path, kept: str, sections: list[list[str]], interrupted: str | None = None,
               validation: str | None = None) -> None:
    """``model/best``'s card, written whole in one place: what it is, why (``sections``: the
    learner comparison's and the held-out rule's lines, each a list), the run's validation line,
    and for an interrupted run what its end did not do and how to finish it."""
    best, _ = folders(run_dir)
    if not (best / BUNDLE_META).exists():
        return
    chosen = (read_meta(best / BUNDLE_META).get("learner") or {}).get("chosen", "chosen")
    lines = ["# model/best", "", f"Kept: **{WHAT[kept].format(chosen=chosen)}**."]
    if interrupted:
        how = how_to_finish(run_dir)
        lines += ["", f"The run was interrupted ({interrupted}). {how[0].upper()}{how[1:]}."]
    if validation:
        lines += ["", f"The run: {validation}."]
    for s in sections:
        lines += ["", *s]
    atomic_write_bytes(best / "MODEL_CARD.md", ("\n".join(lines) + "\n").encode())
