import math
import re
import shutil
import subprocess

import numpy as np
import pytest

from benchmark.metrics import direction
from benchmark.reports import load_results, runs_table
from benchmark.reports import paper as P
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


def _paper(agg, fmt):
    return P.paper_tables(agg, fmt)


def test_tables_show_failed_and_missing_counts(runs):
    (table,) = _paper(T.aggregate(runs, metrics=T.paper_metrics(runs)), "md")
    assert table.keys == ["mig", "reconstruction.bernoulli_nll"]  # the paper keys present
    assert "Left out: 1 failed evaluation and 3 missing evaluations (tables/failures.csv)." in table.caption
    rows = {r.label: r.cells for _, rows in table.groups for r in rows}
    assert rows["C\\_max = 25"] == ["0.20 (n=1)", "50 ± 7 (n=2)"]  # one mig value of three seeds; two NLLs
    assert rows["β = 4"][1] == "55 ± 7 (n=2)"  # the failed reconstruction


def test_bold_marks_best_in_the_metric_direction(runs):
    agg = T.aggregate(runs, metrics=T.paper_metrics(runs))
    (table,) = _paper(agg, "tex")
    bold = {k: [r.label for _, rows in table.groups for r in rows if r.bold[i]] for i, k in enumerate(table.keys)}
    assert bold == {"mig": [r"$\beta$\,=\,4"], "reconstruction.bernoulli_nll": [r"$\beta$\,=\,1"]}  # 0.4; 30
    tex = P.to_latex(table)
    assert r"\textbf{0.40\,$\pm$\,0.10}" in tex and r"\textbf{30\,$\pm$\,10}" in tex
    assert "MIG $\\uparrow$" in tex and r"\begin{tabular}[b]{@{}c@{}}Recon.\\NLL $\downarrow$\end{tabular}" in tex
    # methods in the registry's order, each a group row above its settings
    assert tex.index(r"\textit{beta\_vae}") < tex.index(r"\textit{annealed\_vae}")


def test_one_setting_is_never_bold_and_one_seed_is_singular(tmp_path):
    d = tmp_path / "r"
    write_record(d, make_record(run_id="r0", metric="mig", values={"mig": 0.3}))
    agg = T.aggregate(runs_table(load_results(d)))
    (table,) = _paper(agg, "tex")
    assert table.groups[0][1][0].bold == [False]
    assert "over 1 seed per setting." in table.caption and "Bold" not in table.caption
    tex = P.to_latex(table)
    assert r"\textbf" not in tex and "0.30" in tex


def test_latex_is_compile_safe(tmp_path):
    d = tmp_path / "r"
    for s, v in enumerate((0.1, 0.3)):
        write_record(d, make_record(run_id=f"r{s}", metric="mig_sampled", seed=s, dataset="dsprites_procedural",
                                    values={"mig_sampled": v, "mig_sampled.pos_x": v}))
    runs = runs_table(load_results(d))
    runs.loc[0, "dataset"] = "weird_name & 100% #1 {x}~^"
    agg = T.aggregate(runs, metrics=["mig_sampled"])
    tex = "\n".join(P.to_latex(t) for t in P.paper_tables(agg, "tex"))
    tex += "\n".join(P.to_latex(t) for t in P.ranking_tables(T.ranking(agg), agg.attrs["group_by"], "tex"))
    assert r"\begin{tabular}[b]{@{}c@{}}MIG\\(sampled) $\uparrow$\end{tabular}" in tex
    assert r"weird\_name \& 100\% \#1 \{x\}\textasciitilde{}\textasciicircum{}" in tex
    assert r"dsprites\_procedural" in tex and r"\resizebox" not in tex
    assert P.latex_ascii(tex)  # every non-ASCII character became a LaTeX command
    # outside math and commands, no LaTeX special character is left unescaped
    text = re.sub(r"\$[^$]*\$", "", tex)
    text = re.sub(r"(?m)^%.*$", "", text)
    text = re.sub(r"\\label\{[^}]*\}", "", text)  # labels may hold underscores
    assert not re.search(r"(?<!\\)[_%#]", text)
    if shutil.which("pdflatex"):
        doc = tmp_path / "t.tex"
        doc.write_text("\\documentclass[twocolumn]{article}\\usepackage{booktabs}\\begin{document}\n" + tex
                       + "\n\\end{document}\n")
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


