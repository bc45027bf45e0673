import math
import re
import shutil
import subprocess

import numpy as np
import pytest

from benchmark.metrics import direction
from benchmark.reports import load_results, runs_table
from benchmark.reports import tables as T
from report_records import make_record, write_record


@pytest.fixture
def runs(grid_results):
    return runs_table(load_results(grid_results))


def _row(agg, model, hp, metric):
    sel = agg[(agg["model"] == model) & (agg["hparam"] == hp) & (agg["metric"] == metric)]
    assert len(sel) == 1
    return sel.iloc[0]


def test_aggregate_hand_computed_statistics(runs):
    agg = T.aggregate(runs)
    r = _row(agg, "beta_vae", 1.0, "mig")  # seeds 0.1, 0.2, 0.6
    assert r["n"] == 3
    assert r["mean"] == pytest.approx(0.3)
    assert r["std"] == pytest.approx(math.sqrt((0.2**2 + 0.1**2 + 0.3**2) / 2))  # sample std, ddof = 1
    assert r["median"] == pytest.approx(0.2)
    assert (r["q25"], r["q75"], r["iqr"]) == pytest.approx((0.15, 0.4, 0.25))  # linear interpolation
    assert (r["min"], r["max"]) == pytest.approx((0.1, 0.6))
    r = _row(agg, "beta_vae", 1.0, "reconstruction.bernoulli_nll")  # 30, 20, 40
    assert (r["n"], r["mean"], r["std"], r["median"], r["q25"], r["q75"]) == pytest.approx((3, 30, 10, 30, 25, 35))
    r = _row(agg, "beta_vae", 4.0, "reconstruction.bernoulli_nll")  # 50, 60, and a failed evaluation
    assert (r["n"], r["mean"], r["std"], r["n_failed"], r["n_missing"]) == pytest.approx((2, 55, math.sqrt(50), 1, 0))
    r = _row(agg, "annealed_vae", 25.0, "mig")  # one value; seed 1 lacks a mig record, seed 2 lacks the run
    assert r["n"] == 1 and r["mean"] == pytest.approx(0.2) and np.isnan(r["std"])
    assert (r["n_failed"], r["n_missing"]) == (0, 2)
    r = _row(agg, "annealed_vae", 25.0, "reconstruction.bernoulli_nll")
    assert (r["n"], r["n_missing"]) == (2, 1)
    assert list(dict.fromkeys(agg["metric"])) == ["mig", "reconstruction.bernoulli_nll", "reconstruction.mse"]


def test_failed_and_missing_evaluations_are_listed(runs):
    p = T.problems_table(runs)
    failed = p[p["kind"] == "failed"]
    assert len(failed) == 1
    assert failed.iloc[0]["run"] == "beta_vae-4-s2-0000abcd" and failed.iloc[0]["metric"] == "reconstruction"
    assert "decoder produced NaN" in failed.iloc[0]["detail"]
    missing = p[p["kind"] == "missing"]
    got = sorted((r["hparam"], r["seed"], r["metric"]) for _, r in missing.iterrows())
    assert got == [(25.0, 1, "mig"), (25.0, 2, "mig"), (25.0, 2, "reconstruction")]


def test_tables_show_failed_and_missing_counts(runs):
    md = T.to_markdown(T.aggregate(runs))
    lines = {ln.split("|")[2].strip(): ln for ln in md.splitlines() if ln.startswith("| ")}
    assert "| 1 / 0 |" in lines["β = 4"]
    assert "| 0 / 3 |" in lines["C\\_max = 25"]
    assert "Failed / missing metric values in this table: 1 / 3" in md


def test_bold_marks_best_in_the_metric_direction(runs):
    agg = T.aggregate(runs)
    tex = T.to_latex(agg)
    rows = [ln for ln in tex.splitlines() if ln.endswith(r"\\") and "&" in ln and "toprule" not in ln]
    body = rows[1:]  # the first is the header
    by_setting = {ln.split(" & ")[1]: ln.split(" & ") for ln in body}
    header = rows[0].split(" & ")
    mig_col = header.index(r"mig $\uparrow$")
    nll_col = next(i for i, h in enumerate(header) if h.startswith(r"reconstruction.bernoulli\_nll"))
    assert header[nll_col].endswith(r"$\downarrow$")
    bold_mig = [s for s, cells in by_setting.items() if cells[mig_col].startswith(r"\textbf")]
    bold_nll = [s for s, cells in by_setting.items() if cells[nll_col].startswith(r"\textbf")]
    assert bold_mig == [r"$\beta$ = 4"]  # highest mean MIG, 0.4
    assert bold_nll == [r"$\beta$ = 1"]  # lowest mean NLL, 30
    md = T.to_markdown(agg, "median_iqr")
    assert "**0.400 [0.350, 0.450]**" in md  # β = 4 median MIG is the best median


