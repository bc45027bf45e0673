import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from report_records import make_record, write_record

ROOT = Path(__file__).resolve().parents[2]


def _dbench(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "benchmark", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=cwd, timeout=300)


def test_cli_report_over_two_directories(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for seed in range(3):
        write_record(a, make_record(run_id=f"r{seed}", metric="mig", seed=seed, values={"mig": 0.1 * (seed + 1)}))
        write_record(b, make_record(run_id=f"r{seed}", metric="sap", seed=seed, values={"sap": 0.05}))
    (b / "r0" / "mean__dci.json").write_text("{not json")
    out = tmp_path / "report"
    proc = _dbench("report", a, b, "--out", out, "--format", "md,csv,html", "--no-checkpoints")
    assert proc.returncode == 0, proc.stderr
    assert f"report: {out / 'report.html'}" in proc.stdout
    assert "6 records of 3 runs; 0 failed and 0 missing evaluations; 1 unreadable files" in proc.stdout
    assert f"skipped unreadable record {b / 'r0' / 'mean__dci.json'}: not valid JSON" in proc.stderr
    summary = pd.read_csv(out / "tables" / "summary.csv")
    mig = summary[summary["metric"] == "mig"].iloc[0]
    assert (mig["n"], round(mig["mean"], 6), round(mig["std"], 6)) == (3, 0.2, 0.1)
    assert (out / "tables" / "paper.md").is_file()
    assert not list((out / "tables").glob("*.tex"))  # tex not requested
    assert "mean__dci.json" in (out / "report.html").read_text()  # the page names the unreadable file too


def test_cli_metric_selection_and_errors(tmp_path):
    d = tmp_path / "r"
    for seed in range(2):
        write_record(d, make_record(run_id=f"r{seed}", metric="mig", seed=seed, values={"mig": 0.3, "mig.shape": 0.1}))
    proc = _dbench("report", d, "--out", tmp_path / "o", "--metrics", "mig.shape", "--format", "csv,md")
    assert proc.returncode == 0, proc.stderr
    assert set(pd.read_csv(tmp_path / "o" / "tables" / "summary.csv")["metric"]) == {"mig", "mig.shape"}  # every key
    assert "| method | setting | MIG (shape) ↑ |" in (tmp_path / "o" / "tables" / "paper.md").read_text()
    proc = _dbench("report", d, "--out", tmp_path / "o2", "--metrics", "dci")
    assert proc.returncode == 2 and "unknown metric 'dci'" in proc.stderr and "mig.shape" in proc.stderr
    proc = _dbench("report", tmp_path / "missing", "--out", tmp_path / "o3")
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    (tmp_path / "empty").mkdir()
    proc = _dbench("report", tmp_path / "empty", "--out", tmp_path / "o4")
    assert proc.returncode == 2 and "no result records found" in proc.stderr
    proc = _dbench("report", d, "--out", tmp_path / "o5", "--format", "docx")
    assert proc.returncode == 2 and "unknown report format(s) docx" in proc.stderr
    proc = _dbench("report", d, "--out", tmp_path / "o6", "--group-by", "dataset,nope")
    assert proc.returncode == 2 and "cannot group by nope" in proc.stderr


def test_cli_all_failed_records_fail_clearly(tmp_path):
    d = tmp_path / "r"
    write_record(d, make_record(run_id="r0", metric="mig", status="failed", error="CheckpointError: truncated"))
    proc = _dbench("report", d, "--out", tmp_path / "o")
    assert proc.returncode == 2
    assert "all 1 of 1 records are failed evaluations" in proc.stderr and "CheckpointError: truncated" in proc.stderr


def test_cli_group_by_extra_column(tmp_path):
    d = tmp_path / "r"
    for seed in range(2):
        for arch in ("conv", "mlp"):
            rec = make_record(run_id=f"{arch}{seed}", metric="mig", seed=seed, values={"mig": 0.2 + 0.1 * seed})
            rec["config.architecture"] = arch
            write_record(d, rec)
    out = tmp_path / "o"
    proc = _dbench("report", d, "--out", out, "--group-by", "dataset,model,hparam,config.architecture,representation",
                   "--format", "md,csv", "--no-checkpoints")
    assert proc.returncode == 0, proc.stderr
    summary = pd.read_csv(out / "tables" / "summary.csv")
    assert sorted(summary["config.architecture"]) == ["conv", "mlp"] and list(summary["n"]) == [2, 2]
    paper_md = (out / "tables" / "paper.md").read_text()
    assert "| beta\\_vae | β = 4, architecture = conv | 0.25 ± 0.07 |" in paper_md
    assert "|  | β = 4, architecture = mlp | 0.25 ± 0.07 |" in paper_md
    assert "| method | setting | MIG ↑ | mean rank |" in (out / "tables" / "ranking.md").read_text()


def test_one_bad_record_never_sinks_the_report(tmp_path):
    """Records of the wrong type or shape are skipped and listed; names from records reach no mathtext or HTML."""
    res = tmp_path / "results"
    for seed in range(3):
        write_record(res, make_record(run_id=f"r{seed}", metric="mig", seed=seed, values={"mig": 0.1 * (seed + 1)},
                                      dataset="$\\nosuchmacro$ <img src=x onerror=alert(1)>"))
    bad = {
        "string_value": {"metric.mig": "high"}, "list_run_id": {"run.id": ["a", "b"]},
        "int_metric_name": {"eval.metric": 3}, "bool_value": {"metric.mig": True},
    }
    for name, change in bad.items():
        rec = {**make_record(run_id=name, metric="mig", values={"mig": 0.5}), **change}
        path = res / name / "mean__mig.json"
        path.parent.mkdir(parents=True)
        path.write_text(__import__("json").dumps(rec))
    out = tmp_path / "report"
    proc = _dbench("report", res, "--out", out, "--format", "md,html,csv,tex", "--no-checkpoints")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "3 records of 3 runs" in proc.stdout and "4 unreadable files" in proc.stdout
    for name in bad:
        assert f"{res / name / 'mean__mig.json'}:" in proc.stderr
    assert "metric.mig must be a number" in proc.stderr and "run.id must be a str" in proc.stderr
    md = (out / "tables" / "paper.md").read_text()
    assert "<img" not in md and "&lt;img" in md
    assert "onerror=alert(1)>" not in (out / "report.html").read_text()  # escaped: &lt;img src=x onerror=alert(1)&gt;


def test_a_reused_out_keeps_no_figure_of_an_earlier_report_and_bad_limits_fail(tmp_path):
    res, out = tmp_path / "results", tmp_path / "report"
    for seed in range(3):
        write_record(res, make_record(run_id=f"r{seed}", metric="mig", seed=seed, values={"mig": 0.1 * (seed + 1)}))
    old = out / "figures" / "metric__sap__mean.png"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"a figure of other records")
    keep = out / "notes.txt"  # not the report's: left alone
    keep.write_text("mine")
    proc = _dbench("report", res, "--out", out, "--no-checkpoints")
    assert proc.returncode == 0, proc.stderr
    assert not old.exists() and keep.read_text() == "mine" and list((out / "figures").glob("*.png"))
    bad = _dbench("report", res, "--out", out, "--max-checkpoint-runs", "-1")
    assert bad.returncode == 2 and "--max-checkpoint-runs must be >= 0, got -1" in bad.stderr
