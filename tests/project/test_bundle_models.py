"""scripts/bundle_models.py writes into the zoo: its card and hash edits run here on copies of
bundles (``--zoo``), and what they wrote is checked — the sections replaced and no other, the
hashes that loading checks. (Bundling trained runs and re-evaluating needs the full data and
runs; ``--tables-from`` is that step's write, fed an evaluation's table.)"""

from __future__ import annotations

import hashlib
import shutil

from bandbridge.bundle import load_bundle
from bandbridge.spec import read_meta, zoo_dir
from tests.conftest import REPO, load_file, zoo_copies

LOSO = REPO / "docs" / "loso"


def _module():
    return load_file(REPO / "scripts" / "bundle_models.py")

def copies(tmp_path, *names):
    return zoo_copies(tmp_path, *names)

def sections(card: str) -> dict[str, str]:
    """A card's ``## `` sections by heading (the title and banner under ``""``)."""
    parts = ("\n" + card).split("\n## ")
    return {"": parts[0], **{p.split("\n", 1)[0]: p for p in parts[1:]}}


def test_loso_only_puts_the_kept_records_into_the_cards_and_leaves_the_rest(tmp_path):
    bm = _module()
    names = ["rgb2thermal", "sar2optical"]
    zoo = copies(tmp_path, *names)
    # the kept records as they are: the shipped cards already hold them, nothing changes
    bm.cli(["--loso-only", str(LOSO), "--zoo", str(zoo), *names])
    for n in names:
        assert (zoo / n / "MODEL_CARD.md").read_text() == (zoo_dir() / n / "MODEL_CARD.md").read_text()
    # a record changed: its table replaces the old one; the sections after it stay
    loso = tmp_path / "loso"
    shutil.copytree(LOSO / "anchor-learner" / "rgb2thermal", loso / "anchor-learner" / "rgb2thermal")
    md = loso / "anchor-learner" / "rgb2thermal" / "loso.md"
    md.write_text(md.read_text() + "\nA line only this record has.\n")
    bm.cli(["--loso-only", str(loso), "--zoo", str(zoo), "rgb2thermal"])
    old = sections((zoo_dir() / "rgb2thermal" / "MODEL_CARD.md").read_text())
    new = sections((zoo / "rgb2thermal" / "MODEL_CARD.md").read_text())
    assert list(new) == list(old)  # the order of the sections kept, none lost or added
    heading = next(h for h in old if h.startswith("Leave-one-source-out"))
    assert "A line only this record has." in new[heading] and md.read_text().strip() in new[heading]
    assert {h: t.strip() for h, t in new.items() if h != heading} == \
        {h: t.strip() for h, t in old.items() if h != heading}
    load_bundle(zoo / "rgb2thermal")  # a card edit: the bundle loads as before


def test_tables_from_replaces_the_evaluation_table_only(tmp_path):
    bm = _module()
    zoo = copies(tmp_path, "rgb2thermal")
    card = (zoo / "rgb2thermal" / "MODEL_CARD.md").read_text()
    heading = next(h for h in sections(card) if h.startswith(bm.EVAL_HEADING[3:]))
    body = sections(card)[heading].split("\n", 1)[1].strip("\n")
    changed = body.replace("| mae | 44.01 |", "| mae | 43.99 |")
    assert changed != body
    done = tmp_path / "bundle-results" / "rgb2thermal"  # an evaluation's folder: its metrics.md
    done.mkdir(parents=True)
    (done / "metrics.md").write_text(f"# evaluation of rgb2thermal\n\n{changed}\n")
    bm.cli(["--tables-from", str(done.parent), "rgb2thermal", "--zoo", str(zoo)])
    new = (zoo / "rgb2thermal" / "MODEL_CARD.md").read_text()
    assert new == card.replace("| mae | 44.01 |", "| mae | 43.99 |")
    assert (zoo_dir() / "rgb2thermal" / "MODEL_CARD.md").read_text() == card


def test_hash_zoo_stamps_the_hashes_loading_checks(tmp_path):
    bm = _module()
    zoo = copies(tmp_path, "rgb2nir-s2", "rgb2thermal")
    meta = zoo / "rgb2nir-s2" / "model.yaml"
    before = read_meta(meta)
    meta.write_text("".join(ln for ln in meta.read_text().splitlines(keepends=True)
                            if not ln.startswith(("weights_sha256:", "generator_sha256:"))))
    assert "weights_sha256" not in read_meta(meta)
    bm.cli(["--hash-zoo", "--zoo", str(zoo)])
    after = read_meta(meta)
    digest = hashlib.sha256((zoo / "rgb2nir-s2" / "generator.safetensors").read_bytes()).hexdigest()
    assert after["weights_sha256"] == digest == before["weights_sha256"]
    assert after["generator_sha256"] == before["generator_sha256"]
    assert after == before  # nothing else in model.yaml changed
    for n in ("rgb2nir-s2", "rgb2thermal"):
        load_bundle(zoo / n)
