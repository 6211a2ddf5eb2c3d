"""Print the README's calibration table from ``benchmarks/results/calibration.json``.

The README's numbers are copied from this output (``tests/test_readme.py``
checks that they still match the JSON), so a claim in the README always comes
from a benchmark run.
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
    "stagewise members (previous default: auto, n_backfit=5), k by CV": (
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


if __name__ == "__main__":
    path = ROOT / "benchmarks" / "results" / "calibration.json"
    print("\n".join(table(json.loads(path.read_text()))))
