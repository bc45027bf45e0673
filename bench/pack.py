"""Packs: training throughput of K models as one network (benchmark.packing) beside a solo loop, in one run.

    python bench/pack.py --device cuda                       # K = 1, 2, 4, ..., 64 on the GPU
    OMP_NUM_THREADS=1 python bench/pack.py --tiny            # tiny sizes: shows that it runs (CPU)

Prints, for the device present:
1. the solo loop: one model, Adam, batches gathered on the device (what one unpacked trial computes);
2. the pack curve: for each K, images/s with all K models counted, the speed-up over the solo loop, achieved
   FLOP/s (training FLOPs per image counted from the layers: 2 per multiply-add forward, twice that backward)
   and the peak device memory; ``--variant func`` adds the same pack computed by ``torch.func.vmap`` over
   stacked parameters (the alternative to grouped convolutions and batched matrix products);
3. the data stream: batches of a pack gathered from the device-resident grid, images/s;
4. evaluation's grid encoding: K encoders over one pass of N grid images, packed, beside K solo passes.

Steps are timed between CUDA synchronisations after a warm-up; no run directory is written. Figures depend on
the machine's load.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from benchmark.config import TrainConfig  # noqa: E402
from benchmark.models import OBJECTIVES, build_model, objective_hyperparameters  # noqa: E402
from benchmark.packing import (PackBatchStream, PackedVAE, device_grid, set_kernels,  # noqa: E402
                               throughput_curve)
from benchmark.training import open_dataset, resolve_device  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def training_flops_per_image(config: TrainConfig) -> float:
    """FLOPs of one training step per image: 2 per multiply-add of the forward pass, twice as many backward."""
    model = build_model(config, seed=0)
    macs = []

    def count(module, inputs, output):
        x = inputs[0]
        if isinstance(module, nn.Conv2d):
            macs.append(output[0].numel() * module.in_channels * module.kernel_size[0] * module.kernel_size[1])
        elif isinstance(module, nn.ConvTranspose2d):
            macs.append(x[0].numel() * module.out_channels * module.kernel_size[0] * module.kernel_size[1])
        elif isinstance(module, nn.Linear):
            macs.append(module.in_features * module.out_features)

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, *model.observation_shape), noise=torch.zeros(1, config.num_latents))
    for h in hooks:
        h.remove()
    return 3 * 2 * float(sum(macs))


def solo_loop(config: TrainConfig, steps: int, warmup: int = 3) -> float:
    """Images/s of one model's training loop, its batches gathered from the device-resident grid."""
    device = resolve_device(config.device)
    dataset = open_dataset(config)
    stream = PackBatchStream(dataset, config.batch_size, [np.random.SeedSequence(0)], device, device_grid(dataset, device))
    model = build_model(config, tuple(dataset.observation_shape), seed=0).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    objective, hyper = OBJECTIVES[config.model], objective_hyperparameters(config)
    generator = torch.Generator(device=device).manual_seed(0)
    for t in range(warmup + steps):
        if t == warmup:
            _sync(device)
            t0 = time.perf_counter()
        images = next(stream)[:, 0]
        noise = torch.randn((config.batch_size, config.num_latents), generator=generator, device=device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.bf16):
            out = model(images, noise=noise)
        loss, _ = objective(out["recon"], out["kl"], out["mu"], out["logvar"], out["z"], t, **hyper)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    _sync(device)
    return steps * config.batch_size / (time.perf_counter() - t0)


def func_curve(config: TrainConfig, ks: list[int], steps: int, warmup: int = 3) -> list[dict]:
    """The pack computed by ``torch.func.vmap`` of the solo VAE over stacked parameters (β-VAE loss)."""
    from torch.func import functional_call, stack_module_state, vmap

    device = resolve_device(config.device)
    out = []
    for k in ks:
        models = [build_model(config, seed=i).to(device) for i in range(k)]
        params, buffers = stack_module_state(models)
        template = build_model(config, seed=0).to("meta")
        optimizer = torch.optim.Adam(params.values(), lr=config.lr)

        def loss_of(p, b, images, noise):
            o = functional_call(template, (p, b), (images,), {"noise": noise})
            return o["recon"] + config.get("beta", 1.0) * o["kl"]

        losses = vmap(loss_of)
        images = torch.rand(k, config.batch_size, *models[0].observation_shape, device=device).round()
        noise = torch.randn(k, config.batch_size, config.num_latents, device=device)
        try:
            for t in range(warmup + steps):
                if t == warmup:
                    _sync(device)
                    t0 = time.perf_counter()
                optimizer.zero_grad(set_to_none=True)
                losses(params, buffers, images, noise).sum().backward()
                optimizer.step()
            _sync(device)
        except torch.cuda.OutOfMemoryError:
            out.append({"k": k, "oom": True})
            break
        out.append({"k": k, "images_per_s": k * config.batch_size * steps / (time.perf_counter() - t0)})
    return out


def stream_rate(config: TrainConfig, k: int, batches: int) -> float:
    """Images/s of a pack's batch stream from the device-resident grid (indices from K numpy streams)."""
    device = resolve_device(config.device)
    dataset = open_dataset(config)
    seeds = [np.random.SeedSequence(i) for i in range(k)]
    stream = PackBatchStream(dataset, config.batch_size, seeds, device, device_grid(dataset, device))
    next(stream)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(batches):
        next(stream)
    _sync(device)
    return batches * k * config.batch_size / (time.perf_counter() - t0)


