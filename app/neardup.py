"""Near-duplicate bodies: MinHash signatures over word shingles, LSH band keys to find them.

The same wire story reaches the archive from many publishers with a new headline, a credit
line or boilerplate paragraph added, a paragraph dropped, a few words changed. Only the body
counts (headlines differ between republications). A body becomes:

- words: `unicodedata.normalize("NFKC", body).casefold()` cut into maximal runs of
  characters that are `str.isalnum()` or combining marks (category M); everything else,
  punctuation, quotes, whitespace, `_`, separates words;
- shingles: every run of `shingle_words` consecutive words, hashed to 64 bits: a
  polynomial hash mod 2**64 of each word's code points, another over the words, then an
  xor-shift and an odd multiply. Integer arithmetic only, so a value is the same in every
  process and on every Python and numpy version (no built-in `hash()`; only characters
  that a newer Unicode database classifies differently could change); numpy runs it over
  all the words at once, from prefix sums;
- a signature: one-permutation MinHash (the top bits of a shingle hash pick one of
  `hashes` bins; each bin keeps 16 middle bits of its smallest hash), empty bins filled by
  optimal densification (Shrivastava, ICML 2017): an empty bin copies the first filled bin
  of its own fixed pseudo-random probe sequence, which keeps the estimate unbiased. One
  sort per body instead of `hashes` passes over the shingles.

`similarity` is the fraction of equal bins, an estimate of the Jaccard similarity of the
two shingle sets. `band_keys` packs `bands` groups of `rows` bin values into signed 64-bit
keys (XORed with a per-band tag that also depends on the parameters):
two bodies with Jaccard similarity s share at least one key with probability
1 - (1 - s**rows)**bands, so a table (article_id, band_key) with an index on band_key finds
the candidates in one lookup; `is_near_duplicate` then decides on the signatures.

Bodies of fewer than `min_words` words get no band keys and are never near duplicates of
anything: a few sentences are too little text to tell a republication from two stories that
share a stock phrase (exact copies are the content hash's job). Scripts without spaces
between words (Chinese, Japanese, Thai) form few, long "words"; only close copies of those
match. A republication that keeps only part of the story (truncated to 60 %) has Jaccard
similarity near 0.6 and is usually, not always, found; containment is not measured.
"""

import struct
import unicodedata
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np

from app.text.normalize import stream_safe

_U64 = np.uint64
_MASK64 = (1 << 64) - 1
# Odd multipliers (golden ratio, splitmix64 and murmur3 constants): any fixed odd values
# work, but they must never change or every stored signature and band key changes.
_Q = 0x100000001B3
_MULTIPLIERS = (
    0x9E3779B97F4A7C15,
    0xBF58476D1CE4E5B9,
    0x94D049BB133111EB,
    0xD6E8FEB86659FD93,
    0xA0761D6478BD642F,
    0xE7037ED1A0B428DB,
    0x8EBC6AF09C88C6E3,
    0x589965CC75374CC3,
)
_SLOW = 0xFFFF  # fold-table mark: the character needs the exact (Python) path
_FORMAT = 1  # first byte of `encode`; bump when the signature's meaning changes


def _fmix64(x: np.ndarray) -> np.ndarray:
    """murmur3's 64-bit finalizer, in place on an array of uint64 (arrays wrap silently)."""
    x ^= x >> _U64(33)
    x *= _U64(0xFF51AFD7ED558CCD)
    x ^= x >> _U64(33)
    x *= _U64(0xC4CEB9FE1A85EC53)
    x ^= x >> _U64(33)
    return x


@cache
def _fold_table() -> np.ndarray:
    """Per BMP code point: its casefold if that is one word character, 0 if it separates."""
    table = np.zeros(0x10000, dtype=np.uint16)
    for code in range(0x10000):
        folded = chr(code).casefold()
        if len(folded) != 1:
            table[code] = _SLOW  # ß -> ss and the like: casefold the whole text instead
        elif folded.isalnum() or unicodedata.category(folded)[0] == "M":
            table[code] = ord(folded)
    table[0xFFFF] = _SLOW  # code points above the BMP are clipped to this index
    return table


def _make_power_table(bits: int) -> tuple[np.ndarray, np.ndarray]:
    steps = np.empty((2, 1 << bits), dtype=_U64)
    steps[:] = np.array([[_Q], [pow(_Q, -1, 1 << 64)]], dtype=_U64)
    steps[:, 0] = 1
    powers, inverses = np.multiply.accumulate(steps, axis=1)
    return powers, inverses


_power_table = cache(_make_power_table)


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """_Q**i and _Q**-i mod 2**64 for i < n at least: kept up to 256K entries (4 MB)."""
    bits = max(16, (n - 1).bit_length())
    return _power_table(bits) if bits <= 18 else _make_power_table(bits)


