"""Print the README's measured tables from the benchmarks' JSON.

The calibration table comes from ``benchmarks/results/calibration.json``, the
cost table from ``bench_core.json``. The README's numbers are copied from this
output (``tests/test_readme.py`` checks that they still match the JSON), so a
claim in the README always comes from a benchmark run.
"""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = (
    ("heldout_debates", "tfidf"),
    ("heldout_debates", "minilm"),
    ("heldout_pairs", "tfidf"),
    ("heldout_pairs", "minilm"),
)
#: README row label -> (method id in calibration.json, vote); None: noise floor.
ROWS = {
    "ensemble, default `PairwiseCalibratedEnsemble()`, hard votes": (
        "pce_default",
        "hard",
    ),
    "ensemble, `PairwiseCalibratedEnsembleCV` (alpha, taste, k by CV), hard votes": (
        "pce_cv_grid",
        "hard",
    ),
    'ensemble, `vote="soft"`': ("pce_soft", "soft"),
    'stagewise members (`members="stagewise"` defaults), k by CV': (
        "pce_stagewise",
        "hard",
    ),
    "paper FSAM (`residual`, no backfitting), k by CV": ("pce_paper_fsam", "hard"),
    "one soft Bradley-Terry reward, probability": ("soft_bt", "soft"),
    "one soft Bradley-Terry reward, alpha by CV, probability": ("soft_bt_cv", "soft"),
    "one soft Bradley-Terry reward, hard vote (one policy)": ("soft_bt", "hard"),
    "noise floor (no predictor goes below)": None,
}


def table(results):
    """Markdown rows (without the header) of the README's calibration table."""
    lines = []
    for label, source in ROWS.items():
        cells = []
        for protocol, features in COLUMNS:
            column = results["protocols"][protocol]["features"][features]
            if source is None:
                value = column["noise_floor_ratio"]
            else:
                method, vote = source
                value = column["methods"][method]["outputs"][vote]["ratio_to_floor"]
            cells.append(f"{value:.3f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


#: README row label -> model name in bench_core.json's "fits".
COST_ROWS = {
    "`PairwiseCalibratedEnsemble()` (population, 64 members)": "population default",
    '`members="stagewise"` defaults (weighted, n_backfit=3, 6 fits per stage)': (
        "stagewise, new defaults"
    ),
    "previous stagewise defaults (auto, n_backfit=5, no budget)": (
        "stagewise, old defaults"
    ),
}


def cost_table(results):
    """Markdown rows (without the header) of the README's cost table."""
    fits = results["fits"]
    lines = []
    for label, name in COST_ROWS.items():
        model = fits["models"][name]
        lines.append(
            f"| {label} | {model['n_estimators']} | {model['n_member_fits']} | "
            f"{model['over_plain']:.2f}x | {model['heldout_error']:.4f} |"
        )
    return lines


def cost_lines(results):
    """The README's sentences on choosing k and prediction, from bench_core.json."""
    k, predict = results["choosing_k"], results["predict"]
    pop, sw = k["population"], k["stagewise"]
    return [
        f"`PairwiseCalibratedEnsembleCV` chose the same k as `GridSearchCV` in "
        f"{pop['time_ratio']:.2f}x its time (population, k in {pop['ks']}) and "
        f"{sw['time_ratio']:.2f}x (stagewise, k in {sw['ks']})",
        f"`predict_proba` on {results['predict_pairs']:,} pairs, k=8 linear "
        f"members, took {predict['hard']['ratio']:.2f}x the time of the matrix "
        f"product `X @ W` (hard votes; soft: {predict['soft']['ratio']:.2f}x)",
    ]


if __name__ == "__main__":
    results = ROOT / "benchmarks" / "results"
    print("\n".join(table(json.loads((results / "calibration.json").read_text()))))
    core = json.loads((results / "bench_core.json").read_text())
    print("\n".join(cost_table(core) + cost_lines(core)))