@torch.no_grad()
def encoding_time(config: TrainConfig, k: int, num_images: int, batch: int = 1024) -> tuple[float, float]:
    """Seconds to encode ``num_images`` grid images with K encoders: ``(packed, K solo passes)``."""
    device = resolve_device(config.device)
    dataset = open_dataset(config)
    grid = device_grid(dataset, device)
    models = [build_model(config, tuple(dataset.observation_shape), seed=i).to(device).eval() for i in range(k)]
    packed = set_kernels(PackedVAE(models), "fused" if device.type == "cuda" else "loop").to(device).eval()
    scale = 1.0 / dataset.pixel_max
    times = []
    for packed_pass in (True, False):
        _sync(device)
        t0 = time.perf_counter()
        for start in range(0, num_images, batch):
            idx = torch.arange(start, min(num_images, start + batch), device=device)
            images = grid.rows(idx).float() * scale
            if packed_pass:  # one pass over the images, each of the K encoders on every image
                packed.encoder(images.unsqueeze(1).expand(-1, k, -1, -1, -1).flatten(1, 2), "grouped")
            else:
                for m in models:
                    m.encode(images)
        _sync(device)
        times.append(time.perf_counter() - t0)
    return times[0], times[1]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--ks", default=None, help="pack sizes (default 1,2,4,...,64; --tiny: 1,2,4)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per size (default 20; --tiny: 3)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--model", default="beta_vae")
    p.add_argument("--dataset", default="dsprites_procedural")
    p.add_argument("--kernels", default="auto", help="auto (fused on CUDA, loop elsewhere), fused or loop")
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--variant", choices=["grouped", "func", "both"], default="grouped",
                   help="func: also torch.func.vmap over stacked parameters")
    p.add_argument("--encode-images", type=int, default=None,
                   help="grid images encoded (default 65536 on CUDA, 1024 on CPU; --tiny: 512)")
    p.add_argument("--tiny", action="store_true", help="tiny sizes (batch 8, K up to 4, 3 steps): shows that it runs")
    args = p.parse_args(argv)
    batch = 8 if args.tiny else args.batch_size
    ks = [int(k) for k in args.ks.split(",")] if args.ks else ([1, 2, 4] if args.tiny else [2**i for i in range(7)])
    steps = args.steps or (3 if args.tiny else 20)
    config = TrainConfig.from_dict(dict(dataset=args.dataset, model=args.model, batch_size=batch, device=args.device,
                                        bf16=args.bf16, steps=steps))
    device = resolve_device(config.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} torch threads"
    flops = training_flops_per_image(config)
    print(f"device {device} ({name}), torch {torch.__version__}; {config.model} {config.architecture}, batch {batch}, "
          f"{steps} timed steps; {flops / 1e6:.1f} MFLOP per image per training step (forward + backward)")
    t0 = time.perf_counter()
    device_grid(open_dataset(config), device)
    print(f"device-resident grid of {config.dataset}: built in {time.perf_counter() - t0:.1f} s")
    solo = solo_loop(config, steps)
    print(f"solo loop (1 model):           {solo:12,.0f} images/s  {solo * flops / 1e12:8.3f} TFLOP/s")
    if args.variant in ("grouped", "both"):
        for c in throughput_curve(config, ks, steps=steps, kernels=args.kernels):
            if c.get("oom"):
                print(f"pack K={c['k']:>3}: out of memory")
                break
            mem = f"  peak {c['peak_bytes'] / 2**30:6.2f} GiB" if c["peak_bytes"] is not None else ""
            print(f"pack K={c['k']:>3} ({args.kernels:>5}): {c['images_per_s']:12,.0f} images/s  "
                  f"{c['images_per_s'] * flops / 1e12:8.3f} TFLOP/s  {c['images_per_s'] / solo:6.2f}x solo{mem}")
    if args.variant in ("func", "both"):
        for c in func_curve(config, ks, steps):
            if c.get("oom"):
                print(f"vmap K={c['k']:>3}: out of memory")
                break
            print(f"vmap K={c['k']:>3} (torch.func): {c['images_per_s']:12,.0f} images/s  "
                  f"{c['images_per_s'] * flops / 1e12:8.3f} TFLOP/s  {c['images_per_s'] / solo:6.2f}x solo")
    k_max = ks[-1]
    print(f"data stream, pack of {k_max} from the device grid: {stream_rate(config, k_max, 10 if args.tiny else 200):14,.0f} images/s")
    # 65,536 images x 16 encoders twice is seconds on a GPU but many minutes on 2 CPU cores
    n = args.encode_images or (512 if args.tiny else 65536 if device.type == "cuda" else 1024)
    k_enc = min(k_max, 16)
    packed_s, solo_s = encoding_time(config, k_enc, n)
    print(f"evaluation encoding, {k_enc} encoders over {n:,} grid images: packed {packed_s:.3f} s, {k_enc} solo passes "
          f"{solo_s:.3f} s ({solo_s / packed_s:.2f}x)")


if __name__ == "__main__":
    main()
