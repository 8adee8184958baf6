"""Finding a service by what a citizen types, in Arabic or English (issue #17, "Find a service").

Each live service is known by its names, the ``[synonyms]`` of its ``service.toml`` and its agency. A query and
every one of those phrases are brought to one spelling first (:func:`normalise`): the forms of alef with a
hamza or madda are bare alef, alef maqsura is ya, ta marbuta is ha, the diacritics and the tatweel go, and
Arabic-Indic digits are ASCII; so are case and punctuation in English. Then each query word is matched with the
phrase's words by rapidfuzz's similarity (a typo or two in a long word still matches), and the services are
ranked by their best phrase. The list is cut at ``service_search_min_score``.

The index of the live services is built once per set of live versions and kept in memory: a new deploy or a
retirement changes the set, and the next search builds it again.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy import select
from sqlmodel import Session, col

from engine.core import throttle
from engine.core.client_address import counted_as
from engine.core.errors import Invalid
from engine.core.refusals import problem
from engine.core.settings import Settings
from storage.models.catalog import ProcessVersion

_ALEF = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "ؤ": "و", "ئ": "ي",
                       **{chr(0x0660 + d): str(d) for d in range(10)}, **{chr(0x06F0 + d): str(d) for d in range(10)}})
# The harakat, the superscript alef and the Quranic marks; the tatweel (kashida) is only a stretch of the line.
_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_NOT_WORD = re.compile(r"[^\w]+|_")
# Words that say nothing about which service is meant.
_STOP = frozenset({"the", "a", "an", "of", "for", "to", "my", "i", "want", "how", "do", "get", "and", "in", "on",
                   "عايز", "اريد", "كيف", "ازاي", "طلب", "في", "من", "على", "عن", "الى", "او", "و"})
# How much a match on each kind of phrase counts: the agency names many services, so it counts less.
WEIGHTS = {"name": 1.0, "synonym": 1.0, "agency": 0.75}


def normalise(text: str) -> str:
    """One spelling for comparing: Arabic letter variants, diacritics, tatweel and digits folded; lower case."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _MARKS.sub("", text).translate(_ALEF)
    return " ".join(_NOT_WORD.sub(" ", text).split())


def words(text: str) -> list[str]:
    """The meaningful words of a normalised text; the Arabic article ``ال`` is taken off a word's front."""
    out = []
    for word in text.split():
        if word.startswith("ال") and len(word) > 4:
            word = word[2:]
        if word not in _STOP:
            out.append(word)
    return out


@dataclass(frozen=True)
class Phrase:
    kind: str
    text: str  # normalised
    words: tuple[str, ...]


@dataclass(frozen=True)
class Entry:
    """A service as the finder knows it: its code, what the result shows, and the phrases it is found by."""

    code: str
    summary: dict[str, Any]
    phrases: tuple[Phrase, ...] = field(default=())


def entry_of(code: str, service: dict[str, Any]) -> Entry:
    """The finder's view of a service, from ``service.toml`` as deployed (``ProcessVersion.service``)."""
    said: list[tuple[str, str]] = []
    for kind, names in (("name", service.get("name")), ("agency", service.get("agency"))):
        for lang in ("ar", "en"):
            if names and names.get(lang):
                said.append((kind, names[lang]))
    synonyms = service.get("synonyms") or {}
    for lang in ("ar", "en"):
        said.extend(("synonym", word) for word in synonyms.get(lang, []))
    said.append(("synonym", code.replace("_", " ")))
    phrases = []
    for kind, text in said:
        norm = normalise(text)
        if norm:
            phrases.append(Phrase(kind, norm, tuple(words(norm)) or tuple(norm.split())))
    summary = {"service_code": code, "name": service.get("name"), "agency": service.get("agency"),
               "sla_days": service.get("sla_days")}
    return Entry(code, summary, tuple(phrases))


def _word_score(query_word: str, phrase_words: Sequence[str]) -> float:
    """How well one query word is matched by the phrase's best word (0-100): rapidfuzz's similarity of the two,
    and of the query word with the word's start (a citizen types "رخص" for "رخصه", "renew" for "renewal")."""
    best = 0.0
    for word in phrase_words:
        score = fuzz.ratio(query_word, word)
        if len(query_word) >= 3 and word.startswith(query_word):
            score = max(score, 92.0)
        best = max(best, score)
    return best


