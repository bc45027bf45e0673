"""Protocol deviations: every recorded value that differs from the reference, in one warning, beside the reference."""

import pytest

from benchmark.metrics import METRICS, PROTOCOLS
from benchmark.reports import load_results, runs_table
from benchmark.reports.html import comparability_warnings
from benchmark.reports.protocol import deviation_warning, deviations
from benchmark.reports.report import write_report
from benchmark.reports.synthetic import write_synthetic_results
from report_records import make_record, write_record


def _runs(d):
    return runs_table(load_results(d))


def test_a_reduced_dci_sample_size_is_named_with_its_reference(tmp_path):
    d = tmp_path / "r"
    for seed in range(3):
        dci = make_record(run_id=f"r{seed}", metric="dci", seed=seed, steps=2_000, values={"dci.disentanglement": 0.3},
                          protocol={"num_train": 500, "num_test": 5_000, "classifier": "gradient_boosting"})
        mig = make_record(run_id=f"r{seed}", metric="mig", seed=seed, steps=2_000, values={"mig": 0.2},
                          protocol={"num_train": 10_000, "num_bins": 20})
        for rec in (dci, mig):
            rec["config.lr"] = 5e-4 if seed == 0 else 1e-4  # one run trained at another learning rate
            write_record(d, rec)
    runs = _runs(d)
    assert [x.text() for x in deviations(runs)] == [
        "dci.num_train 500 (reference 10,000)", "lr 0.0005 (reference 0.0001) in 1 of 3 runs",
        "steps 2,000 (reference 300,000)"]
    assert METRICS["dci"].defaults["num_train"] == 10_000  # the reference is the metric's DEFAULTS
    warning = deviation_warning(runs)
    assert warning.startswith("Protocol deviations from the reference (Locatello et al. 2019): dci.num_train 500 "
                              "(reference 10,000); lr 0.0005")
    assert [w for w in comparability_warnings(runs) if "deviation" in w] == [warning]  # one warning for all
    page = write_report(d, tmp_path / "out", formats=("html",), checkpoint_figures=False, jobs=1).html.read_text()
    assert "dci.num_train 500 (reference 10,000)" in page
    assert "<code>dci.num_train</code></td><td><b>500</b></td><td>10000</td>" in page  # the protocol table


def test_the_quick_protocol_and_a_fixed_hyperparameter_are_deviations(tmp_path):
    write_synthetic_results(tmp_path, datasets=("dsprites_procedural",), models=("annealed_vae",), seeds=1,
                            representations=("mean",), metrics=("dci", "reconstruction"), steps=1_000, protocol="quick")
    runs = _runs(tmp_path)
    texts = [x.text() for x in deviations(runs)]
    quick = PROTOCOLS["quick"]
    assert f"dci.num_train {quick['dci']['num_train']} (reference 10,000)" in texts
    assert f"reconstruction.num_images {quick['reconstruction']['num_images']} (reference 10,000)" in texts
    assert "steps 1,000 (reference 300,000)" in texts
    assert not any(t.startswith("dci.classifier") for t in texts)  # the same as the reference
    runs.loc[runs.index[0], "config.c_anneal_steps"] = 500  # the study fixes T = 100,000
    assert "annealed_vae c_anneal_steps 500 (reference 100,000) in 1 of 6 runs" in [x.text() for x in deviations(runs)]


def test_the_reference_protocol_has_no_deviation(tmp_path):
    write_synthetic_results(tmp_path, datasets=("dsprites_procedural",), models=("beta_vae",), seeds=1,
                            representations=("mean",), metrics=("mig", "sap"))
    runs = _runs(tmp_path)
    assert deviations(runs) == [] and deviation_warning(runs) is None
    with pytest.raises(StopIteration):
        next(w for w in comparability_warnings(runs) if "deviation" in w)
