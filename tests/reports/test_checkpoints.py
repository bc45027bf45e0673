"""Checkpoint figures in the report: drawn from real run directories, skipped with a note otherwise."""

import numpy as np

from benchmark import views
from benchmark.reports.report import write_report
from report_records import make_record, write_record


def _records(d, run_dirs):
    for seed, run_dir in enumerate(run_dirs):
        write_record(d, make_record(run_id=f"run-s{seed}", metric="mig", seed=seed, hparam=4.0, steps=5,
                                    run_dir=str(run_dir), values={"mig": 0.1 + 0.1 * seed}))


def test_runs_without_usable_checkpoints_are_skipped_with_a_note(tmp_path):
    empty = tmp_path / "runs" / "s0"
    empty.mkdir(parents=True)  # exists, but holds no checkpoint
    _records(tmp_path / "res", [empty, tmp_path / "runs" / "gone"])
    res = write_report(tmp_path / "res", tmp_path / "out", formats=("html",), jobs=1,
                       checkpoint_views=views.checkpoint_views)
    page = res.html.read_text()
    assert "1 of 2 chosen runs (best and worst seed of each setting by mig) have no checkpoint directory" in page
    assert "run-s1" in page
    # the run whose directory exists but cannot be loaded gets its own note
    assert "run-s0: checkpoint figures skipped" in page
    assert not (tmp_path / "out" / "figures" / "checkpoints").exists()


def test_traversals_and_reconstructions_from_a_trained_run(tmp_path):
    from benchmark import training

    run_dirs = []
    for seed in range(2):
        run_dir = tmp_path / "runs" / f"s{seed}"
        training.train({"dataset": "dsprites_procedural", "model": "beta_vae", "beta": 4.0, "steps": 3,
                        "batch_size": 8, "seed": seed, "num_latents": 4, "device": "cpu",
                        "checkpoint_every": 3, "log_every": 1}, run_dir, progress=False)
        run_dirs.append(run_dir)
    _records(tmp_path / "res", run_dirs)
    res = write_report(tmp_path / "res", tmp_path / "out", formats=("html",), jobs=1,
                       checkpoint_views=views.checkpoint_views)
    figs = tmp_path / "out" / "figures" / "checkpoints"
    names = sorted(p.name for p in figs.iterdir())
    assert names == sorted(f"{kind}__{which}__run-s{s}__{width}.{ext}" for kind in ("traversal", "reconstructions")
                           for which, s in (("best", 1), ("worst", 0)) for width in ("1col", "2col")
                           for ext in ("pdf", "png"))
    page = res.html.read_text()
    assert page.count("<b>Latent traversal, run-s") == 2 and page.count("<b>Inputs and reconstructions, run-s") == 2
    assert "checkpoint figures skipped" not in page

    # without a model opener the report names what it skipped and draws nothing
    res = write_report(tmp_path / "res", tmp_path / "bare", formats=("html",), jobs=1)
    assert "Checkpoint figures of 2 run(s) skipped: no model opener was given" in res.html.read_text()
    assert not (tmp_path / "bare" / "figures" / "checkpoints").exists()

    # the arrays behind the figures: 8 images drawn as the report draws them, 4 latents sorted by KL
    v = views.checkpoint_views(run_dirs[0], 8, np.random.default_rng(0))
    model, config = training.load_model(run_dirs[0])
    dataset = training.open_dataset(config)
    np.testing.assert_array_equal(v.images, dataset.images(np.sort(np.random.default_rng(0).choice(
        len(dataset), size=8, replace=False))))
    assert v.reconstructions.shape == v.images.shape == (8, 1, 64, 64)
    np.testing.assert_allclose(v.reconstructions, views.reconstructions(model, v.images))
    assert v.traversals.shape == (4, 9, 1, 64, 64) and sorted(v.dims) == [0, 1, 2, 3]
    assert list(v.values) == list(np.linspace(-2, 2, 9)) and np.all(np.diff(v.kl) <= 0)
    assert ((v.traversals >= 0) & (v.traversals <= 1)).all()
