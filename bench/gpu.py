"""The packing issue's device checks as one prepared run (bench/gpu.sh runs it under a 10-minute limit).

    bash bench/gpu.sh                    # on a CUDA machine
    bash bench/gpu.sh --tiny             # tiny sizes on whatever device is present (the CPU here): it runs

Prints, in order: the device; bench/pack.py's figures (the solo loop, the pack curve K = 1 … 64 with images/s
and FLOP/s, the same pack by torch.func.vmap, the data-stream rate from the device-resident grid, the evaluation
encoding time); then a packed-vs-solo equivalence check on the device: four β-VAEs (β 1, 4 × seeds 0, 1) trained
solo and as one pack (fused kernels, then loop kernels) through their run directories, with the largest weight
and relative loss differences against tolerances. TF32 is switched off for the check, so it compares float32
arithmetic; on CUDA the kernels of solo and pack differ, so equality is to float rounding (amplified by
training), never bit for bit.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

import pack as pack_bench  # noqa: E402  (bench/pack.py)
from benchmark.config import TrainConfig  # noqa: E402
from benchmark.packing import train_pack  # noqa: E402
from benchmark.training import load_checkpoint, read_log, resolve_device, train  # noqa: E402


def equivalence(device: str, steps: int, batch: int, tolerance_w: float, tolerance_loss: float) -> bool:
    """Solo runs and packs of the same four configs on ``device``; prints the differences, True if within bounds."""
    configs = [TrainConfig.from_dict(dict(dataset="dsprites_procedural", beta=b, seed=s, steps=steps, batch_size=batch,
                                          checkpoint_every=max(1, steps // 2), log_every=1, device=device))
               for b in (1.0, 4.0) for s in (0, 1)]
    ok = True
    with tempfile.TemporaryDirectory(prefix="dbench-gpu-") as root:
        t0 = time.perf_counter()
        for i, c in enumerate(configs):
            train(c, os.path.join(root, f"solo{i}"), progress=False)
        solo_s = time.perf_counter() - t0
        for kernels in ("fused", "loop"):
            dirs = [os.path.join(root, f"{kernels}{i}") for i in range(len(configs))]
            t0 = time.perf_counter()
            train_pack(configs, dirs, progress=False, kernels=kernels)
            pack_s = time.perf_counter() - t0
            w, rel, same_streams = 0.0, 0.0, True
            for i, d in enumerate(dirs):
                a, b = load_checkpoint(os.path.join(root, f"solo{i}", "checkpoint.pt")), load_checkpoint(os.path.join(d, "checkpoint.pt"))
                w = max(w, max((a["model"][k] - b["model"][k]).abs().max().item() for k in a["model"]))
                la, lb = read_log(os.path.join(root, f"solo{i}")), read_log(d)
                rel = max(rel, max(abs(x["loss"] - y["loss"]) / abs(x["loss"]) for x, y in zip(la, lb)))
                same_streams &= a["data"] == b["data"] and torch.equal(a["rng"]["noise"], b["rng"]["noise"])
            passed = w <= tolerance_w and rel <= tolerance_loss and same_streams
            ok &= passed
            print(f"equivalence, {kernels} pack of 4 vs 4 solo runs, {steps} steps of batch {batch}: max |weight diff| "
                  f"{w:.3g} (tolerance {tolerance_w:g}), max relative loss diff {rel:.3g} (tolerance {tolerance_loss:g}), "
                  f"identical batch and noise streams: {same_streams} -> {'PASS' if passed else 'FAIL'} "
                  f"(4 solo runs {solo_s:.1f} s, the pack {pack_s:.1f} s, setup included)")
    return ok


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true", help="tiny sizes on any device (the CPU here)")
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    device = resolve_device(args.device)
    t0 = time.perf_counter()
    if device.type == "cuda":
        print(f"{torch.cuda.get_device_name(device)}, {torch.cuda.get_device_properties(device).total_memory / 2**30:.0f} GiB, "
              f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}", flush=True)
    pack_bench.main(["--device", str(device), "--variant", "both"] + (["--tiny"] if args.tiny else []))
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    ok = equivalence(str(device), steps=10 if args.tiny else 30, batch=8 if args.tiny else 64,
                     tolerance_w=5e-3, tolerance_loss=1e-4)
    print(f"bench/gpu.py: {'all checks passed' if ok else 'an equivalence check FAILED'} in {time.perf_counter() - t0:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
