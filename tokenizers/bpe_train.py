"""Learning BPE merges: the fast incremental algorithm and the textbook one it must equal.

Both take a table of unique chunks (byte strings from the pre-split text) with their counts,
and return the merges in the order learned: a list of pairs (a, b) of token ids, where
merge number k makes the new token 256 + k (or `first_id` + k).

Each step merges the most frequent adjacent pair, counted over all chunks weighted by their
frequency. Ties go to the smallest pair (a, b), comparing ids, so training is deterministic.

The textbook algorithm recounts every pair of every chunk after each merge: simple, and
O(merges x corpus). The incremental algorithm does the same work only where it must:

    counts[pair]   how often the pair occurs (weighted by chunk frequency)
    where[pair]    the ids of the chunks that contain it (may hold stale ids, see below)
    heap           (-count, pair) entries, to find the most frequent pair fast

After merging pair p, only the chunks in where[p] change; for each we subtract the counts of
its old pairs and add those of its new pairs. Rebuilding a short chunk's pairs is cheaper and
clearer than patching the two neighbours of every occurrence. Stale entries are left in place
and skipped when met ("lazy invalidation"):
  - where[pair] may list a chunk that no longer holds the pair: merging it changes nothing.
  - a heap entry may carry an old count. A count only goes up when a new pair is born, and
    every new pair contains the token just made, so pushing those pairs after each merge
    keeps every heap entry >= its pair's true count. When the top entry's count is stale we
    push the true count and pop again; when it is current, no other pair can beat it.
"""

import heapq
from collections import Counter, defaultdict


def merge(ids, pair, new_id):
    """`ids` with every non-overlapping occurrence of `pair`, left to right, replaced by new_id."""
    a, b = pair
    out = []
    i, n = 0, len(ids)
    while i < n:
        if ids[i] == a and i + 1 < n and ids[i + 1] == b:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def learn_merges(chunks, counts, num_merges, first_id=256):
    """Incremental BPE training (see module docstring).

    chunks: list of byte strings (or lists of ids), each distinct; counts: their frequencies.
    Returns up to `num_merges` pairs; fewer if every chunk has become a single token.
    """
    words = [list(chunk) for chunk in chunks]
    pair_counts = defaultdict(int)
    where = defaultdict(set)
    for index, (word, count) in enumerate(zip(words, counts)):
        for pair in zip(word, word[1:]):
            pair_counts[pair] += count
            where[pair].add(index)
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)

    merges = []
    while heap and len(merges) < num_merges:
        negative_count, pair = heapq.heappop(heap)
        count = pair_counts[pair]
        if count != -negative_count:  # stale entry: re-queue with the true count
            if count > 0:
                heapq.heappush(heap, (-count, pair))
            continue
        new_id = first_id + len(merges)
        merges.append(pair)
        born = set()  # pairs containing new_id, whose counts only grew
        for index in where.pop(pair):
            old = words[index]
            new = merge(old, pair, new_id)
            if len(new) == len(old):
                continue  # stale index entry
            count = counts[index]
            for old_pair in zip(old, old[1:]):
                pair_counts[old_pair] -= count
            for new_pair in zip(new, new[1:]):
                pair_counts[new_pair] += count
                if new_id in new_pair:  # other pairs were in `old`, so `where` lists them
                    where[new_pair].add(index)
                    born.add(new_pair)
            words[index] = new
        for new_pair in born:
            heapq.heappush(heap, (-pair_counts[new_pair], new_pair))
    return merges


def learn_merges_textbook(chunks, counts, num_merges, first_id=256):
    """The reference algorithm: recount all pairs of all chunks before every merge."""
    words = [list(chunk) for chunk in chunks]
    merges = []
    while len(merges) < num_merges:
        pair_counts = Counter()
        for word, count in zip(words, counts):
            for pair in zip(word, word[1:]):
                pair_counts[pair] += count
        if not pair_counts:
            break
        # Highest count first; among equal counts the smallest pair (a, b).
        pair = min(pair_counts, key=lambda p: (-pair_counts[p], p))
        new_id = first_id + len(merges)
        merges.append(pair)
        words = [merge(word, pair, new_id) for word in words]
    return merges
