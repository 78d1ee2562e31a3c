"""Which backend runs a job (:func:`make_backend`): a named one as asked, or with ``--backend
auto`` / ``--precision auto`` the fastest candidate that passes the precision gate.

Each available candidate (:func:`candidates`) is run on the bundle's check sample (judged by
``gate.judge`` against the reference's output) and timed on one small tile; the fastest accepted
wins, within ``PROBE_BUDGET`` seconds (:func:`probe`). A candidate the budget could not pay for is
named as not measured, never beaten. The decision and every candidate's figures are cached per
model and machine (``cache.py``), so the probe runs once; a missing backend is skipped with its
reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from bandbridge import policy
from bandbridge.errors import BandbridgeError
from bandbridge.inference.runtime.backends import Backend, Chosen, build_backend, check_choice, openvino_bf16
from bandbridge.inference.runtime.cache import cache_dir, machine_key, model_key, read_json, record_path, write_json
from bandbridge.inference.runtime.gate import judge, load_check_sample, verify
from bandbridge.machine import cpu_flags, cpu_has_bf16, machine_load
from bandbridge.policy import BUSY
from bandbridge.spec import ModelSpec

PROBE_TILE = 384  # input pixels a side: the probe times a small tile, not the job's
PROBE_BUDGET = 15.0  # seconds for the whole probe; a candidate that would end past it is skipped


def candidates(spec: ModelSpec, backend: str = "auto", precision: str = "auto") -> list[tuple[str, str]]:
    """(backend, precision) pairs worth measuring here, the reference first, then by what this
    CPU's instructions promise (:func:`promise`), so a probe cut short by its budget has measured
    the likely winners."""
    out = [("torch", "fp32"), ("openvino", "fp32")] + ([("openvino", "bf16")] if openvino_bf16() else []) + \
        [("openvino", "int8"), ("onnx", "int8"), ("onnx", "fp32")] + ([("torch", "bf16")] if cpu_has_bf16() else [])
    if not (spec.folder / "generator.safetensors").exists():  # an ONNX export: onnx fp32 is the reference
        out = [("onnx", "fp32")] + [c for c in out if c[0] != "torch" and c != ("onnx", "fp32")]
    if spec.runs_on:  # a learner kind whose graph runs on some backends and precisions only
        why = spec.refusal(backend if backend != "auto" else "torch",
                           precision if precision != "auto" else "fp32")
        if why:
            raise BandbridgeError(f"--backend {backend} --precision {precision}: {why}; use one "
                                  "of those (or --backend auto)")
        out = [c for c in out if not spec.refusal(*c)]
    out = [c for c in out if backend in ("auto", c[0]) and precision in ("auto", c[1])]
    if not out:
        raise BandbridgeError(f"--backend {backend} --precision {precision}: not available for "
                              f"{spec.name} on this machine; use --precision fp32")
    return rank(out)


def reference_pair(spec: ModelSpec) -> tuple[str, str]:
    """What the gate compares against: torch fp32, or onnx fp32 for an ONNX export folder."""
    return ("torch", "fp32") if (spec.folder / "generator.safetensors").exists() else ("onnx", "fp32")


def promise(cand: tuple[str, str], flags: set[str]) -> int:
    """Rank (lower first) of a candidate by what the CPU computes natively: bf16 where it has
    AVX-512 BF16 or AMX, int8 where it has VNNI, graph runtimes before eager torch."""
    backend, precision = cand
    if precision == "bf16":
        return 0 if flags & {"avx512_bf16", "amx_bf16"} else 5
    if precision == "int8":
        return 1 if flags & {"avx512_vnni", "avx_vnni", "amx_int8"} else 3
    return 2 if backend != "torch" else 4


PRIOR = (0.9, 0.8, 0.6, 0.4, 0.2, 0.1)  # a candidate's guessed speed relative to the winner, by promise


def ranking_path(threads: int | None = None) -> Path:
    """The machine kind's record: each candidate's speed relative to the winner of the last probe
    that measured it here (any model), ``{"openvino bf16": 1.0, "torch fp32": 0.07, …}``."""
    return cache_dir() / "ranking" / f"{machine_key(threads)}.json"


def rank(cands: list[tuple[str, str]], threads: int | None = None) -> list[tuple[str, str]]:
    """``cands``, likely winners first: by the speed this machine kind recorded for each
    (:func:`ranking_path`), else by the prior its instructions promise (:data:`PRIOR`)."""
    seen, flags = read_json(ranking_path(threads)) or {}, cpu_flags()[1]

    def guess(c: tuple[str, str]) -> float:
        v = seen.get(f"{c[0]} {c[1]}") if isinstance(seen, dict) else None
        return float(v) if isinstance(v, (int, float)) else PRIOR[promise(c, flags)]
    return sorted(cands, key=lambda c: -guess(c))


def remember_ranking(rows: list[dict], threads: int | None) -> None:
    """Record the measured rows' speeds, relative to the fastest accepted, for :func:`rank`."""
    timed = [r for r in rows if "mpix_s" in r]
    best = max((r["mpix_s"] for r in timed if r["status"] == "accepted"), default=0.0)
    if best <= 0:
        return
    # a refusal is the model's, not the machine's: not recorded
    seen = (read_json(ranking_path(threads)) or {}) | {
        f"{r['backend']} {r['precision']}": round(r["mpix_s"] / best, 3) for r in timed if r["status"] == "accepted"}
    write_json(ranking_path(threads), seen)


