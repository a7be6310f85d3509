"""Ranked picks as a lazy, read-only mapping, pure: top-k arrays in, a subscriber's list of Pick out on access.

`rank` chooses every subscriber's papers as flat numpy arrays; turning 1.5
million of them into Pick objects with reason strings would cost more than
the ranking itself, and a delivery batch reads only its own subscribers. So the
result keeps the arrays and writes a subscriber's Picks (and reasons) when
asked for them; bulk iteration (`.items()`, `.values()`) writes them block by
block with the same vectorised path.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import ItemsView, Iterator, Mapping, ValuesView
from dataclasses import dataclass, field

import numpy as np

from digest.latex import readable
from digest.ranking import select
from digest.ranking.edition import Compiled, Edition
from digest.ranking.quotes import closest_sentence, found_words, quote_phrase, shorten
from digest.ranking.semantic import LIKED, Queries
from digest.ranking.text import fold
from digest.ranking.trending import age_reason

BULK_ROWS = 4096  # subscribers whose picks are written together when iterating over all of them


@dataclass(slots=True)
class Pick:
    """One paper for one subscriber: why (reason, shown on the card), under which topic, on which words."""

    paper_id: int
    score: float
    reason: str
    topic: str | None = None
    terms: list[str] = field(default_factory=list)
    sentence: str = ""  # the abstract's sentence closest to why: the topic, or the nearest liked paper


@contextlib.contextmanager
def gc_paused():
    """Millions of small objects (profiles compiled, Picks) would trigger repeated collections of every
    live object (3-4x slower); they hold no cycles, so collection waits until the batch is built."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Picks(Mapping[int, list[Pick]]):
    """Ranked, explained picks per subscriber id, read-only; an empty list means nothing relevant.

    Holds the chosen (subscriber, paper) cells as arrays; each access builds a fresh list of Pick."""

    def __init__(self, subscriber_ids: list[int], chosen: select.Chosen | None = None,
                 explainer: "Explainer | None" = None) -> None:
        # A subscriber listed twice keeps its first position and its last profile, as a dict built in order would.
        self._row = dict(zip(subscriber_ids, range(len(subscriber_ids))))
        self._chosen, self._explain = chosen, explainer
        counts = chosen.counts if chosen is not None else np.zeros(len(subscriber_ids), np.int64)
        self._counts = counts
        self._starts = np.cumsum(counts) - counts

    def __getitem__(self, subscriber_id: int) -> list[Pick]:
        return self._lists(np.array([self._row[subscriber_id]]))[0]

    def __contains__(self, subscriber_id: object) -> bool:
        return subscriber_id in self._row

    def __iter__(self) -> Iterator[int]:
        return iter(self._row)

    def __len__(self) -> int:
        return len(self._row)

    def __repr__(self) -> str:
        return f"<Picks: {len(self)} subscribers, {int(self._counts.sum())} picks>"

    def items(self) -> ItemsView:
        return _BulkItems(self)

    def values(self) -> ValuesView:
        return _BulkValues(self)

    def counts(self) -> dict[int, int]:
        """How many picks each subscriber has, without building any Pick."""
        return {sid: int(self._counts[row]) for sid, row in self._row.items()}

    def bulk_items(self) -> Iterator[tuple[int, list[Pick]]]:
        """(subscriber id, picks) for everyone, written BULK_ROWS subscribers at a time."""
        keys = list(self._row)
        for start in range(0, len(keys), BULK_ROWS):
            chunk = keys[start: start + BULK_ROWS]
            rows = np.fromiter(map(self._row.__getitem__, chunk), dtype=np.int64, count=len(chunk))
            yield from zip(chunk, self._lists(rows))

    def _lists(self, rows: np.ndarray) -> list[list[Pick]]:
        counts = self._counts[rows]
        if self._explain is None or not counts.any():
            return [[] for _ in range(rows.size)]
        with gc_paused():
            return self._explain.bulk_picks(rows, self._starts[rows], counts, self._chosen)


class _BulkItems(ItemsView):
    def __iter__(self):
        yield from self._mapping.bulk_items()


class _BulkValues(ValuesView):
    def __iter__(self):
        for _, got in self._mapping.bulk_items():
            yield got


