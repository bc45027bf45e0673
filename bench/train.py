"""Training throughput: the suite's ``train`` beside a bare PyTorch loop of the same model and loss.

    OMP_NUM_THREADS=1 python bench/train.py                       # CPU, 100 steps of batch 64
    python bench/train.py --device cuda --steps 2000               # GPU
    python bench/train.py --device cuda --steps 2000 --bf16 --channels-last --compile --dataset-cache
    OMP_NUM_THREADS=1 python bench/train.py --no-methods           # only the suite-vs-bare comparison

The suite's figure is images/s of ``benchmark.training.train`` over its loop — batch stream (sampling,
rendering or cache look-up, uint8 → float on the device), per-step loss-term buffering, log rows and
checkpoints (every ``steps // 3`` steps, log every 10: more often than the defaults) included. The bare loop
trains the same model with the same objective, Adam and noise draws on batches already in device memory
(no data stream, no logging, no checkpoints). Both are timed from their first step to their last (CUDA
synchronised); the pair runs ``--repeats`` times alternately, at one torch thread and at the default thread
count (``--threads N``: only N), and both the best of each and the median of the pairs' ratios are printed.
Target: suite ≥ 90 % of bare at either setting. (On the CPU the suite draws batches in a background thread only
when torch leaves a core free: ``benchmark.training.prefetch_pays``.)

Then every method's ``train`` throughput beside β-VAE's, at one torch thread and at the default thread count
(what users get): FactorVAE pays for its discriminator (6 × 1000 dense layers on the codes and their
shuffle, and its own backward pass and Adam), β-TCVAE for its B × B × D log-density table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmark.config import METHODS, TrainConfig  # noqa: E402
from benchmark.models import OBJECTIVES, build_model, objective_hyperparameters  # noqa: E402
from benchmark.training import open_dataset, resolve_device, train  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_loop(config: TrainConfig, device: torch.device, in_memory: int = 16) -> float:
    """Images/s of a plain loop: ``in_memory`` batches held on the device, cycled."""
    dataset = open_dataset(config)
    rng = np.random.default_rng(config.seed)
    batches = [
        torch.from_numpy(dataset.images(rng.integers(0, len(dataset), config.batch_size))).to(device)
        for _ in range(in_memory)
    ]
    if config.channels_last:
        batches = [b.contiguous(memory_format=torch.channels_last) for b in batches]
    model = build_model(config, tuple(dataset.observation_shape), seed=config.seed).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    step_model = torch.compile(model) if config.compile else model
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(config.adam_beta1, config.adam_beta2), eps=config.adam_eps)
    objective, hparams = OBJECTIVES[config.model], objective_hyperparameters(config)
    generator = torch.Generator(device=device).manual_seed(config.seed)
    _sync(device)
    t0 = time.perf_counter()
    for t in range(config.steps):
        noise = torch.randn((config.batch_size, config.num_latents), generator=generator, device=device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.bf16):
            out = step_model(batches[t % in_memory], noise=noise)
        loss, _ = objective(out["recon"], out["kl"], out["mu"], out["logvar"], out["z"], t, **hparams)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    _sync(device)
    return config.steps * config.batch_size / (time.perf_counter() - t0)


def suite_loop(config: TrainConfig) -> tuple[float, float]:
    """``(in-loop images/s, whole-call images/s)`` of ``benchmark.training.train`` into a fresh run directory."""
    run_dir = Path(tempfile.mkdtemp(prefix="dbench-bench-"))
    try:
        t0 = time.perf_counter()
        summary = train(config, run_dir / "run", progress=False)
        whole = config.steps * config.batch_size / (time.perf_counter() - t0)
        return summary["images_per_s"], whole
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--steps", type=int, default=None, help="steps per loop (default: 100 on CPU, 2000 on CUDA)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--architecture", default="conv")
    p.add_argument("--dataset", default="dsprites_procedural")
    p.add_argument("--dataset-cache", action="store_true", help="serve batches from the full-grid cache")
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="only this torch thread count (default: 1 and the default count)")
    p.add_argument("--no-methods", dest="methods", action="store_false", help="skip the per-method throughput table")
    args = p.parse_args()
    default_threads = torch.get_num_threads()
    device = resolve_device(args.device)
    steps = args.steps or (2000 if device.type == "cuda" else 100)
    config = TrainConfig.from_dict(dict(
        dataset=args.dataset, architecture=args.architecture, steps=steps, batch_size=args.batch_size, beta=4.0,
        device=str(device), checkpoint_every=max(1, steps // 3), log_every=10, bf16=args.bf16,
        channels_last=args.channels_last, compile=args.compile, dataset_cache=args.dataset_cache,
    ))  # fmt: skip
    print(
        f"threads: torch.get_num_threads()={torch.get_num_threads()} interop={torch.get_num_interop_threads()} "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')} MKL_NUM_THREADS={os.environ.get('MKL_NUM_THREADS', 'unset')} "
        f"cpus={os.cpu_count()}"
    )
    print(
        f"device={device}{' (' + torch.cuda.get_device_name(device) + ')' if device.type == 'cuda' else ''} torch={torch.__version__} "
        f"architecture={config.architecture} dataset={config.dataset} cache={config.dataset_cache} batch={config.batch_size} "
        f"steps={steps} bf16={config.bf16} channels_last={config.channels_last} compile={config.compile}"
    )
    if config.dataset_cache:
        open_dataset(config)  # build the cache once, outside the timings
    settings = [args.threads] if args.threads else ([1, default_threads] if device.type == "cpu" and default_threads != 1
                                                    else [default_threads])
    for threads in settings:
        suite_vs_bare(config, device, threads, args.repeats)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.methods:
        method_table(config, [1, default_threads] if device.type == "cpu" and default_threads != 1 else [torch.get_num_threads()],
                     args.repeats)


def suite_vs_bare(config: TrainConfig, device: torch.device, threads: int, repeats: int) -> None:
    """``repeats`` alternated pairs (bare, suite) at ``threads`` torch threads; best of each and median pair ratio."""
    torch.set_num_threads(threads)
    print(f"torch threads {threads}:")
    bare, suite = [], []
    for r in range(repeats):
        bare.append(bare_loop(config, device))
        s, w = suite_loop(config)
        suite.append(s)
        print(f"  pair {r + 1}: bare {bare[-1]:9.1f} images/s   suite {suite[-1]:9.1f} images/s (whole call incl. setup "
              f"{w:9.1f})   ratio {100 * suite[-1] / bare[-1]:5.1f} %")
    b, s = max(bare), max(suite)
    print(f"  bare PyTorch loop (in-memory batches): {b:10.1f} images/s (best of {repeats})")
    print(f"  suite train() (stream+logs+ckpts):     {s:10.1f} images/s (best of {repeats})")
    print(f"  ratio suite/bare at {threads} thread(s): best {100 * s / b:.1f} %, median of the pairs "
          f"{100 * float(np.median([x / y for x, y in zip(suite, bare)])):.1f} % (target >= 90 %)")


def method_table(config: TrainConfig, thread_counts: list[int], repeats: int) -> None:
    """Each method's in-loop images/s of ``train`` (best of ``repeats``) beside β-VAE's, per thread count."""
    for threads in thread_counts:
        torch.set_num_threads(threads)
        print(f"methods, torch threads {threads} (suite train(), best of {repeats}):")
        base = None
        fields = {k: v for k, v in config.to_dict().items() if k not in config.hyperparameters}
        for name in METHODS:  # each at its declared default hyperparameters
            method_config = TrainConfig.from_dict({**fields, "model": name})
            rate = max(suite_loop(method_config)[0] for _ in range(repeats))
            base = base or rate
            print(f"  {name:<14} {rate:9.1f} images/s   {100 * rate / base:6.1f} % of beta_vae")


if __name__ == "__main__":
    main()