def _time_once(be: Backend, x: np.ndarray) -> float:
    """Seconds of one forward of ``be`` on ``x`` (the probe times candidates round by round)."""
    t0 = time.perf_counter()
    be(x)
    return time.perf_counter() - t0


def probe_tile(spec: ModelSpec) -> int:
    """The probe's largest tile side: PROBE_TILE on the generator's stride lattice, at most the model's tile."""
    m = spec.size_multiple
    return -(-min(PROBE_TILE, spec.config.inference.tile) // m) * m


MIN_PROBE_TILE = 128  # below this a forward is mostly per-call overhead and ranks backends falsely
FORWARDS = 1 + 3  # forwards a candidate costs at least: the warm-up and PROBE_ROUNDS[0] rounds


def sized_tile(spec: ModelSpec, seconds_per_pixel: float | None, n: int, budget: float) -> int:
    """The probe's tile side: the largest (at most :func:`probe_tile`, at least MIN_PROBE_TILE, on
    the stride lattice) whose ``FORWARDS`` forwards for each of ``n`` candidates fit in half the
    budget at the reference's measured speed (``seconds_per_pixel``, on the check sample; the
    reference, eager fp32, is the slowest candidate as a rule). On a busy machine the reference
    slows down and the tile shrinks, so the budget still measures every candidate."""
    top, m = probe_tile(spec), spec.size_multiple
    if not seconds_per_pixel or seconds_per_pixel <= 0:
        return top
    side = int((budget / 2 / (FORWARDS * max(n, 1) * seconds_per_pixel)) ** 0.5) // m * m
    return max(min(top, side), min(top, -(-MIN_PROBE_TILE // m) * m))


def estimate_seconds(spec: ModelSpec, cands: list[tuple[str, str]]) -> float:
    """A rough duration of the probe for its announcement (measured here: ~2.5 s for the first
    ONNX export, ~1 s for the int8 graph, ~1.5 s a candidate), never above the budget."""
    graphs = cache_dir() / "onnx" / model_key(spec.folder)
    est = 1.5 * len(cands)
    if any(b != "torch" for b, _ in cands) and not (graphs / "model.onnx").exists():
        est += 2.5
    if any(p == "int8" for _, p in cands) and not (graphs / "model-int8.onnx").exists():
        est += 1.0
    return min(est, PROBE_BUDGET)


def probe(spec: ModelSpec, cands: list[tuple[str, str]], threads: int | None = None,
          forced: bool = False, budget: float = PROBE_BUDGET) -> dict:
    """Measure the candidates ``cands`` (likely winners first, :func:`rank`): the gate's verdict on
    the check sample against the reference (:func:`_reference_run`, run first; :func:`_verdict`),
    then the speed of those it accepts on one tile (:func:`sized_tile`), timed interleaved — one
    forward of each per round (A B C A B C …), ranked by their medians — so a burst of load hits
    every candidate alike. A candidate is built while its build (the dearest so far) and the least
    rounds (``PROBE_ROUNDS[0]``) of everything built, at the reference's speed, still fit in
    ``budget`` seconds; one that does not is skipped and named as not measured (the first always
    runs, and so does the reference, built already). Returns the record that is cached (:func:`_record`)."""
    t_start = time.perf_counter()
    load = machine_load()
    sample = load_check_sample(spec.folder)
    ref_pair, ref_be, ref, spp = _reference_run(spec, sample, threads)
    t = sized_tile(spec, spp, len(cands), budget)
    x = np.random.default_rng(0).random((1, spec.in_channels, t, t), dtype=np.float32)
    rows, built, warm = [], [], []
    cost = 1.0  # seconds the dearest candidate so far took to build, check and warm up
    for backend, precision in cands:
        row = {"backend": backend, "precision": precision}
        t_cand = time.perf_counter()
        ready = (backend, precision) == ref_pair and ref_be is not None  # built and checked: timed
        # the least rounds of what is built and of this one, each forward as dear as the reference's
        # (measured on the check sample; warm-ups pay one-off costs such as OpenVINO's first compile)
        per = spp * t * t if spp else max(warm, default=0.0)
        reserve = PROBE_ROUNDS[0] * per * (len(built) + 1)
        if built and not ready and t_cand - t_start + cost + reserve > budget:
            rows.append(row | {"status": "skipped", "why": f"not measured: the probe's {budget:.0f} s "
                               "budget was spent (`bandbridge bench` measures every candidate)"})
            continue
        try:
            be = ref_be if ready else build_backend(spec, backend, precision, threads)
            out = None if sample is None else ref if be is ref_be else be(sample.x, sample.context)[0]
        except BandbridgeError as e:  # not installed, or no kernel for this graph at this precision
            rows.append(row | {"status": "unavailable", "why": str(e)})
            continue
        ref = out if ref is None else ref  # no reference could be built: the first available candidate is it
        row |= _verdict(spec, sample, ref, out, precision, forced)
        rows.append(row)
        if row["status"] != "refused":  # a refused one cannot be chosen: its time goes to the others
            seconds = _time_once(be, x)  # warm-up: first-call costs are not speed
            if be is not ref_be:
                warm.append(seconds)
            built.append((row, be))
        cost = max(cost, time.perf_counter() - t_cand)
    times = interleaved(built, x, budget - (time.perf_counter() - t_start))
    for row, _ in built:
        med, q1, q3 = (float(v) for v in np.percentile(times[id(row)], (50, 25, 75)))
        row |= {"mpix_s": x.shape[0] * t * t / 1e6 / med, "spread": round((q3 - q1) / med, 3),
                "rounds": len(times[id(row)])}
    return _record(spec, rows, t, threads, t_start, load, sample)


def _reference_run(spec: ModelSpec, sample, threads: int | None) -> tuple:
    """``(pair, backend, answer, seconds per pixel)``: the reference built and run on the check
    sample, timed on its second call (the first pays one-off costs); where it is not installed,
    no pair: the first candidate that runs is the reference. No sample: nothing run."""
    if sample is None:
        return reference_pair(spec), None, None, None
    try:
        ref_be = build_backend(spec, *reference_pair(spec), threads)
    except BandbridgeError:
        return None, None, None, None
    ref = ref_be(sample.x, sample.context)[0]
    t0 = time.perf_counter()
    ref_be(sample.x, sample.context)
    return reference_pair(spec), ref_be, ref, (time.perf_counter() - t0) / sample.x[0, 0].size


def _verdict(spec: ModelSpec, sample, ref, out, precision: str, forced: bool) -> dict:
    """The gate's word on a candidate's answer ``out`` against the reference's ``ref`` on the check
    sample (with none: fp32 only); ``forced``: the precision the user named is used whatever it says."""
    if sample is None:
        ok = precision == "fp32" or forced
        return {"status": "accepted" if ok else "refused",
                "why": "no check sample in the bundle: fp32 only" if not ok else "fp32, no check sample"}
    v = judge(ref, out, sample, spec)
    return ({"reference": True} if out is ref else {}) | {
        "status": "accepted" if v.ok or forced else "refused",
        "why": v.why + ("" if v.ok or not forced else " (used: --precision forces it)"),
        "metrics": v.metrics, "mean_abs_diff": v.mean_abs_diff}


def _record(spec: ModelSpec, rows: list[dict], t: int, threads, t_start: float, load: float, sample) -> dict:
    """The probe's record from its ``rows``: the fastest accepted, the load and the timings' spread;
    a choice made under load, or between candidates closer than their spread, is ``provisional``
    (re-measured at the next large job). Refused in one line when no candidate could run."""
    ok = sorted((r for r in rows if r["status"] == "accepted"), key=lambda r: -r["mpix_s"])
    if not ok:
        raise BandbridgeError(f"{spec.name}: no backend could run ("
                              + "; ".join(f"{r['backend']} {r['precision']}: {r['why']}" for r in rows)
                              + "); install the torch or onnx extra")
    best = ok[0]
    load = max(load, machine_load())
    remember_ranking(rows, threads)
    return {"model": spec.name, "backend": best["backend"], "precision": best["precision"], "tile": t,
            "batch": 1, "threads": threads, "seconds": round(time.perf_counter() - t_start, 1),
            "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "load": round(load, 2), "spread": best["spread"], "provisional": provisional(ok, load),
            "check_sample": None if sample is None else sample.meta, "candidates": rows}


PROBE_ROUNDS = (3, 15)  # interleaved timing rounds: at least, at most


def interleaved(built: list, x: np.ndarray, seconds: float) -> dict[int, list[float]]:
    """One forward of each built candidate per round, rounds while another fits in ``seconds`` (at
    least ``PROBE_ROUNDS[0]``, at most ``[1]``): ``{id(row): [seconds per forward, …]}``."""
    times: dict[int, list[float]] = {id(row): [] for row, _ in built}
    t0 = last = time.perf_counter()
    for k in range(PROBE_ROUNDS[1]):
        now = time.perf_counter()
        if k >= PROBE_ROUNDS[0] and now - t0 + (now - last) > seconds:  # the next round would end past it
            break
        last = now
        for row, be in built:
            times[id(row)].append(_time_once(be, x))
    return times


def provisional(ok: list[dict], load: float) -> str | None:
    """Why a choice among the accepted rows ``ok`` (fastest first) is not final, or None: the
    machine was busy, or the two fastest are closer than the spread of their timings."""
    if load > BUSY:
        return f"measured on a busy machine (load {load:.2f} per core)"
    if len(ok) > 1:
        margin = ok[0]["mpix_s"] / ok[1]["mpix_s"] - 1
        if margin < max(ok[0]["spread"], ok[1]["spread"]):
            return (f"{ok[0]['backend']} {ok[0]['precision']} and {ok[1]['backend']} "
                    f"{ok[1]['precision']} within their timings' spread ({margin:.0%})")
    return None


def describe(record: dict) -> str:
    """One line: the choice, what it beat, what the gate refused, and what was not measured
    (never called beaten)."""
    rows = record["candidates"]
    figs = ", ".join(f"{r['backend']} {r['precision']}" + (f" {r['mpix_s']:.2f}" if "mpix_s" in r else "")
                     + ("" if r["status"] == "accepted" else f" ({r['status']})")
                     for r in rows if "mpix_s" in r or r["status"] == "refused")
    skipped = [f"{r['backend']} {r['precision']}" for r in rows if r.get("status") == "skipped"]
    if sum("mpix_s" in r for r in rows) < 2:
        head = "the only candidate measured that passes the precision gate"
    else:
        head = "fastest " + ("of those measured " if skipped else "") + "passing the precision gate"
    return (f"{record['backend']} {record['precision']}: {head} ({figs} MPix/s"
            + (f"; not measured in the budget: {', '.join(skipped)}" if skipped else "") + ")")


def well_formed(record: dict) -> bool:
    """Whether a cached choice has the shape :func:`probe` writes (what :func:`describe` reads)."""
    try:
        return (all(isinstance(record[k], str) for k in ("backend", "precision", "measured"))
                and all(isinstance(r, dict) and isinstance(r.get("backend"), str) and isinstance(r.get("precision"), str)
                        and isinstance(r.get("status"), str)
                        and isinstance(r.get("mpix_s", 0.0), (int, float)) for r in record["candidates"]))
    except (KeyError, TypeError):
        return False


def choice_path(spec: ModelSpec, backend: str, precision: str, threads: int | None):
    return record_path("choice", spec.folder, threads, backend, precision)


@dataclass(frozen=True)
class Decision:
    """Which backend and precision a model will run on, decided before anything is built:
    ``how`` is ``asked`` (named by the user), ``cached`` (an earlier probe's choice), ``measure``
    (a probe will run first: ``backend``/``precision`` are then the reference until it has) or
    ``unmeasured`` (a small job: fp32, no probe). ``note``: the line that says so."""

    backend: str
    precision: str
    how: str
    note: str
    record: dict | None = None
    again: bool = False  # a provisional cached choice is measured again

    def line(self, name: str) -> str:
        if self.how == "measure":
            return (f"{name}: the backends will be measured once on this machine first (at most "
                    f"{PROBE_BUDGET:.0f} s; the choice is cached)")
        return f"{name}: {self.note}"


def decide_backend(spec: ModelSpec, backend: str = "auto", precision: str = "auto",
                   threads: int | None = None, measure: bool = True) -> Decision:
    """:class:`Decision` for ``spec``: as asked; else the cached choice; else a probe
    (``measure``: a large job) or the reference unmeasured. Reads the cache, builds nothing."""
    check_choice(backend, precision)
    if backend != "auto" and precision != "auto":
        return Decision(backend, precision, "asked", f"{backend} {precision} as asked")
    cands = candidates(spec, backend, precision)
    record = read_json(choice_path(spec, backend, precision, threads))
    if record is not None and not well_formed(record):  # not a choice this version wrote: measured again
        record = None
    again = bool(record is not None and record.get("provisional") and measure and len(cands) > 1)
    if again:  # a choice made under load or too close to call: measured again on this job
        record = None
    if record is not None and (record.get("backend"), record.get("precision")) in cands:
        return Decision(record["backend"], record["precision"], "cached", describe(record) +
                        f"; measured {record['measured'][:10]}, cached (`bandbridge cache clear` "
                        "measures again, --backend/--precision pin one)", record)
    ref = reference_pair(spec)
    ref = ref if ref in cands else next((c for c in cands if c[1] == "fp32"), cands[0])
    if measure and len(cands) > 1:
        return Decision(*ref, "measure", "", None, again)
    return Decision(*ref, "unmeasured", f"{ref[0]} {ref[1]}" + (
        f" (small job: the backend probe runs on jobs of {policy.PROBE_MPIX:g} MPix or more, or `bandbridge bench`; "
        "unmeasured, so fp32)" if len(cands) > 1 else ""))


def choose_backend(spec: ModelSpec, backend: str = "auto", precision: str = "auto", threads: int | None = None,
                   compile: bool = False, measure: bool = True, announce=None,
                   decision: Decision | None = None) -> Chosen:
    """The chosen backend, built, with ``.choice`` (one line) and ``.record`` (the cached probe or
    None): ``decision`` (:func:`decide_backend`, made now when not given) carried out — a probe
    runs here when it says ``measure`` (``announce(line)`` is told first, with the expected
    duration)."""
    d = decision or decide_backend(spec, backend, precision, threads, measure)
    record, note, (b, p) = d.record, d.note, (d.backend, d.precision)
    if d.how == "measure":
        cands = candidates(spec, backend, precision)
        if announce is not None:
            announce(f"measuring backends once for {spec.name} on this machine, "
                     f"~{estimate_seconds(spec, cands):.0f} s (at most {PROBE_BUDGET:.0f} s; the choice is cached)")
        record = probe(spec, cands, threads, forced=precision != "auto")
        write_json(choice_path(spec, backend, precision, threads), record)
        note = describe(record) + f"; measured now in {record['seconds']:.1f} s" + \
            (f", provisional: {record['provisional']}" if record.get("provisional") else
             ", cached for this model and machine") + (" (the cached choice was provisional)" if d.again else "")
        b, p = record["backend"], record["precision"]
    return Chosen(build_backend(spec, b, p, threads, compile), note, record)


def make_backend(spec: ModelSpec, backend: str = "auto", precision: str = "auto",
                 threads: int | None = None, compile: bool = False, probe: bool = False,
                 announce=None, decision: Decision | None = None) -> Chosen:
    """The backend to predict with (:func:`choose_backend` carrying out ``decision``, else
    :func:`decide_backend`'s, measured now only with ``probe``: large jobs), handed out only once
    the model passes its own check sample (``gate.verify``)."""
    d = decision or decide_backend(spec, backend, precision, threads, probe)
    be = choose_backend(spec, backend, precision, threads, compile, probe, announce, d)
    verify(spec, be)
    return be
