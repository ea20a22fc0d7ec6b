"""Time the synthetic data generator (data_scripts/synthetic.py): per-case generation and serialisation.

Usage::

    python benchmarks/bench_synthetic.py [--cases 10] [--shape 64 64 48] [--task lesion]

Prints the median and maximum time per case for generating the arrays and for serialising image and label to
deterministic ``.nii.gz`` bytes, and the median file sizes.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from data_scripts._io import nifti_gz_bytes
from data_scripts.synthetic import TASKS, SyntheticParams, make_case, nifti_image


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=10)
    p.add_argument("--shape", type=int, nargs=3, default=[64, 64, 48])
    p.add_argument("--task", choices=sorted(TASKS), default=None, help="default: both tasks")
    args = p.parse_args()
    params = SyntheticParams(shape=tuple(args.shape))
    print("| task | shape | generate median (s) | generate max (s) | write median (s) | image MB | label KB |")
    print("|---|---|---|---|---|---|---|")
    for task in [args.task] if args.task else sorted(TASKS):
        gen, write, img_mb, lab_kb = [], [], [], []
        for i in range(args.cases):
            t0 = time.perf_counter()
            image, label, _ = make_case(task, i, 0, params)
            t1 = time.perf_counter()
            b_img = nifti_gz_bytes(nifti_image(image, params.spacing))
            b_lab = nifti_gz_bytes(nifti_image(label, params.spacing))
            t2 = time.perf_counter()
            gen.append(t1 - t0)
            write.append(t2 - t1)
            img_mb.append(len(b_img) / 1e6)
            lab_kb.append(len(b_lab) / 1e3)
        print(
            f"| {task} | {'x'.join(map(str, args.shape))} | {np.median(gen):.3f} | {max(gen):.3f} | "
            f"{np.median(write):.3f} | {np.median(img_mb):.2f} | {np.median(lab_kb):.1f} |"
        )


if __name__ == "__main__":
    main()