def _folded_code_points(text: str) -> np.ndarray:
    """The text's code points after NFKC and casefold: word characters kept, separators 0."""
    text = text.replace("\u2026", " ").replace("\xa0", " ")  # common, and only separators
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", stream_safe(text))
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    folded = _fold_table().take(points, mode="clip")
    if text.isascii() or folded.max(initial=0) != _SLOW:
        return folded
    return _fold_rare(text, points, folded)


def _fold_rare(text: str, points: np.ndarray, folded: np.ndarray) -> np.ndarray:
    """The exact path for what the table cannot fold: ß -> ss and the like, astral planes."""
    marked = np.flatnonzero(folded == _SLOW)
    if (points[marked] < 0xFFFF).any():  # a casefold longer than its character: redo it all
        text = text.casefold()
        points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        folded = _fold_table().take(points, mode="clip")
        marked = np.flatnonzero(folded == _SLOW)
    folded = folded.astype(np.uint32)
    for i, point in zip(marked.tolist(), points[marked].tolist(), strict=True):
        char = chr(point).casefold()  # one character: so for every code point above the BMP
        keep = char.isalnum() or unicodedata.category(char)[0] == "M"
        folded[i] = ord(char) if keep else 0
    return folded


def _word_hashes(folded: np.ndarray) -> np.ndarray:
    """A 64-bit polynomial hash per word, from prefix sums: no Python loop over words."""
    n = folded.size
    inside = np.zeros(n + 2, dtype=bool)
    np.not_equal(folded, 0, out=inside[1:-1])
    edges = (inside[1:] != inside[:-1]).nonzero()[0]  # start, end, start, end, ...
    powers, inverses = _powers(n + 1)
    prefix = np.zeros(n + 1, dtype=_U64)
    np.add.accumulate(folded * powers[:n], out=prefix[1:])
    at = prefix[edges]
    # sum(c[start + t] * Q**t): the same value wherever the word stands in the text
    hashes: np.ndarray = (at[1::2] - at[0::2]) * inverses[edges[0::2]]
    return hashes


def _shingle_hashes(words: np.ndarray, k: int) -> np.ndarray:
    """One hash per run of k words (the whole text if shorter), mixed for their top bits."""
    m = words.size
    k = min(k, m)
    powers, inverses = _powers(m + 1)
    prefix = np.zeros(m + 1, dtype=_U64)
    np.add.accumulate(words * powers[:m], out=prefix[1:])
    shingles: np.ndarray = (prefix[k:] - prefix[: m - k + 1]) * inverses[: m - k + 1]
    # Bins and values come from the top bits: fold the high half down, then multiply so
    # every input bit reaches them (Fibonacci hashing).
    shingles ^= shingles >> _U64(32)
    shingles *= _U64(_MULTIPLIERS[0])
    return shingles


@dataclass(frozen=True, slots=True, eq=False)
class Signature:
    """A body's MinHash: `hashes` 16-bit bin values, and how many words the body had."""

    values: np.ndarray
    words: int