def test_latex_is_compile_safe(tmp_path):
    d = tmp_path / "r"
    for s, v in enumerate((0.1, 0.3)):
        write_record(d, make_record(run_id=f"r{s}", metric="mig_sampled", seed=s, dataset="dsprites_procedural",
                                    values={"mig_sampled": v, "mig_sampled.pos_x": v}))
    runs = runs_table(load_results(d))
    runs.loc[0, "dataset"] = "weird_name & 100% #1 {x}~^"
    agg = T.aggregate(runs, metrics=["mig_sampled"])
    tex = T.to_latex(agg) + T.ranking_latex(T.ranking(agg))
    assert r"mig\_sampled $\uparrow$" in tex
    assert r"weird\_name \& 100\% \#1 \{x\}\textasciitilde{}\textasciicircum{}" in tex
    assert r"dsprites\_procedural" in tex
    # outside math and commands, no LaTeX special character is left unescaped
    text = re.sub(r"\$[^$]*\$", "", tex)
    text = re.sub(r"(?m)^%.*$", "", text)
    text = re.sub(r"\\label\{[^}]*\}", "", text)  # labels may hold underscores
    text = re.sub(r"(?m)\{%$", "{", text)  # the deliberate end-of-line comment after \resizebox{...}{!}{
    assert not re.search(r"(?<!\\)[_%#]", text)
    for line in tex.splitlines():
        if line.endswith(r"\\"):
            ncols = re.search(r"\{tabular\}\{(\w+)\}", tex).group(1)
            assert line.count(" & ") == len(ncols) - 1 or "mean\\_rank" in tex
    if shutil.which("pdflatex"):
        doc = tmp_path / "t.tex"
        doc.write_text("\\documentclass{article}\\usepackage{booktabs,graphicx}\\usepackage[utf8]{inputenc}"
                       "\\begin{document}\n" + tex + "\n\\end{document}\n")
        res = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stdout[-2000:]


def test_latex_and_markdown_escape_helpers():
    assert T.latex_escape("mig_sampled") == r"mig\_sampled"
    assert T.latex_escape("dsprites_procedural") == r"dsprites\_procedural"
    assert T.markdown_escape("a|b_c*") == r"a\|b\_c\*"


def test_direction_and_labels():
    assert direction("metric.mig") == 1 and direction("dci.disentanglement") == 1
    assert direction("reconstruction.bernoulli_nll") == -1 and direction("reconstruction.mse") == -1
    assert direction("unsupervised.gaussian_total_correlation") == -1
    assert direction("factor_vae.num_active_dims") == 0
    assert T.metric_label("mig") == "mig ↑" and T.metric_label("reconstruction.mse", "tex").endswith(r"$\downarrow$")


def test_caption_states_statistic_ddof_and_seed_count(runs):
    md = T.to_markdown(T.aggregate(runs))
    assert "Mean ± sample standard deviation (ddof = 1) over 2–3 seeds (column n) per setting" in md
    md = T.to_markdown(T.aggregate(runs[runs["model"] == "beta_vae"]))
    assert "over 3 seeds per setting" in md


def test_ranking_follows_direction(runs):
    rank = T.ranking(T.aggregate(runs))
    by = {(r["model"], r["hparam"]): r for _, r in rank.iterrows()}
    assert [by[k]["mig"] for k in [("beta_vae", 4.0), ("annealed_vae", 50.0), ("beta_vae", 1.0), ("annealed_vae", 25.0)]] == [1, 2, 3, 4]
    assert by[("beta_vae", 1.0)]["reconstruction.bernoulli_nll"] == 1
    assert by[("annealed_vae", 50.0)]["reconstruction.bernoulli_nll"] == 4
    assert rank["mean_rank"].is_monotonic_increasing


def test_select_metrics(runs):
    assert T.select_metrics(runs) == ["mig", "reconstruction.bernoulli_nll", "reconstruction.mse"]
    assert T.select_metrics(runs, ["mig"]) == ["mig"]
    assert "mig.shape" in T.select_metrics(runs, ["all"])
    assert T.select_metrics(runs, ["reconstruction"]) == ["reconstruction.bernoulli_nll", "reconstruction.mse"]
    with pytest.raises(ValueError, match="unknown metric 'dci'.*mig.shape"):
        T.select_metrics(runs, ["dci"])


def test_group_by_extra_column_and_bad_column(runs):
    agg = T.aggregate(runs, group_by=["dataset", "model", "hparam", "representation", "config.architecture"])
    assert "config.architecture" in agg.columns
    with pytest.raises(ValueError, match="cannot group by nope"):
        T.aggregate(runs, group_by=["nope"])


def test_method_without_a_registered_hyperparameter(tmp_path):
    # a plugin's runs reported without loading the plugin: grouped by name, no study axis known
    d = tmp_path / "r"
    for s in range(3):
        write_record(d, make_record(run_id=f"f{s}", metric="mig", model="my_vae", seed=s, values={"mig": 0.1 * s}))
        write_record(d, make_record(run_id=f"b{s}", metric="mig", model="beta_vae", seed=s, values={"mig": 0.2 * s}))
    runs = runs_table(load_results(d))
    agg = T.aggregate(runs)
    assert _row(agg, "beta_vae", 4.0, "mig")["mean"] == pytest.approx(0.2)
    fv = agg[agg["model"] == "my_vae"].iloc[0]
    assert np.isnan(fv["hparam"]) and fv["n"] == 3 and fv["mean"] == pytest.approx(0.1)
    md = T.to_markdown(agg)
    assert "| my\\_vae | — | 3 | 0 / 0 | 0.100 ± 0.100 |" in md
    assert list(T.ranking(agg)["model"]) == ["beta_vae", "my_vae"]
