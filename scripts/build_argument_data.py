"""Build the compact UKPConvArg1 copy shipped in ``pcr_sklearn/datasets/data``.

The source is the JSONL re-encoding of UKPConvArg1-full described in
``../shared/data/ukpconvarg1/PROVENANCE.md`` (one line per argument pair with
every crowd vote). The shipped file keeps every field of that source except
that argument texts are stored once (1,038 distinct texts instead of two per
pair) and pair/vote records become integer columns and one-letter codes, which
takes the package copy from ~1.1 MB to a few hundred kB.

Output is byte-for-byte deterministic (sorted keys, gzip mtime 0), so::

    python scripts/build_argument_data.py          # (re)write the package file
    python scripts/build_argument_data.py --check  # exit 1 if it is stale

The source SHA256 is recorded in the output's ``source`` metadata.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = (
    REPO.parent / "shared" / "data" / "ukpconvarg1" / "UKPConvArg1-full.votes.jsonl.gz"
)
DEFAULT_OUTPUT = REPO / "pcr_sklearn" / "datasets" / "data" / "UKPConvArg1.json.gz"
SOURCE_SHA256 = "d966aec4b70e3203627300d8df9502c676a33e29b06e16b616728555588bc1a6"

FORMAT = "pcr_sklearn.ukpconvarg1/1"

# Hand-written readable titles: the file stems are lower-cased, hyphenated and
# lose punctuation ("there-s", "comnong", "no-is-is-not"), which would make poor
# prompts for a text featuriser. Wording stays as close to the stem as possible.
DEBATE_TITLES = {
    "ban-plastic-water-bottles": "Ban plastic water bottles?",
    "christianity-or-atheism-": "Christianity or atheism?",
    "evolution-vs-creation": "Evolution vs. creation?",
    "firefox-vs-internet-explorer": "Firefox vs. Internet Explorer?",
    "gay-marriage-right-or-wrong": "Gay marriage: right or wrong?",
    "human-growth-and-development-should-parents-use-spanking-as-an-option-"
    "to-discipline-": "Human growth and development: should parents use spanking "
    "as an option to discipline?",
    "if-your-spouse-committed-murder-and-he-or-she-confided-in-you-would-you-"
    "turn-them-in-": "If your spouse committed murder and he or she confided in "
    "you, would you turn them in?",
    "india-has-the-potential-to-lead-the-world-": "India has the potential to "
    "lead the world?",
    "is-it-better-to-have-a-lousy-father-or-to-be-fatherless-": "Is it better to "
    "have a lousy father or to be fatherless?",
    "is-porn-wrong-": "Is porn wrong?",
    "is-the-school-uniform-a-good-or-bad-idea-": "Is the school uniform a good or "
    "bad idea?",
    "personal-pursuit-or-advancing-the-common-good-": "Personal pursuit or "
    "advancing the common good?",
    "pro-choice-vs-pro-life": "Pro-choice vs. pro-life?",
    "should-physical-education-be-mandatory-in-schools-": "Should physical "
    "education be mandatory in schools?",
    "tv-is-better-than-books": "TV is better than books?",
    "william-farquhar-ought-to-be-honoured-as-the-rightful-founder-of-singapore": (
        "William Farquhar ought to be honoured as the rightful founder of Singapore?"
    ),
}
STANCE_TITLES = {
    "no-bad-for-the-economy": "No, bad for the economy",
    "yes-emergencies-only": "Yes, emergencies only",
    "atheism": "Atheism",
    "christianity": "Christianity",
    "creation": "Creation",
    "evolution": "Evolution",
    "it-has-a-cute-logo-oh-and-extensions-err-add-ons": (
        "It has a cute logo. Oh, and extensions, err, add-ons"
    ),
    "there-s-more-browsers-than-the-ie-firefox-is-an-animal": (
        "There's more browsers than the IE. Firefox is an animal"
    ),
    "allowing-gay-marriage-is-right": "Allowing gay marriage is right",
    "allowing-gay-marriage-is-wrong": "Allowing gay marriage is wrong",
    "no": "No",
    "yes": "Yes",
    "no-against": "No (against)",
    "yes-for": "Yes (for)",
    "fatherless": "Fatherless",
    "lousy-father": "Lousy father",
    "no-is-is-not": "No, it is not",
    "yes-porn-is-wrong": "Yes, porn is wrong",
    "bad": "Bad",
    "good": "Good",
    "advancing-the-comnong-good": "Advancing the common good",
    "personal-pursuit": "Personal pursuit",
    "pro-choice": "Pro-choice",
    "pro-life": "Pro-life",
    "no-": "No",
    "yes-": "Yes",
    "books": "Books",
    "tv": "TV",
    "no-it-is-raffles-": "No, it is Raffles",
    "yes-of-course-": "Yes, of course",
}

# One-letter codes keep the vote columns as short strings that gzip well.
LABEL_CODES = {"a1": "a", "a2": "b", "equal": "e", None: "-"}
STANCE_CODES = {"same": "s", "none": "n", "opposite": "o", None: "-"}


def build(source: Path) -> bytes:
    raw = source.read_bytes()
    sha = hashlib.sha256(raw).hexdigest()
    if sha != SOURCE_SHA256:
        raise SystemExit(
            f"{source}: SHA256 {sha} does not match the recorded {SOURCE_SHA256}"
        )
    with gzip.open(io.BytesIO(raw), "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]

    arg_text: dict[str, str] = {}
    for row in rows:
        id1, id2 = row["id"].split("_")
        for arg_id, text in ((id1, row["a1"]), (id2, row["a2"])):
            if arg_text.setdefault(arg_id, text) != text:
                raise SystemExit(f"argument {arg_id} has two different texts")
    arguments = sorted(arg_text)
    arg_index = {a: i for i, a in enumerate(arguments)}
    texts: list[str] = []
    text_index: dict[str, int] = {}
    for a in arguments:
        text_index.setdefault(arg_text[a], len(texts))
        if text_index[arg_text[a]] == len(texts):
            texts.append(arg_text[a])

    topics = sorted({row["topic"] for row in rows})
    debates = sorted({t.split("_", 1)[0] for t in topics})
    topic_index = {t: i for i, t in enumerate(topics)}
    prompts = []
    for t in topics:
        debate, stance = t.split("_", 1)
        prompts.append(f"{DEBATE_TITLES[debate]} Stance: {STANCE_TITLES[stance]}.")

    workers = sorted({v[0] for row in rows for v in row["votes"]})
    worker_index = {w: i for i, w in enumerate(workers)}

    pair_topic, pair_a1, pair_a2, gold, n_votes = [], [], [], [], []
    vote_worker, vote_label, vote_stance = [], [], []
    for row in rows:
        id1, id2 = row["id"].split("_")
        pair_topic.append(topic_index[row["topic"]])
        pair_a1.append(arg_index[id1])
        pair_a2.append(arg_index[id2])
        gold.append(LABEL_CODES[row["gold"]])
        n_votes.append(len(row["votes"]))
        for worker, label, stance in row["votes"]:
            vote_worker.append(worker_index[worker])
            vote_label.append(LABEL_CODES[label])
            vote_stance.append(STANCE_CODES[stance])

    payload = {
        "format": FORMAT,
        "source": {
            "file": source.name,
            "sha256": sha,
            "upstream": "https://github.com/UKPLab/acl2016-convincing-arguments",
            "upstream_commit": "ca9d24e41b8805ff2e1d3585d552b49bb64a65f7",
            "upstream_folder": "data/UKPConvArg1-full-XML/",
            "licence": "CC-BY 4.0",
            "citation": "Habernal & Gurevych (2016), Which argument is more "
            "convincing? Analyzing and predicting convincingness of Web "
            "arguments using bidirectional LSTM. ACL 2016.",
            "builder": "scripts/build_argument_data.py",
        },
        # Stored as code -> meaning ("-" -> null: no gold label / no stance).
        "codes": {
            "label": {c: k for k, c in LABEL_CODES.items()},
            "stance": {c: k for k, c in STANCE_CODES.items()},
        },
        "topics": topics,
        "topic_prompts": prompts,
        "debates": debates,
        "topic_debate": [debates.index(t.split("_", 1)[0]) for t in topics],
        "arguments": arguments,
        "argument_text": [text_index[arg_text[a]] for a in arguments],
        "texts": texts,
        "workers": workers,
        "pairs": {
            "topic": pair_topic,
            "a1": pair_a1,
            "a2": pair_a2,
            "gold": "".join(gold),
            "n_votes": n_votes,
        },
        "votes": {
            "worker": vote_worker,
            "label": "".join(vote_label),
            "stance": "".join(vote_stance),
        },
    }
    text = json.dumps(
        payload, sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    buf = io.BytesIO()
    # mtime=0 and no file name in the header make the bytes reproducible.
    with gzip.GzipFile(
        filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9
    ) as gz:
        gz.write(text.encode("utf-8"))
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if the output differs from a fresh build",
    )
    args = parser.parse_args(argv)
    data = build(args.source)
    if args.check:
        current = args.output.read_bytes() if args.output.exists() else b""
        if current != data:
            print(f"{args.output} is stale; rebuild it", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date ({len(data):,} B)")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(data)
    print(f"wrote {args.output} ({len(data):,} B)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
