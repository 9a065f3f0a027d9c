"""Near-duplicate clustering of newly stored articles (signatures from app.neardup)."""

from collections import defaultdict
from collections.abc import Sequence

from app.neardup import DEFAULT, Signature, decode
from app.repositories import ClusterRepository

# Stored candidates asked for per band key, oldest first. A story copied a thousand times
# has its copies share every band key; they all join the cluster of the oldest, so the
# oldest few are the ones to compare with, and each new copy's cost stays flat. (A new
# article whose oldest candidates on every key it shares are all false matches, while a
# younger one is a true near duplicate, starts a cluster of its own: LSH false matches
# are ~1.6 per article, app/neardup.py.)
OLDEST_PER_BAND = 8


def assign(repo: ClusterRepository, new: Sequence[tuple[int, Signature]]) -> None:
    """Each new article that is a near duplicate of an older one (stored, or earlier in this
    batch) joins that article's cluster (rooted at the first article of the story); then
    the new articles' band keys are stored for the next ones."""
    keys = {article_id: sorted(set(DEFAULT.band_keys(sig))) for article_id, sig in new}
    # One indexed probe per band key (not a self-join, whose cost grows with the table),
    # for the oldest few articles of each: the first near duplicate found is the answer.
    stored = repo.articles_with_bands({k for ks in keys.values() for k in ks}, OLDEST_PER_BAND)
    signatures = repo.signatures({a for ids in stored.values() for a in ids})
    mine = dict(new)
    roots: dict[int, int | None] = {}  # new article -> its root (None: it starts a cluster)
    seen: dict[int, list[int]] = defaultdict(list)  # band key -> new articles so far
    members: list[tuple[int, int]] = []
    for article_id, sig in new:
        candidates = sorted(
            {a for k in keys[article_id] for a in (*stored.get(k, ()), *seen[k][:OLDEST_PER_BAND])}
        )
        roots[article_id] = root = _root(sig, candidates, signatures, mine, roots)
        if root is not None:
            members.append((article_id, root))
        for key in keys[article_id]:
            seen[key].append(article_id)
    repo.join(members)
    repo.insert_bands([(k, a) for a, ks in keys.items() for k in ks])


def _root(
    sig: Signature,
    candidates: list[int],
    stored: dict[int, tuple[bytes, int | None]],
    mine: dict[int, Signature],
    roots: dict[int, int | None],
) -> int | None:
    """The cluster root of the oldest candidate that really is a near duplicate."""
    for other in candidates:  # oldest first
        if other in mine:
            if DEFAULT.is_near_duplicate(sig, mine[other]):
                return roots.get(other) or other
        elif other in stored and DEFAULT.is_near_duplicate(sig, decode(stored[other][0])):
            return stored[other][1] or other
    return None
