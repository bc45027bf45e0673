"""Checkpoint figures in the report: drawn from real run directories, skipped with a note otherwise."""

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
    res = write_report(tmp_path / "res", tmp_path / "out", formats=("html",), jobs=1)
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
    res = write_report(tmp_path / "res", tmp_path / "out", formats=("html",), jobs=1)
    figs = tmp_path / "out" / "figures" / "checkpoints"
    names = sorted(p.name for p in figs.iterdir())
    assert names == sorted(f"{kind}__{which}__run-s{s}.{ext}" for kind in ("traversal", "reconstructions")
                           for which, s in (("best", 1), ("worst", 0)) for ext in ("pdf", "png"))
    page = res.html.read_text()
    assert page.count("<b>Latent traversal, run-s") == 2 and page.count("<b>Inputs and reconstructions, run-s") == 2
    assert "checkpoint figures skipped" not in page
