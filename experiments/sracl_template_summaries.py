"""Write a *template* (non-LLM) summaries JSONL for SRA-CL's precomputed-summaries path.

    PYTHONPATH=. .venv/bin/python experiments/sracl_template_summaries.py --dataset ml-100k-seq \
        [--data-root ../shared/data] [--out runs/sracl/template_summaries_ml-100k-seq.jsonl]

This exercises ``graphcl train sracl --set summaries=FILE`` end to end without
an LLM: the file has exactly the format and ids that
:func:`graphcl.llm.summaries.write_summaries_jsonl` writes and
``experiments/sracl_generate.py`` produces from LLM answers, but its texts are
filled in by a fixed template, NOT written by a language model:

* item ``i``: its item text (title, year and attributes from the dataset's
  ``.item`` file, e.g. ``"Kolya (1996). Genres: Comedy."``);
* user ``u`` (user level, the SRA-CL default): ``"This viewer likes G1, G2 and G3
  movies, such as T1, T2, T3."`` where the genres are the three most frequent
  ``Genres:`` attributes and the titles the three most recent items of the last
  ``user_history`` (15) items of the user's *training* part (the same window
  the LLM prompt shows; validation and test items are never read).

Results obtained with this file measure SRA-CL's machinery on templated
genre/title text embedded by the sentence encoder, not the LLM summaries of
the paper; label them so.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _attributes(text: str, key: str = "Genres:") -> list[str]:
    if key not in text:
        return []
    tail = text.split(key, 1)[1].split(".", 1)[0]
    return [g.strip() for g in tail.split(",") if g.strip()]


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def template_summaries(data, history: int = 15):
    """A :class:`graphcl.llm.summaries.Summaries` of templated texts (see the module docstring)."""
    from graphcl.data.item_text import sequence_item_texts
    from graphcl.llm.summaries import Summaries
    from graphcl.models.seq.sracl_semantics import semantic_units

    item_text = sequence_item_texts(data)
    units = semantic_units(data, "user")
    items = data.items.tolist()
    tokens = data.item_tokens or [str(i) for i in range(1, data.num_items + 1)]
    out = Summaries()
    for key, s, e in zip(units.keys, units.starts.tolist(), units.ends.tolist()):
        window = items[max(s, e - history):e]
        genres = Counter(g for i in window for g in _attributes(item_text.texts[i - 1]))
        top = [g for g, _ in genres.most_common(3)]
        titles = [item_text.titles[i - 1] for i in reversed(window[-3:])]
        likes = f"This viewer likes {_join(top)} movies" if top else "This viewer likes items"
        out.users[str(key)] = f"{likes}, such as {', '.join(titles)}."
    for tok, text in zip(tokens, item_text.texts):
        out.items[str(tok)] = text
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="ml-100k-seq")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--history", type=int, default=15)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    from graphcl.data import load
    from graphcl.llm.summaries import write_summaries_jsonl

    data = load(args.dataset, root=args.data_root)
    summaries = template_summaries(data, args.history)
    out = Path(args.out or REPO / "runs" / "sracl" / f"template_summaries_{args.dataset}.jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_summaries_jsonl(out, summaries)
    print(f"{out}: {len(summaries.users)} user + {len(summaries.items)} item template summaries")
    for u, s in list(summaries.users.items())[:2]:
        print(f"  user {u}: {s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
