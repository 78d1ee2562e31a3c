"""The sharpening record (issue 76): Wald's protocol on the development data, every case by the
baselines (cubic, TsHARP-style, DMS-style; GSA and Brovey for pansharpening) and by `bandbridge
sharpen` where its entry point exists, per band RMSE and MAE, per case ERGAS and SAM.

    OMP_NUM_THREADS=1 nice python benchmarks/sharpen_record.py --data ../shared/data --json docs/results/sharpen.json

The cases and the protocol: src/bandbridge/evaluation/sharpen_cases.py; the baselines:
src/bandbridge/evaluation/sharpen_baselines.py. Prints a table per case (RMSE, in brackets × cubic).
"""

from __future__ import annotations

import argparse
import sys
import tempfile

from bandbridge.evaluation.sharpen_record import run_record, save, table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data", help="the development data folder")
    ap.add_argument("--json", default="docs/results/sharpen.json", help="where the record goes")
    ap.add_argument("--no-bandbridge", action="store_true", help="the baselines only")
    a = ap.parse_args()
    command = "OMP_NUM_THREADS=1 nice python " + " ".join(["benchmarks/sharpen_record.py", *sys.argv[1:]])
    with tempfile.TemporaryDirectory(prefix="sharpen_record_") as work:
        record = run_record(a.data, work, command, bandbridge=not a.no_bandbridge)
    print(table(record))
    print(f"written {save(record, a.json)}")


if __name__ == "__main__":
    main()
