#!/usr/bin/python3
"""Reference diarization error rate, written from the published definition (NIST RT md-eval,
as pyannote.metrics computes it) independently of steno's C scorer, to cross-check it.

  der_reference.py score REFERENCE.rttm HYPOTHESIS.rttm [--uem FILE]
      prints "uri<TAB>total<TAB>missed<TAB>false_alarm<TAB>confusion" per recording (seconds)
  der_reference.py perturb REFERENCE.rttm SEED OUT.rttm
      writes a deterministic, damaged copy of the reference to score (labels renamed, some
      speakers merged, boundaries moved, turns dropped, false turns added)

Definition: no collar, overlapping speech scored. The recording is cut at every boundary of a
reference turn, a hypothesis turn and a scored region; for each piece of duration d inside the
scored regions, with the set Ref of reference speakers and Hyp of hypothesis speakers active:
  total += d |Ref|; missed += d max(0, |Ref|-|Hyp|); false alarm += d max(0, |Hyp|-|Ref|);
  confusion += d (min(|Ref|,|Hyp|) - |{r in Ref : map(r) in Hyp}|)
where map is the one-to-one mapping of reference to hypothesis speakers maximising total
co-occurrence time. Here the mapping is found by exhaustive search over every injective
pairing (not the Hungarian algorithm the C code uses), and confusion is counted piece by piece.
Without a UEM the scored span is the extent of both sides.
"""
import itertools
import random
import sys
from collections import defaultdict


def read_rttm(path):
    turns = defaultdict(list)  # uri -> [(start, end, speaker)]
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if not parts or parts[0] != "SPEAKER":
                continue
            start, duration = float(parts[3]), float(parts[4])
            turns[parts[1]].append((start, start + duration, parts[7]))
    return turns


def read_uem(path):
    regions = defaultdict(list)
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if parts:
                regions[parts[0]].append((float(parts[2]), float(parts[3])))
    return regions


def active(turns, t0, t1):
    """Speakers with a turn covering the whole piece [t0, t1]."""
    return {s for (a, b, s) in turns if a <= t0 and b >= t1}


def score(ref, hyp, regions):
    if regions is None:
        times = [x for (a, b, _) in ref + hyp for x in (a, b)]
        if not times:
            return 0.0, 0.0, 0.0, 0.0
        regions = [(min(times), max(times))]
    cuts = sorted({x for (a, b, _) in ref + hyp for x in (a, b)} | {x for r in regions for x in r})
    pieces = []
    for t0, t1 in zip(cuts, cuts[1:]):
        if t1 > t0 and any(a <= t0 and b >= t1 for (a, b) in regions):
            pieces.append((t1 - t0, active(ref, t0, t1), active(hyp, t0, t1)))
    ref_speakers = sorted({s for (_, _, s) in ref})
    hyp_speakers = sorted({s for (_, _, s) in hyp})
    cooccurrence = defaultdict(float)
    for d, r, h in pieces:
        for a in r:
            for b in h:
                cooccurrence[a, b] += d
    best, best_map = -1.0, {}
    # every injective map of reference speakers to hypothesis speakers or to nobody
    slots = hyp_speakers + [None] * len(ref_speakers)
    for choice in itertools.permutations(slots, len(ref_speakers)):
        matched = sum(cooccurrence[a, b] for a, b in zip(ref_speakers, choice) if b is not None)
        if matched > best:
            best, best_map = matched, dict(zip(ref_speakers, choice))
    total = missed = false_alarm = confusion = 0.0
    for d, r, h in pieces:
        total += d * len(r)
        missed += d * max(0, len(r) - len(h))
        false_alarm += d * max(0, len(h) - len(r))
        correct = sum(1 for a in r if best_map.get(a) in h)
        confusion += d * (min(len(r), len(h)) - correct)
    return total, missed, false_alarm, confusion


def perturb(reference, seed, out):
    rng = random.Random(seed)
    with open(out, "w", encoding="utf-8") as f:
        for uri, turns in reference.items():
            speakers = sorted({s for (_, _, s) in turns})
            rename = {s: "hyp%d" % rng.randrange(len(speakers) + 1) for s in speakers}  # may merge
            for start, end, s in turns:
                if rng.random() < 0.15:
                    continue
                start = max(0.0, start + rng.uniform(-0.4, 0.4))
                end = max(start, end + rng.uniform(-0.4, 0.4))
                f.write("SPEAKER %s 1 %.3f %.3f <NA> <NA> %s <NA> <NA>\n" % (uri, start, end - start, rename[s]))
            for _ in range(rng.randrange(3)):
                start = rng.uniform(0, 30)
                f.write("SPEAKER %s 1 %.3f %.3f <NA> <NA> hyp%d <NA> <NA>\n" % (uri, start, rng.uniform(0.1, 2), rng.randrange(5)))


def main(argv):
    if len(argv) >= 3 and argv[0] == "score":
        reference, hypothesis = read_rttm(argv[1]), read_rttm(argv[2])
        uem = read_uem(argv[4]) if len(argv) == 5 and argv[3] == "--uem" else None
        for uri in (uem if uem is not None else reference):
            figures = score(reference.get(uri, []), hypothesis.get(uri, []), uem[uri] if uem is not None else None)
            print("\t".join([uri] + ["%.9f" % x for x in figures]))
        return 0
    if len(argv) == 4 and argv[0] == "perturb":
        perturb(read_rttm(argv[1]), int(argv[2]), argv[3])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
