"""Models the suite did not train: ``dbench evaluate --encoder FILE|MODULE:FUNCTION``, ``evaluate(representation_fn=)``.

The known answer: a hand-made encoder whose codes are the standardised ground-truth factors of
``dsprites_procedural``. It sees only images, so it is a lookup table: an exact integer fingerprint of each image
(its bit-packed pixels times random integer weights, summed in float64 below 2**53: exact in any summation
order), sorted, searched with ``searchsorted``. The table is built from the whole grid rendered once (about 30 s
on one core; on two worker processes where there are two cores). Images that draw the same pixels (rotations 0
and 2π: 18,432 pairs, and some 3,000 small shapes whose neighbouring rotations rasterise alike; 715,732 distinct
images of 737,280) map to the factors of the first of them, and 20 bins cap a code's MIG below 1 (≈0.90 for
perfect codes), hence the thresholds.
"""

import hashlib
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Tuple

import numpy as np
import pandas as pd
import pytest
import torch

from benchmark.datasets.base import grid_factors
from benchmark.datasets.dsprites import FACTOR_SIZES, render
from benchmark.evaluation import evaluate
from metrics_synthetic import FactorGrid

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.:DeprecationWarning")  # torch 2.13 deprecates TorchScript
QUICK = ["--protocol", "quick", "--device", "cpu", "--seed", "0"]
#: 512 integer weights below 2**35 on bit-packed bytes (< 256): every fingerprint is an integer below 2**52.
WEIGHTS = np.random.default_rng(20240601).integers(0, 2**35, 512).astype(np.float64)
POW2 = 2.0 ** np.arange(7, -1, -1)  # np.packbits order: the first pixel of 8 is the highest bit

CALLABLE = '''"""The hand-made factor encoder as a Python callable: the TorchScript file's lookup, in numpy."""
import os

import numpy as np

_TABLE = np.load(os.path.join(os.path.dirname(os.path.abspath(__file__)), "factor_table.npz"), allow_pickle=False)
KEYS, VALUES, WEIGHTS, POW2 = _TABLE["keys"], _TABLE["values"], _TABLE["weights"], _TABLE["pow2"]


def encode(images):
    packed = np.asarray(images, dtype=np.float64).reshape(len(images), -1, 8) @ POW2
    pos = np.minimum(np.searchsorted(KEYS, (packed @ WEIGHTS).astype(np.int64)), len(KEYS) - 1)
    codes = VALUES[pos]
    return codes, np.full_like(codes, -10.0)


'''
#: A callable encoder of the small tests: a fixed projection of the pixels, and one that fails.
SMALL_CALLABLE = '''import numpy as np

WEIGHT = np.random.default_rng(0).standard_normal((64 * 64, 4))


def encode(images):
    return np.asarray(images).reshape(len(images), -1) @ WEIGHT / 8.0


def broken(images):
    raise RuntimeError("this encoder is broken")
'''