def phrase_score(query_words: Sequence[str], query: str, phrase: Phrase) -> float:
    """0-100: every query word must find itself in the phrase (the mean of their best matches), and a query that
    is the whole phrase, typed with a typo, scores high however the words fall."""
    if not query_words:
        return 0.0
    by_word = sum(_word_score(w, phrase.words) for w in query_words) / len(query_words)
    whole = fuzz.ratio(query, phrase.text)
    return max(by_word, whole) * WEIGHTS[phrase.kind]


def rank(entries: Iterable[Entry], query: str, *, min_score: float, limit: int) -> list[tuple[Entry, float]]:
    """The entries that match ``query``, best first (ties by code), each with its score."""
    norm = normalise(query)
    query_words = words(norm) or norm.split()
    scored = []
    for entry in entries:
        best = max((phrase_score(query_words, norm, p) for p in entry.phrases), default=0.0)
        if best >= min_score:
            scored.append((entry, round(best, 1)))
    scored.sort(key=lambda pair: (-pair[1], pair[0].code))
    return scored[:limit]


def suggest(entries: Sequence[Entry], query: str, *, limit: int = 3) -> list[str]:
    """Names close to a query that matched nothing ("did you mean"), by rapidfuzz over the names alone."""
    names = {p.text: e.code for e in entries for p in e.phrases if p.kind == "name"}
    found = process.extract(normalise(query), list(names), scorer=fuzz.WRatio, limit=limit)
    return list(dict.fromkeys(names[text] for text, _score, _i in found))


class _Index:
    """The live services' entries, keyed by database and the ids of the versions they were built from."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._built: dict[str, tuple[tuple[int, ...], list[Entry]]] = {}

    def entries(self, session: Session, settings: Settings) -> list[Entry]:
        rows = session.execute(
            select(col(ProcessVersion.id), col(ProcessVersion.service_code), col(ProcessVersion.service))
            .where(col(ProcessVersion.retired).is_(False))
            .order_by(col(ProcessVersion.service_code), col(ProcessVersion.version))).all()
        latest: dict[str, tuple[int, dict[str, Any]]] = {}
        for version_id, code, service in rows:
            latest[code] = (version_id, service)
        key = tuple(sorted(v for v, _s in latest.values()))
        with self._lock:
            built = self._built.get(settings.database_url)
            if built is not None and built[0] == key:
                return built[1]
        entries = [entry_of(code, service) for code, (_v, service) in sorted(latest.items())]
        with self._lock:
            self._built[settings.database_url] = (key, entries)
        return entries


index = _Index()


def search_rule(settings: Settings) -> throttle.Rule:
    return throttle.Rule.fixed("service-search-address", limit=settings.service_search_max_per_address,
                               window_seconds=settings.service_search_window_seconds)


def search(*, session: Session, query: str, settings: Settings, client: str | None,
           limit: int | None = None) -> list[dict[str, Any]]:
    """The services that match ``query``, best first, each as its summary with ``score``. Every search counts
    against the asking address (``service_search_max_per_address`` per window): 429 past it."""
    text = query.strip()
    if not text or len(text) > settings.service_search_max_chars:
        raise Invalid("search.query_length", [problem("q", "search.query_length", loc=["query", "q"],
                                                      kind="value_error", count=settings.service_search_max_chars)],
                      count=settings.service_search_max_chars)
    if client:
        pair = (search_rule(settings), counted_as(client))
        throttle.check(settings, "search.too_many", pair)
        throttle.fail(settings, pair)
    entries = index.entries(session, settings)
    found = rank(entries, text, min_score=settings.service_search_min_score,
                 limit=limit or settings.service_search_max_results)
    return [{**entry.summary, "score": score} for entry, score in found]


def live_service(session: Session, code: str) -> dict[str, Any] | None:
    """The newest live version's ``service.toml`` of ``code`` (with its version id), None when there is none."""
    row = session.execute(
        select(col(ProcessVersion.id), col(ProcessVersion.service))
        .where(col(ProcessVersion.service_code) == code, col(ProcessVersion.retired).is_(False))
        .order_by(col(ProcessVersion.version).desc()).limit(1)).first()
    if row is None:
        return None
    return {"version_id": row[0], "service": row[1]}