class Explainer:
    """Turns chosen (subscriber, paper, topic) cells into Picks with a human reason."""

    def __init__(self, edition: Edition, compiled: Compiled, queries: Queries | None = None) -> None:
        self.edition, self.compiled, self.queries = edition, compiled, queries
        self._topic_parts: dict[int, tuple[str, list[str], str]] = {}
        self._texts: dict[int, tuple[str, str, str]] = {}
        self.n = edition.n_papers

    def bulk_picks(self, rows: np.ndarray, starts: np.ndarray, counts: np.ndarray,
                   chosen: select.Chosen) -> list[list[Pick]]:
        """Pick lists for the given subscriber rows, best first; a (topic as written, paper) reason is written
        once per call."""
        cells, _ = select.ragged(starts, counts)
        r = np.repeat(rows, counts)
        papers, slots, followed = chosen.papers[cells], chosen.slots[cells].astype(np.int64), chosen.followed[cells]
        ids = self.edition.paper_ids[papers].tolist()
        scores = np.round(chosen.score[cells].astype(np.float64), 4).tolist()
        written = self.compiled.written[r, np.maximum(slots, 0)]
        special = followed | (slots < 0) | (written < 0)
        keys = np.where(special, -1, written * self.n + papers)
        uniq, inverse = np.unique(keys, return_inverse=True)
        made = [self._topic_part(k // self.n, k % self.n) if k >= 0 else ("", [], None, "") for k in uniq.tolist()]
        columns = []
        for part in range(4):  # reason, terms, topic, sentence: gathered per pick without a Python loop
            column = np.empty(len(made), dtype=object)
            column[:] = [m[part] for m in made]
            columns.append(column[inverse.ravel()].tolist())
        flat = list(map(Pick, ids, scores, columns[0], columns[2], map(list, columns[1]), columns[3]))
        topic_rel = chosen.topic_rel[cells]
        for i in np.flatnonzero(special).tolist():  # a follow or a category brought these in
            flat[i] = self._pick(int(r[i]), ids[i], int(papers[i]), int(slots[i]), float(topic_rel[i]),
                                 scores[i], bool(followed[i]))
        ends = np.cumsum(counts).tolist()
        return [flat[start:end] for start, end in zip([0] + ends[:-1], ends)]

    def _pick(self, row: int, pid: int, paper: int, slot: int, rel_topic: float, score: float, followed: bool) -> Pick:
        """A pick that a follow or a category brought in, with every reason that applies."""
        parts, topic, terms, sentence = [], None, [], ""
        if followed:
            parts.append(f"By {self._followed_name(row, paper)}, an author you follow")
        if slot >= 0 and rel_topic >= self.compiled.floors[row]:
            text, terms, topic, sentence = self._topic_part(int(self.compiled.written[row, slot]), paper)
            parts.append(text[:1].lower() + text[1:] if parts else text)
        elif slot == select.CATEGORY:
            parts.append(f"New in {self._category(row, paper)}")
        elif slot == LIKED:
            text, sentence = self._liked_part(row, paper)
            parts.append(text)
        # Papers picked by popularity (a category's, the trending ones) say which figure placed them.
        by_popularity = slot in (select.CATEGORY, select.TRENDING)
        trend = self.edition.popularity_reason[paper] if by_popularity else self.edition.trend_reason[paper]
        if trend and (not parts or topic is None):
            parts.append(trend)
        elif slot == select.TRENDING and not parts:
            parts.append(age_reason(float(self.edition.age_hours[paper])))
        text = "; ".join(parts)
        return Pick(pid, score, text[:1].upper() + text[1:], topic, list(terms), sentence)

    def _topic_part(self, written: int, paper: int) -> tuple[str, list[str], str, str]:
        """(reason, terms, topic as written, key sentence) for one topic and paper, cached for the result's
        lifetime."""
        key = written * self.n + paper
        cached = self._topic_parts.get(key)
        if cached is None:
            topic, topic_id = self.compiled.written_texts[written]
            text, terms, sentence = self._topic_reason(topic, topic_id, paper)
            if self.edition.trend_reason[paper]:
                text = f"{text}; {self.edition.trend_reason[paper]}"
            cached = self._topic_parts[key] = (text[:1].upper() + text[1:], terms, topic, sentence)
        return cached

    def _topic_reason(self, topic: str, topic_id: int, paper: int) -> tuple[str, list[str], str]:
        """(reason, words, key sentence). The reason gives the topic as the paper words it ("matches your topic
        “x”: “as written”"); else, when the paper came by meaning, the abstract sentence closest to the topic;
        else the topic's words the paper has. The key sentence is the one closest to the topic (by the stored
        sentence vectors; by shared words without them)."""
        title, abstract, shown = self._shown(paper)
        sem, queries = self.edition.semantic, self.queries
        by_meaning = sem is not None and queries is not None and sem.ok[paper] and topic_id < len(queries.topic_raw)
        vector = queries.topic_raw[topic_id] if by_meaning else None
        sentence = closest_sentence(abstract, vector, topic, self.edition.sentences[paper])
        words = found_words(shown, topic)
        phrase = quote_phrase(shown, topic)
        if phrase is not None:
            if fold(phrase).lower() == fold(topic).lower():
                return f"matches your topic “{topic}”", words, sentence
            return f"matches your topic “{topic}”: “{shorten(phrase, 80)}”", words, sentence
        if by_meaning:
            return f"close to your topic “{topic}”" + (f": “{sentence}”" if sentence else ""), words, sentence
        return f"matches your topic “{topic}” on: " + ", ".join(f"“{w}”" for w in words), words, sentence

    def _shown(self, paper: int) -> tuple[str, str, str]:
        """(title, abstract, both) as the reader sees them (LaTeX made readable), once per paper."""
        got = self._texts.get(paper)
        if got is None:
            title, abstract = (readable(t) for t in self.edition.texts[paper])
            got = self._texts[paper] = (title, abstract, f"{title}. {abstract}")
        return got

    def _liked_part(self, row: int, paper: int) -> tuple[str, str]:
        """(which liked paper this one is nearest to, the abstract sentence nearest to that paper)."""
        vector = self.edition.semantic.vectors[paper]
        nearest = self.queries.closest_liked(row, vector) if self.queries else None
        if nearest is None or not nearest[0].title:
            return "Close to papers you liked", ""
        example, liked = nearest
        _, abstract, _ = self._shown(paper)
        sentence = closest_sentence(abstract, liked, "", self.edition.sentences[paper])
        return f"Close to “{shorten(readable(example.title), 120)}”, which you liked", sentence

    def _followed_name(self, row: int, paper: int) -> str:
        keys = self.compiled.follow_keys[row]
        return next((name for name, akeys in self.edition.author_names(paper) if akeys & keys), "someone")

    def _category(self, row: int, paper: int) -> str:
        wanted = self.compiled.category_names[row]
        return next((c for c in self.edition.categories[paper] if {c.lower(), c.lower().split(".")[0]} & wanted),
                    "your categories")
