"""What `bandbridge bench` shows of its rows: the Markdown table it prints and the record
``--json`` writes."""

from __future__ import annotations


def record(rows: list[dict], command: str, threads: int | None = None) -> dict:
    """What ``--json`` writes: the rows with what measured them — the command, the date, the CPU
    (model, cores, whether it computes bf16 natively) and the threads each row ran on."""
    import datetime
    import os

    from bandbridge.machine import cpu_flags, cpu_has_bf16
    name, flags = cpu_flags()
    kind = ("native bf16 (AMX or AVX512-BF16)" if cpu_has_bf16() else
            "AVX2, bf16 emulated" if "avx2" in flags else "without AVX2")
    return {"command": command, "measured": datetime.date.today().isoformat(),
            "cpu": f"{name or 'unknown CPU'}, {os.cpu_count()} cores, {kind}",
            "threads": threads or os.cpu_count(), "rows": rows}


def format_rows(rows: list[dict]) -> str:
    probe = next((r["probe"] for r in rows if "probe" in r), {})
    sel = next((r for r in rows if r["kind"] == "select"), None)
    lines = [f"conv 3×3 64→64 on 256²: {probe.get('fp32', 0):.0f} GFLOP/s fp32, "
             f"{probe.get('bf16', 0):.0f} GFLOP/s bf16" if probe else "",
             f"backend: {sel['choice']}" if sel else "",
             "| row | precision | MPix/s | × reference | × raw forward | GFLOP/s | peak RSS MB | held-out MAE | held-out NDVI MAE | check-tile MAE |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("status") == "refused":
            lines.append(f"| {r['name']} | {r.get('precision', '')} | refused: {r['why']} | | | | | | | |")
            continue
        if "mpix_s" not in r:
            continue
        h = r.get("holdout") or {}
        tiles = f"; {r['tile'][0]}×{r['tile'][1]} tiles, {r['computed']:.2f}× pixels computed" \
            if r["kind"] == "tiled" and "computed" in r else ""
        lines.append(f"| {r['name']}{tiles} | {r.get('precision', '')} | {r['mpix_s']:.3f} | "
                     + (f"{r['vs_reference']:.2f}×" if "vs_reference" in r else "") + " | "
                     + (f"{r['vs_raw']:.0%}" if "vs_raw" in r else "") + " | "
                     f"{r.get('gflop_s', float('nan')):.0f} | {r['rss_mb']:.0f}"
                     + (f" (planned {r['planned_mb']:.0f})" if "planned_mb" in r else "") + " | "
                     + (f"{h['mae']:.5f}" if "mae" in h else "") + " | "
                     + (f"{h['ndvi_mae']:.4f}" if "ndvi_mae" in h else "") + " | "
                     + (f"{r['check']['mae']:.5f}" if "check" in r and not r["name"].startswith("reference")
                        else "") + " |")
    return "\n".join(x for x in lines if x)