class FactorLookup(torch.nn.Module):
    """images (N, 1, 64, 64) → (standardised factors (N, 5), log-variances −10), by fingerprint look-up."""

    def __init__(self, keys: np.ndarray, values: np.ndarray):
        super().__init__()
        self.register_buffer("keys", torch.as_tensor(keys))
        self.register_buffer("values", torch.as_tensor(values))
        self.register_buffer("weights", torch.as_tensor(WEIGHTS))
        self.register_buffer("pow2", torch.as_tensor(POW2))

    def forward(self, images: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        packed = images.reshape(images.shape[0], -1, 8).double() @ self.pow2
        pos = torch.searchsorted(self.keys, (packed @ self.weights).long()).clamp(max=self.keys.numel() - 1)
        codes = self.values[pos]
        return codes, torch.full_like(codes, -10.0)


class MeansOnly(torch.nn.Module):
    """A fixed random projection of the pixels to ``dims`` means."""

    def __init__(self, dims: int = 4):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(64 * 64, dims, generator=torch.Generator().manual_seed(0)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.reshape(images.shape[0], -1) @ self.weight / 8.0


class Projection(MeansOnly):
    """The same means, and log-variances −6."""

    def forward(self, images: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        mu = images.reshape(images.shape[0], -1) @ self.weight / 8.0
        return mu, torch.full_like(mu, -6.0)


class Decoder(torch.nn.Module):
    def __init__(self, dims: int = 4):
        super().__init__()
        self.linear = torch.nn.Linear(dims, 64 * 64)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.linear(z).reshape(-1, 1, 64, 64)


def _fingerprints(start: int, stop: int) -> np.ndarray:
    """The fingerprints of grid images ``start..stop`` (run in worker processes)."""
    out = []
    for s in range(start, stop, 8192):
        idx = np.arange(s, min(stop, s + 8192))
        packed = np.packbits(render(grid_factors(idx, FACTOR_SIZES)).reshape(idx.size, -1), axis=1)
        out.append((packed.astype(np.float64) @ WEIGHTS).astype(np.int64))
    return np.concatenate(out)


def _dbench(*args, cwd=None, timeout=600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "benchmark", *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _one_line_exit_2(res: subprocess.CompletedProcess, needle: str) -> None:
    assert res.returncode == 2, (res.returncode, res.stdout[-1000:], res.stderr[-2000:])
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert needle in res.stderr, res.stderr


def _records(results: Path, rid: str) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((results / rid).glob("*.json"))}


@pytest.fixture(scope="module")
def small_models(tmp_path_factory):
    """Encoders of a fixed projection: TorchScript with log-variances, a means-only torch.export archive, a Python
    module; and a TorchScript decoder."""
    folder = tmp_path_factory.mktemp("small_models")
    torch.jit.save(torch.jit.script(Projection()), folder / "enc.pt")
    torch.jit.save(torch.jit.script(Decoder()), folder / "dec.pt")
    torch.export.save(torch.export.export(MeansOnly(), (torch.rand(2, 1, 64, 64),),
                                          dynamic_shapes=({0: torch.export.Dim("batch")},)), folder / "means.pt2")
    (folder / "small_codes.py").write_text(SMALL_CALLABLE)
    return folder


@pytest.fixture(scope="module")
def factor_models(tmp_path_factory):
    """The hand-made factor encoder as a TorchScript file and as a module of a Python callable, in one folder."""
    folder = tmp_path_factory.mktemp("factor_models")
    n, start = int(np.prod(FACTOR_SIZES)), time.perf_counter()
    workers = min(2, len(os.sched_getaffinity(0)))
    cuts = np.linspace(0, n, workers + 1).astype(int)
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        keys = np.concatenate(list(pool.map(_fingerprints, cuts[:-1], cuts[1:])))
    unique, first = np.unique(keys, return_index=True)  # the first grid image of each distinct image
    sizes = np.asarray(FACTOR_SIZES, dtype=np.float64)
    classes = grid_factors(first, FACTOR_SIZES).astype(np.float64)
    values = ((classes - (sizes - 1) / 2) / np.sqrt((sizes**2 - 1) / 12)).astype(np.float32)
    torch.jit.save(torch.jit.script(FactorLookup(unique, values)), folder / "factors.pt")
    np.savez(folder / "factor_table.npz", keys=unique, values=values, weights=WEIGHTS, pow2=POW2)
    (folder / "factor_codes.py").write_text(CALLABLE)
    print(f"factor table: {unique.size} distinct images of {n}, built in {time.perf_counter() - start:.1f}s")
    return folder


def test_a_torchscript_encoder_of_the_factors_scores_near_perfectly_and_a_callable_gives_the_same(factor_models,
                                                                                                  tmp_path):
    results = tmp_path / "results"
    # quick MIG's 2,000 points put perfect codes at ≈0.866: its reference 10,000 give the threshold room
    common = ["--dataset", "dsprites_procedural", "--metrics", "mig,beta_vae", "--results", results, *QUICK,
              "--set", "mig.num_train=10000"]
    ts = _dbench("evaluate", "--encoder", factor_models / "factors.pt", *common)
    assert ts.returncode == 0, ts.stdout + ts.stderr
    digest = hashlib.sha256((factor_models / "factors.pt").read_bytes()).hexdigest()
    rid = f"encoder-{digest[:12]}"
    recs = _records(results, rid)
    assert set(recs) == {"mean__mig", "mean__beta_vae"}
    mig, beta = recs["mean__mig"], recs["mean__beta_vae"]
    assert mig["status"] == beta["status"] == "ok"
    assert mig["metric.mig"] >= 0.85 and beta["metric.beta_vae.eval_accuracy"] >= 0.95, (mig, beta)
    assert {k: mig[k] for k in ("run.id", "run.dir", "run.checkpoint_step", "run.checkpoint_sha256", "run.finished",
                                "run.encoder_kind", "run.encoder_path", "run.encoder_sha256", "run.encoder_name",
                                "run.representations", "dataset.name", "eval.protocol")} == {
        "run.id": rid, "run.dir": None, "run.checkpoint_step": None, "run.checkpoint_sha256": digest,
        "run.finished": True, "run.encoder_kind": "torchscript", "run.encoder_path": str(factor_models / "factors.pt"),
        "run.encoder_sha256": digest, "run.encoder_name": None, "run.representations": "mean,sampled",
        "dataset.name": "dsprites_procedural", "eval.protocol": "quick"}
    assert not any(k.startswith(("config.", "run.decoder_")) for k in mig)
    assert "reconstruction" not in ts.stdout  # not asked for: nothing said about it

    fn = _dbench("evaluate", "--encoder", "factor_codes:encode", "--id", "factor-codes", *common, cwd=factor_models)
    assert fn.returncode == 0, fn.stdout + fn.stderr
    same = _records(results, "factor-codes")
    for name, rec in recs.items():
        values = {k: v for k, v in rec.items() if k.startswith("metric.")}
        assert {k: v for k, v in same[name].items() if k.startswith("metric.")} == values, name
        assert same[name]["eval.encoder_passes"] == rec["eval.encoder_passes"]
    callable_fields = same["mean__mig"]
    assert callable_fields["run.encoder_kind"] == "callable"
    assert callable_fields["run.encoder_name"] == "factor_codes:encode"
    assert callable_fields["run.encoder_path"] == str(factor_models / "factor_codes.py")
    assert callable_fields["run.checkpoint_sha256"] == callable_fields["run.encoder_sha256"]

    # the report reads them: one setting per model (its run id), no checkpoint figures (no run directory)
    report = _dbench("report", results, "--out", tmp_path / "report", "--format", "md,csv,html")
    assert report.returncode == 0, report.stdout + report.stderr
    summary = pd.read_csv(tmp_path / "report" / "tables" / "summary.csv")
    assert set(summary["model"]) == {rid, "factor-codes"}
    assert (tmp_path / "report" / "report.html").is_file()


def test_a_means_only_export_has_no_sampled_representation(small_models, tmp_path):
    results = tmp_path / "results"
    args = ["evaluate", "--encoder", small_models / "means.pt2", "--dataset", "dsprites_procedural",
            "--results", results, *QUICK]
    _one_line_exit_2(_dbench(*args, "--metrics", "mig", "--representation", "mean,sampled"),
                     "returns means only (no log-variances), so it has no sampled representation")
    assert not results.exists() or not any(results.rglob("*.json"))
    res = _dbench(*args, "--metrics", "mig,mig_sampled")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "mig_sampled: left out: it integrates q(z|x)" in res.stdout
    (rec,) = (json.loads(p.read_text()) for p in results.glob("*/*.json"))
    assert rec["eval.metric"] == "mig" and rec["status"] == "ok"
    assert rec["run.encoder_kind"] == "export" and rec["run.representations"] == "mean"


def test_a_decoder_enables_reconstruction_and_without_one_it_is_left_out(small_models, tmp_path):
    results = tmp_path / "results"
    args = ["evaluate", "--encoder", small_models / "enc.pt", "--dataset", "dsprites_procedural", "--results", results,
            "--metrics", "mig,reconstruction", "--id", "projection", *QUICK]
    res = _dbench(*args)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "reconstruction: left out: no decoder was given" in res.stdout
    assert sorted(p.name for p in (results / "projection").iterdir()) == ["mean__mig.json"]
    res = _dbench(*args, "--decoder", small_models / "dec.pt")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "mean/mig: exists, skipped" in res.stdout  # the same encoder file: its record stands
    recs = _records(results, "projection")
    recon = recs["mean__reconstruction"]
    assert recon["status"] == "ok" and recon["metric.reconstruction.bernoulli_nll"] > 0
    digest = hashlib.sha256((small_models / "dec.pt").read_bytes()).hexdigest()
    assert recon["run.decoder_kind"] == "torchscript" and recon["run.decoder_sha256"] == digest
    assert not any(k.startswith("run.decoder_") for k in recs["mean__mig"])  # it did not use the decoder


class _Boom:
    """Unpickling it creates the file ``marker``: proof that nothing was unpickled when the file is absent."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def _pickled_export(tmp_path: Path, good: Path, marker: Path) -> Path:
    """A torch.export archive whose weights are pickles that ``torch.export.load`` would unpickle."""
    bad = tmp_path / "pickled.pt2"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("_weights_config.json"):
                config = json.loads(data)
                for meta in config["config"].values():
                    meta["use_pickle"] = True
                data = json.dumps(config).encode()
            elif "/data/weights/weight_" in info.filename:
                buffer = io.BytesIO()
                torch.save(_Boom(marker), buffer)
                data = buffer.getvalue()
            dst.writestr(info, data)
    return bad


def test_bad_encoders_are_one_line_and_exit_2_and_nothing_is_unpickled(small_models, tmp_path):
    marker = tmp_path / "unpickled"
    torch.save({"model": _Boom(marker)}, tmp_path / "checkpoint.pt")
    (tmp_path / "garbage.pt").write_bytes(os.urandom(4096))
    pickled = _pickled_export(tmp_path, small_models / "means.pt2", marker)
    ds = ["--dataset", "dsprites_procedural", "--results", tmp_path / "results", "--metrics", "mig", *QUICK]
    cases = {
        "missing": (["--encoder", tmp_path / "nope.pt", *ds], f"--encoder {tmp_path / 'nope.pt'}: no such file"),
        "garbage": (["--encoder", tmp_path / "garbage.pt", *ds], "not a TorchScript or torch.export file"),
        "torch_save": (["--encoder", tmp_path / "checkpoint.pt", *ds], "a torch.save file (pickled Python objects"),
        "pickled_export": (["--encoder", pickled, *ds], "refused: its 'weight' is a pickled tensor"),
        "no_module": (["--encoder", "no_such_module:encode", *ds], "cannot import no_such_module"),
        "no_function": (["--encoder", f"{small_models / 'small_codes.py'}:nope", "--id", "x", *ds],
                        "has no 'nope'; its functions: broken, encode"),
        "no_id": (["--encoder", f"{small_models / 'small_codes.py'}:encode", *ds], "give --id NAME"),
        "raises": (["--encoder", f"{small_models / 'small_codes.py'}:broken", "--id", "x", *ds],
                   "RuntimeError: this encoder is broken"),
        "no_dataset": (["--encoder", small_models / "enc.pt"], "--encoder needs --dataset NAME"),
        "decoder_alone": ([small_models, "--decoder", small_models / "dec.pt"], "--decoder and --id go with --encoder"),
        "nothing": ([], "give RUN_DIR arguments"),
    }
    with ThreadPoolExecutor(4) as pool:  # independent processes: side by side on the cores there are
        runs = dict(zip(cases, pool.map(lambda case: _dbench("evaluate", *cases[case][0], cwd=tmp_path), cases)))
    for case, (args, needle) in cases.items():
        _one_line_exit_2(runs[case], needle)
    assert not marker.exists()
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob("*.json"))


# ---------------------------------------------------------------------------------------------- the Python API
GRID = FactorGrid(sizes=(3, 4, 5), names=("a", "b", "c"))
FAST = {"mig": {"num_train": 200}, "reconstruction": {"num_images": 50}, "beta_vae": {"num_train": 50, "num_eval": 50,
                                                                                      "batch_size": 8}}


def test_evaluate_takes_any_representation_fn_and_encodes_each_grid_image_once(tmp_path):
    seen = []

    def codes(images):  # (N, 1, 2, 2) → its pixels and noise-free log-variances, as torch tensors
        seen.append(len(images))
        flat = torch.as_tensor(images.reshape(len(images), -1))
        return flat, torch.full_like(flat, -4.0)

    def decode(z):
        return np.asarray(z).reshape(-1, 1, 2, 2) * 8.0 - 4.0

    recs = evaluate(dataset=GRID, metrics="mig,beta_vae,reconstruction", representation="mean,sampled",
                    results_dir=tmp_path, representation_fn=codes, decoder_fn=decode, run_id_override="pixels", **FAST)
    assert [(r["eval.representation"], r["eval.metric"], r["status"]) for r in recs] == [
        (k, m, "ok") for k in ("mean", "sampled") for m in ("beta_vae", "mig", "reconstruction")]
    assert sum(seen) == recs[-1]["eval.encoder_passes"] <= len(GRID)  # the probe's 2 images included, none twice
    assert recs[0]["run.encoder_kind"] == "callable" and recs[0]["run.encoder_name"].endswith(":" + codes.__qualname__)
    assert recs[0]["run.encoder_path"] == __file__ and recs[0]["run.id"] == "pixels"
    recon = next(r for r in recs if r["eval.metric"] == "reconstruction")
    assert recon["run.decoder_kind"] == "callable" and recon["metric.reconstruction.mse"] < 0.01

    with pytest.raises(ValueError, match="needs a name for its records: give run_id_override"):
        evaluate(dataset=GRID, metrics="mig", representation_fn=codes, **FAST)
    with pytest.raises(ValueError, match="must be a plain folder name"):
        evaluate(dataset=GRID, metrics="mig", representation_fn=codes, run_id_override="../escape", **FAST)
    with pytest.raises(ValueError, match="no sampled representation"):
        evaluate(dataset=GRID, metrics="mig", representation="sampled", run_id_override="m",
                 representation_fn=lambda images: images.reshape(len(images), -1), **FAST)
    with pytest.raises(ValueError, match=r"returned \(3,\) for images of shape \(2, 1, 2, 2\)"):
        evaluate(dataset=GRID, metrics="mig", run_id_override="m", representation_fn=lambda images: np.zeros(3), **FAST)
    with pytest.raises(ValueError, match="give dataset="):
        evaluate(metrics="mig", run_id_override="m", representation_fn=codes)
    with pytest.raises(ValueError, match="not both"):
        evaluate(tmp_path, dataset=GRID, representation_fn=codes, run_id_override="m")
