"""*Template* (non-LLM) summaries for SRA-CL's precomputed-summaries path.

:func:`template_summaries` fills a :class:`graphcl.llm.summaries.Summaries` (the same ids and
file format the LLM summaries have) from a fixed template, NOT from a language model:

* item ``i``: its item text (title, year and attributes from the dataset's ``.item`` file,
  e.g. ``"Kolya (1996). Genres: Comedy."``);
* user ``u`` (user level): ``"This viewer likes G1, G2 and G3 movies, such as T1, T2, T3."``
  (nouns from :func:`graphcl.llm.summaries.item_kind_for`), where the genres are the three
  most frequent ``Genres:`` attributes and the titles the three most recent items of the last
  ``history`` items of the user's *training* part (the window the LLM prompt shows;
  validation and test items are never read).

Results obtained with such a file measure SRA-CL's machinery on templated genre/title text
embedded by the sentence encoder, not the paper's LLM summaries; label them so.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from graphcl.llm.summaries import Summaries, item_kind_for

__all__ = ["template_summaries"]


def _attributes(text: str, key: str = "Genres:") -> list[str]:
    if key not in text:
        return []
    tail = text.split(key, 1)[1].split(".", 1)[0]
    return [g.strip() for g in tail.split(",") if g.strip()]


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def template_summaries(data: Any, history: int = 15, item_text: Any = None) -> Summaries:
    """User-level template summaries of a :class:`~graphcl.data.sequences.SequenceDataset`
    (see the module docstring). ``item_text``: an :class:`~graphcl.data.item_text.ItemText`
    (default: the dataset's own item texts)."""
    from graphcl.data.item_text import sequence_item_texts
    from graphcl.models.seq.sracl_semantics import semantic_units

    if int(history) < 1:
        raise ValueError(f"history must be >= 1, got {history}")
    texts = item_text if item_text is not None else sequence_item_texts(data)
    item, user, _ = item_kind_for(getattr(data, "name", None))
    units = semantic_units(data, "user")
    items = data.items.tolist()
    tokens = data.item_tokens or [str(i) for i in range(1, data.num_items + 1)]
    out = Summaries()
    for key, s, e in zip(units.keys, units.starts.tolist(), units.ends.tolist()):
        window = items[max(s, e - int(history)):e]
        genres = Counter(g for i in window for g in _attributes(texts.texts[i - 1]))
        top = [g for g, _ in genres.most_common(3)]
        titles = [texts.titles[i - 1] for i in reversed(window[-3:])]
        likes = f"This {user} likes {_join(top)} {item}s" if top else f"This {user} likes items"
        out.users[str(key)] = f"{likes}, such as {', '.join(titles)}."
    for tok, text in zip(tokens, texts.texts):
        out.items[str(tok)] = text
    return out