def test_caption_states_statistic_and_seed_count(runs):
    (table,) = _paper(T.aggregate(runs), "text")
    assert table.caption.startswith("dsprites_procedural, mean representation: mean ± sample standard deviation over "
                                    "3 seeds per setting; a cell from fewer seeds shows its count.")
    (table,) = _paper(T.aggregate(runs[runs["model"] == "beta_vae"], metrics=["mig"]), "text")
    assert "over 3 seeds per setting. Bold" in table.caption


def test_paper_metrics_are_the_papers_set():
    runs = runs_table(_synthetic_runs())
    assert T.paper_metrics(runs) == ["beta_vae.eval_accuracy", "factor_vae.eval_accuracy", "mig", "dci.disentanglement",
                                     "sap", "modularity", "reconstruction.bernoulli_nll"]
    assert [T.paper_label(k) for k in T.paper_metrics(runs)] == [
        "β-VAE score ↑", "FactorVAE score ↑", "MIG ↑", "DCI-D ↑", "SAP ↑", "Modularity ↑", "Recon. NLL ↓"]
    assert T.paper_metrics(runs, ["mig", "dci"]) == ["mig", "dci.disentanglement", "dci.completeness",
                                                      "dci.informativeness_test"]


def _synthetic_runs():
    import tempfile

    from benchmark.reports.synthetic import write_synthetic_results

    d = tempfile.mkdtemp(prefix="dbench-paper-")
    write_synthetic_results(d, datasets=("dsprites_procedural",), models=("beta_vae",), seeds=1, representations=("mean",))
    return load_results(d)


def test_more_metrics_than_a_table_holds_split_over_tables(runs):
    agg = T.aggregate(runs, metrics=["all"])
    tables = _paper(agg, "md")
    assert [len(t.keys) for t in tables] == [len(agg.attrs["metrics"])]  # 4 keys: one table
    many = runs.assign(**{f"metric.extra{i}": 0.1 * i for i in range(8)})
    tables = _paper(T.aggregate(many, metrics=[f"extra{i}" for i in range(8)] + ["mig"]), "md")
    assert [len(t.keys) for t in tables] == [7, 2] and tables[1].stem.endswith("__2")


def test_variance_shares_split_the_sum_of_squares(runs):
    shares = T.variance_shares(runs, ["mig"])
    beta = shares[(shares["model"] == "beta_vae")].iloc[0]
    # β = 1: 0.1, 0.2, 0.6 (mean 0.3); β = 4: 0.5, 0.4, 0.3 (mean 0.4); grand mean 0.35
    ss_between = 3 * 0.05 ** 2 * 2
    ss_total = sum((x - 0.35) ** 2 for x in (0.1, 0.2, 0.6, 0.5, 0.4, 0.3))
    assert beta["hparam_share"] == pytest.approx(ss_between / ss_total)
    assert beta["seed_share"] == pytest.approx(1 - ss_between / ss_total)
    assert (beta["n_runs"], beta["n_settings"]) == (6, 2)
    assert set(shares["model"]) == {"beta_vae", "annealed_vae", "all methods"}


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
    md = P.to_markdown(_paper(agg, "md")[0])
    assert "| my\\_vae | — | 0.10 ± 0.10 |" in md  # after the registered methods
    assert md.index("| beta\\_vae |") < md.index("| my\\_vae |")
    assert list(T.ranking(agg)["model"]) == ["beta_vae", "my_vae"]