@dataclass(frozen=True)
class Scheme:
    """One choice of parameters; the module-level functions use `DEFAULT`.

    The defaults come from bench/neardup.py (rewrites of synthetic and real articles
    against hard negatives; --sweep prints the alternatives). 4-word shingles: 3-word ones
    share stock phrases between unrelated articles (6.6 times the false candidates),
    5-word ones lose a little more recall to substituted words. 128 bins: the estimate is
    within 0.008 of the exact Jaccard on average (64 bins: 0.013; 256 bins: no better
    recall for twice the bytes). 20 bands of 3 rows: a pair at Jaccard 0.5 becomes a
    candidate 93 % of the time, at 0.6 99 %, and a lookup in a million unrelated articles
    returns about 1.6 false candidates (2 rows: 20 times as many; 16 bands of 4 rows miss
    6 % of the rewrites). Threshold 0.4: rewrites that keep most of the text score 0.5 and
    up; the hardest negatives (a new story quoting a paragraph of the old one, with the
    same boilerplate) stay under 0.27, three standard errors below 0.4.
    """

    shingle_words: int = 4
    hashes: int = 128  # a power of two: the top bits of a shingle hash choose its bin
    bands: int = 20
    rows: int = 3
    threshold: float = 0.4
    min_words: int = 30

    def __post_init__(self) -> None:
        if self.hashes & (self.hashes - 1) or not 2 <= self.hashes <= 1 << 12:
            raise ValueError("hashes must be a power of two between 2 and 4096")
        if not 1 <= self.rows <= 4 or self.bands * self.rows > self.hashes:
            raise ValueError("rows must be 1 to 4 and bands * rows at most hashes")
        if self.shingle_words < 1:
            raise ValueError("shingle_words must be positive")

    @cached_property
    def _bits(self) -> int:
        return self.hashes.bit_length() - 1

    @cached_property
    def _bin_starts(self) -> np.ndarray:
        return np.arange(self.hashes, dtype=_U64) << _U64(64 - self._bits)

    @cached_property
    def _probes(self) -> tuple[tuple[int, ...], ...]:
        """Row j: the bins an empty bin j tries, in order (fixed, the same for every body)."""
        count = min(self.hashes, 64)
        seeds = np.arange(self.hashes * count, dtype=_U64) + _U64(_MULTIPLIERS[1])
        probes = _fmix64(seeds) >> _U64(64 - self._bits)
        return tuple(map(tuple, probes.reshape(self.hashes, count).tolist()))

    @cached_property
    def _band_tags(self) -> np.ndarray:
        """Per band, 64 bits XORed into its key: bands, and schemes, get disjoint key sets."""
        tag = _FORMAT
        for number in (self.shingle_words, self.hashes, self.rows):
            tag = (tag * _MULTIPLIERS[2] + number) & _MASK64
        return _fmix64(np.arange(self.bands, dtype=_U64) * _U64(_MULTIPLIERS[3]) + _U64(tag))

    def signature(self, body: str) -> Signature:
        """The MinHash signature of a body (text only: no headline, no markup)."""
        words = _word_hashes(_folded_code_points(body))
        if not words.size:
            return Signature(np.zeros(self.hashes, dtype=np.uint16), 0)
        shingles = _shingle_hashes(words, self.shingle_words)
        shingles.sort()
        ends = np.empty(self.hashes + 1, dtype=np.intp)
        ends[-1] = shingles.size
        first = ends[:-1]
        first[:] = shingles.searchsorted(self._bin_starts)
        filled = first < ends[1:]
        # Each bin's smallest hash stands for it, by 16 of its middle bits: the top ones
        # (bin number, then the order within the bin) are far from uniform at the minimum.
        values = (shingles.take(first, mode="clip") >> _U64(24)).astype(np.uint16)
        if not filled.all():
            empty = np.flatnonzero(~filled).tolist()
            values[empty] = values[self._donors(empty, filled.tolist())]
        return Signature(values, int(words.size))

    def _donors(self, empty: list[int], filled: list[bool]) -> list[int]:
        """For each empty bin, the bin whose value it takes: its first filled probe.

        A Python loop: a long body leaves a few of 128 bins empty, and each finds a donor at
        its first or second probe, which beats a dozen numpy calls.
        """
        donors = []
        for j in empty:
            for probe in self._probes[j]:
                if filled[probe]:
                    break
            else:  # no probe filled (a body of a few words): the next filled bin, circularly
                probe = next(
                    i % self.hashes for i in range(j, j + self.hashes) if filled[i % self.hashes]
                )
            donors.append(probe)
        return donors

    def band_keys(self, sig: Signature) -> list[int]:
        """Signed 64-bit LSH keys, one per band; none for a body under `min_words` words."""
        if sig.words < self.min_words:
            return []
        packed = np.zeros((self.bands, 4), dtype="<u2")
        packed[:, : self.rows] = sig.values[: self.bands * self.rows].reshape(self.bands, -1)
        keys: list[int] = (packed.view("<u8").ravel() ^ self._band_tags).view("<i8").tolist()
        return keys

    def similarity(self, a: Signature, b: Signature) -> float:
        """Estimated Jaccard similarity of the two bodies' shingle sets (0 if one is empty)."""
        if a.values.shape != b.values.shape:
            raise ValueError("signatures of different sizes")
        if not a.words or not b.words:
            return 0.0
        return np.count_nonzero(a.values == b.values) / a.values.size

    def is_near_duplicate(self, a: Signature, b: Signature) -> bool:
        """Both bodies long enough and their similarity at least the threshold."""
        return min(a.words, b.words) >= self.min_words and self.similarity(a, b) >= self.threshold


def encode(sig: Signature) -> bytes:
    """Compact bytes for storage: format byte, word count (uint32), 16-bit values."""
    header = struct.pack("<BI", _FORMAT, min(sig.words, 0xFFFFFFFF))
    return header + sig.values.astype("<u2").tobytes()


def decode(data: bytes) -> Signature:
    """The signature that `encode` wrote."""
    count, odd = divmod(len(data) - 5, 2)
    if data[:1] != bytes([_FORMAT]) or odd or count < 2 or count & (count - 1):
        raise ValueError("not an encoded signature of this format")
    (words,) = struct.unpack_from("<I", data, 1)
    return Signature(np.frombuffer(data, dtype="<u2", offset=5).astype(np.uint16), words)


DEFAULT = Scheme()
signature = DEFAULT.signature
band_keys = DEFAULT.band_keys
similarity = DEFAULT.similarity
is_near_duplicate = DEFAULT.is_near_duplicate
