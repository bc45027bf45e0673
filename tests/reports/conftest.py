"""Fixtures of the reports tests: a small sweep of hand-made records."""

import pytest
from report_records import make_record, write_record


@pytest.fixture
def grid_results(tmp_path):
    """A small sweep with known numbers.

    beta_vae β=1 seeds 0,1,2: mig 0.1, 0.2, 0.6; nll 30, 20, 40
    beta_vae β=4 seeds 0,1,2: mig 0.5, 0.4, 0.3; nll 50, 60, 70 — except seed 2's reconstruction FAILED
    annealed_vae C_max=25 seeds 0,1 only (seed 2 missing): mig 0.2; nll 45, 55; seed 1 has no mig record
    annealed_vae C_max=50 seeds 0,1,2: mig 0.3, 0.35, 0.4; nll 80, 90, 100
    """
    d = tmp_path / "results"
    spec = [
        ("beta_vae", 1.0, 0, 0.1, 30.0), ("beta_vae", 1.0, 1, 0.2, 20.0), ("beta_vae", 1.0, 2, 0.6, 40.0),
        ("beta_vae", 4.0, 0, 0.5, 50.0), ("beta_vae", 4.0, 1, 0.4, 60.0), ("beta_vae", 4.0, 2, 0.3, None),
        ("annealed_vae", 25.0, 0, 0.2, 45.0), ("annealed_vae", 25.0, 1, None, 55.0),
        ("annealed_vae", 50.0, 0, 0.3, 80.0), ("annealed_vae", 50.0, 1, 0.35, 90.0), ("annealed_vae", 50.0, 2, 0.4, 100.0),
    ]
    for model, hp, seed, mig, nll in spec:
        run_id = f"{model}-{hp:g}-s{seed}-0000abcd"
        if mig is not None:
            write_record(d, make_record(run_id=run_id, metric="mig", model=model, hparam=hp, seed=seed,
                                        values={"mig": mig, "mig.shape": mig / 2},
                                        protocol={"num_train": 10_000, "num_bins": 20}))
        if nll is not None:
            write_record(d, make_record(run_id=run_id, metric="reconstruction", model=model, hparam=hp, seed=seed,
                                        values={"reconstruction.bernoulli_nll": nll, "reconstruction.mse": nll / 1000}))
        else:
            write_record(d, make_record(run_id=run_id, metric="reconstruction", model=model, hparam=hp, seed=seed,
                                        status="failed", error="ValueError: decoder produced NaN"))
    return d
