"""The sweep driver's status lines say which metric a trial is evaluating and how far it is."""

import io
import types

from benchmark.sweeps.progress import Progress
from benchmark.sweeps.spec import parse_spec

from test_sweep_tune import tiny_spec


def test_an_evaluating_trial_shows_its_metric_and_count_instead_of_its_last_step(tmp_path):
    spec = parse_spec(tiny_spec(tmp_path))
    trials = [types.SimpleNamespace(status="RUNNING", config={"trial": t.to_dict()}) for t in spec.trials()[:2]]
    out = io.StringIO()
    progress = Progress(spec, out, interval_s=0.0)
    progress.on_trial_result(0, trials, trials[0], {"phase": "train", "step": 20, "loss": 12.5})
    progress.on_trial_result(0, trials, trials[1], {"phase": "evaluate", "step": 40,
                                                   "evaluating": "sampled/dci fits 3/5"})
    last = out.getvalue().splitlines()[-2:]
    assert last[0].endswith(": train step 20/40 loss 12.50")
    assert last[1].endswith(": evaluate sampled/dci fits 3/5")
