"""`dbench datasets list|show|check` in a real subprocess, and the preview grid behind `show`."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _files_helpers import dsprites_arrays, shapes3d_arrays, write_dsprites_npz, write_shapes3d_h5

from benchmark.datasets import get
from benchmark.datasets.preview import factor_sweep, sweep_columns

ROOT = Path(__file__).resolve().parents[2]


def dbench(*args, data_dir, cache_dir=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DBENCH_DATA_DIR": str(data_dir),
           "DBENCH_CACHE_DIR": str(cache_dir or data_dir), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "benchmark", "datasets", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_list_reports_factors_source_and_files(tmp_path):
    r = dbench("list", data_dir=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = {line.split()[0]: line for line in r.stdout.splitlines()[1:]}
    assert sorted(lines) == ["color_dsprites", "color_dsprites_procedural", "dsprites", "dsprites_procedural",
                             "noisy_dsprites", "noisy_dsprites_procedural", "shapes3d", "shapes3d_procedural"]
    assert "shape=3 scale=6 orientation=40 posX=32 posY=32" in lines["dsprites_procedural"]
    assert "floor_hue=10 wall_hue=10 object_hue=10 scale=8 shape=4 orientation=15" in lines["shapes3d"]
    assert "procedural stand-in" in lines["shapes3d_procedural"]
    assert f"no: put 3dshapes.h5 in {tmp_path}" in lines["shapes3d"]
    write_shapes3d_h5(tmp_path / "3dshapes.h5", *shapes3d_arrays()[:2])
    r = dbench("list", data_dir=tmp_path)
    line = next(x for x in r.stdout.splitlines() if x.startswith("shapes3d "))
    assert f"yes: {tmp_path / '3dshapes.h5'}" in line


def test_check_valid_and_broken_files(tmp_path):
    path = write_dsprites_npz(tmp_path / "d.npz", *dsprites_arrays())
    r = dbench("check", "dsprites", "--path", str(path), data_dir=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"OK dsprites: {path}" in r.stdout and "images: 144 x (1, 64, 64)" in r.stdout
    assert "posX           3 classes" in r.stdout and "NOT the official grid" in r.stdout
    bad = tmp_path / "bad.npz"
    bad.write_bytes(path.read_bytes()[:1000])
    r = dbench("check", "dsprites", "--path", str(bad), data_dir=tmp_path)
    assert r.returncode == 2 and str(bad) in r.stderr and "truncated or corrupt" in r.stderr
    r = dbench("check", "shapes3d", data_dir=tmp_path)
    assert r.returncode == 2 and "no 3dshapes.h5 in the data folder" in r.stderr and "shapes3d_procedural" in r.stderr
    r = dbench("check", "dsprites_procedural", data_dir=tmp_path)
    assert r.returncode == 2 and "not a real-file dataset" in r.stderr


def test_show_writes_png(tmp_path):
    import matplotlib.image

    out = tmp_path / "sub" / "dsprites.png"
    r = dbench("show", "dsprites_procedural", "--out", str(out), data_dir=tmp_path)
    assert r.returncode == 0, r.stderr
    img = matplotlib.image.imread(out)
    h, w = img.shape[:2]
    assert w > 2 * h > 200  # 5 factor rows, 16 columns
    assert sorted(p.name for p in out.parent.iterdir()) == ["dsprites.png"]  # atomic: no temp file left
    r = dbench("show", "nope", "--out", str(out), data_dir=tmp_path)
    assert r.returncode == 2 and "valid names" in r.stderr


def test_sweep_subsamples_long_factors():
    np.testing.assert_array_equal(sweep_columns(6), np.arange(6))
    cols = sweep_columns(40)
    assert len(cols) <= 16 and cols[0] == 0 and cols[-1] == 39 and np.all(np.diff(cols) > 0)


@pytest.mark.parametrize("name", ["dsprites_procedural", "shapes3d_procedural"])
def test_sweep_rows_vary_one_factor(name):
    ds = get(name)
    factors, shown = factor_sweep(ds)
    assert factors.shape[:2] == (ds.num_factors, 16 if name.startswith("dsprites") else 15)
    for k in range(ds.num_factors):
        row = factors[k, : len(shown[k])]
        np.testing.assert_array_equal(row[:, k], shown[k])
        others = np.delete(row, k, axis=1)
        assert (others == others[0]).all()
