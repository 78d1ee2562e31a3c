"""s2super's side of ``benchmarks/s2super_baseline.py``: run in s2super's own environment (never bandbridge's),
it imports numpy and s2super alone (and buteo, s2super's own dependency, for the bilinear resampling s2super
does itself when it reads a .SAFE). Every ``*.in.npz`` under ``--cases`` (written by the baseline) becomes a
``*.out.npz`` beside it:

- in: ``guides (G, H, W)`` and ``guide_names``, ``reference (T, h, w)`` and ``target_names``, in reflectance;
- s2super is given what its code asks for (``super_sample.py``): channel-last ``(H, W, C)`` in L2A DN (reflectance
  × 10000; it divides by 10000 itself), the 10 m bands as they are and each coarse band resampled onto their grid
  by GDAL's bilinear through buteo, as its .SAFE reader does (``beo.resample_array(..., "bilinear")``), with
  ``indices`` naming each channel; called as its README's quickstart does: ``method="fast", fit_data=False``;
- out: ``output (T, H, W)`` (its uint16 DN ÷ 10000), ``bilinear (T, H, W)`` (its input, the same scaling), and the
  wall and CPU seconds of the call; or ``error`` where it raised.

One model load for all cases; TensorFlow on one intra-op and one inter-op thread (a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

DN = 10000.0  # s2super's scaling: it divides its input by this and multiplies its output by it (L2A DN)


def s2super_input(guides: np.ndarray, reference: np.ndarray, resample) -> np.ndarray:
    """``(H, W, G + T)`` float32 DN: the guides, then each reference band resampled onto their grid."""
    h, w = guides.shape[1:]
    up = [np.asarray(resample(b[:, :, None].astype(np.float32), (h, w), resample_alg="bilinear"),
                     np.float32).reshape(h, w) for b in reference]
    return np.concatenate([guides.transpose(1, 2, 0), np.stack(up, axis=2)], axis=2).astype(np.float32) * DN


def run_one(path: Path, model, super_sample, resample) -> dict:
    """One case: s2super's output and its input, the call's wall and CPU seconds."""
    z = np.load(path)
    guide_names, target_names = [str(n) for n in z["guide_names"]], [str(n) for n in z["target_names"]]
    data = s2super_input(z["guides"], z["reference"], resample)
    indices = {n: i for i, n in enumerate(guide_names + target_names)}
    t0, c0 = time.perf_counter(), time.process_time()
    out = super_sample(data, method="fast", fit_data=False, indices=indices, preloaded_model=model, verbose=False)
    secs = {"wall_s": round(time.perf_counter() - t0, 2), "cpu_s": round(time.process_time() - c0, 2)}
    wrapped = int((out[:, :, len(guide_names):] > 60000).sum())  # a negative prediction cast to uint16 wraps
    np.savez(path.with_name(path.name.replace(".in.npz", ".out.npz")),
             output=out[:, :, len(guide_names):].transpose(2, 0, 1).astype(np.float32) / DN,
             bilinear=data[:, :, len(guide_names):].transpose(2, 0, 1) / DN,
             info=json.dumps(secs | {"wrapped_pixels": wrapped}))
    return secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", required=True, help="a folder of *.in.npz")
    a = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import buteo as beo
    import s2super
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    t0, c0 = time.perf_counter(), time.process_time()
    model = s2super.get_s2super_model()
    versions = {"s2super": _version("s2super"), "tensorflow": tf.__version__, "buteo": _version("buteo"),
                "numpy": np.__version__, "python": sys.version.split()[0],
                "model_load_wall_s": round(time.perf_counter() - t0, 2),
                "model_load_cpu_s": round(time.process_time() - c0, 2)}
    for path in sorted(Path(a.cases).glob("*.in.npz")):
        try:
            secs = run_one(path, model, s2super.super_sample, beo.resample_array)
            print(f"{path.name}: {secs}", flush=True)
        except Exception as e:  # the case's error goes back; the others go on
            np.savez(path.with_name(path.name.replace(".in.npz", ".out.npz")),
                     error=f"{type(e).__name__}: {e}".splitlines()[0])
            print(f"{path.name}: failed ({type(e).__name__}: {e})", flush=True)
    (Path(a.cases) / "versions.json").write_text(json.dumps(versions))


def _version(name: str) -> str:
    from importlib.metadata import version
    return version(name)


if __name__ == "__main__":
    main()
