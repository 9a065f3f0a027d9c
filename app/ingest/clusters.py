"""Near-duplicate clustering of newly stored articles (signatures from app.neardup)."""

from collections.abc import Sequence

from app.neardup import DEFAULT, Signature, decode
from app.repositories import ClusterRepository


def assign(repo: ClusterRepository, new: Sequence[tuple[int, Signature]]) -> None:
    """Store band keys of new articles; each near duplicate of an older article joins the
    older one's cluster (its root: the first article of the story)."""
    repo.insert_bands(
        [
            {"band_key": key, "article_id": article_id}
            for article_id, sig in new
            for key in set(DEFAULT.band_keys(sig))
        ]
    )
    pairs = repo.candidates([article_id for article_id, _ in new])
    if not pairs:
        return
    stored = repo.signatures({older for _, older in pairs})
    mine = dict(new)
    roots: dict[int, int] = {}  # cluster roots chosen in this batch, by article
    members: list[tuple[int, int]] = []
    for article_id, older in sorted(pairs):  # oldest candidates first, batch order kept
        if article_id in roots or older not in stored:
            continue
        encoded, cluster = stored[older]
        if DEFAULT.is_near_duplicate(mine[article_id], decode(encoded)):
            root = roots.get(older) or cluster or older
            roots[article_id] = root
            members.append((article_id, root))
    repo.join(members)
