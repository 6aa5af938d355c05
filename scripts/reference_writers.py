#!/usr/bin/python3
"""Writes the expected transcript files for steno's writer test (tests/test_output.c).

Reads a transcript in openai-whisper's result format (a JSON file: text, segments, language) and
writes, into OUTDIR, what openai-whisper's txt/vtt/srt/tsv/json writers produce for it, as
published in whisper/utils.py: re-implemented here in plain Python (no whisper import) from the
format rules, so the C writers are checked against an independent implementation whose string,
rounding and JSON behaviour is Python's own. Each variant is one set of word-level options:

  words            word timestamps, no options
  nowords          the same result with every "words" list removed (segment-level subtitles)
  width20_count2   max_line_width=20, max_line_count=2
  width30          max_line_width=30 only (segments are preserved)
  words3           max_words_per_line=3
  highlight        highlight_words

It also writes floats.tsv: float.hex() and json.dumps() of many doubles, for the float repr test.

Usage: scripts/reference_writers.py FIXTURE.json OUTDIR
"""
import copy
import json
import os
import random
import re
import sys

VARIANTS = {
    "words": {},
    "nowords": {},
    "width20_count2": {"max_line_width": 20, "max_line_count": 2},
    "width30": {"max_line_width": 30},
    "words3": {"max_words_per_line": 3},
    "highlight": {"highlight_words": True},
}


def timestamp(seconds, hours_always, marker):
    assert seconds >= 0
    ms = round(seconds * 1000.0)
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1_000)
    head = f"{h:02d}:" if hours_always or h > 0 else ""
    return f"{head}{m:02d}:{s:02d}{marker}{ms:03d}"


def group_words(result, opts):
    """Splits the word timings into subtitles (lists of (text, start, end)), as openai does."""
    width, count = opts.get("max_line_width"), opts.get("max_line_count")
    keep_segments = width is None or count is None
    width = width or 1000
    per_line = opts.get("max_words_per_line") or 1000
    first_words = [w["start"] for s in result["segments"] for w in s["words"]]
    previous_start = first_words[0] if first_words else result["segments"][0]["start"]
    subtitles, current = [], []
    used, lines = 0, 1
    for seg in result["segments"]:
        words = seg["words"]
        for begin in range(0, len(words), per_line):
            for k, w in enumerate(words[begin:begin + per_line]):
                text = w["word"]
                pause = (not keep_segments) and w["start"] - previous_start > 3.0
                fits = used + len(text) <= width
                new_segment = k == 0 and bool(current) and keep_segments
                if used > 0 and fits and not pause and not new_segment:
                    used += len(text)
                else:
                    text = text.strip()
                    if new_segment or (current and count is not None and (pause or lines >= count)):
                        subtitles.append(current)
                        current, lines = [], 1
                    elif used > 0:
                        lines += 1
                        text = "\n" + text
                    used = len(text.strip())
                current.append((text, w["start"], w["end"]))
                previous_start = w["start"]
    if current:
        subtitles.append(current)
    return subtitles


def cues(result, opts, hours_always, marker):
    def ts(x):
        return timestamp(x, hours_always, marker)

    if not result["segments"] or "words" not in result["segments"][0]:
        for seg in result["segments"]:
            yield ts(seg["start"]), ts(seg["end"]), seg["text"].strip().replace("-->", "->")
        return
    for sub in group_words(result, opts):
        whole = "".join(t for t, _, _ in sub)
        if not opts.get("highlight_words"):
            yield ts(sub[0][1]), ts(sub[-1][2]), whole
            continue
        mark = ts(sub[0][1])
        for i, (_, start, end) in enumerate(sub):
            if mark != ts(start):
                yield mark, ts(start), whole
            parts = [re.sub(r"^(\s*)(.*)$", r"\1<u>\2</u>", t) if j == i else t for j, (t, _, _) in enumerate(sub)]
            yield ts(start), ts(end), "".join(parts)
            mark = ts(end)


def write_all(result, opts, stem, outdir):
    def out(ext):
        return open(os.path.join(outdir, f"{stem}.{ext}"), "w", encoding="utf-8", newline="")

    with out("txt") as f:
        for seg in result["segments"]:
            f.write(seg["text"].strip() + "\n")
    with out("vtt") as f:
        f.write("WEBVTT\n\n")
        for a, b, text in cues(result, opts, False, "."):
            f.write(f"{a} --> {b}\n{text}\n\n")
    with out("srt") as f:
        for n, (a, b, text) in enumerate(cues(result, opts, True, ","), start=1):
            f.write(f"{n}\n{a} --> {b}\n{text}\n\n")
    with out("tsv") as f:
        f.write("start\tend\ttext\n")
        for seg in result["segments"]:
            text = seg["text"].strip().replace("\t", " ")
            f.write(f"{round(1000 * seg['start'])}\t{round(1000 * seg['end'])}\t{text}\n")
    with out("json") as f:
        json.dump(result, f)


def write_floats(path):
    rng = random.Random(20240917)
    values = [0.0, -0.0, 1.0, 0.1, 2.4, -0.2345678901234, 1 / 3, 2 / 3, 1e16, 1e15, 9999999999999998.0, 1e-4,
              1e-5, 0.00012345, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 123456789.123, 1e22, 1e23,
              9007199254740993.0, 0.30000000000000004, 100.0, 1234567890123456.7, 12345678901234567.0,
              float("inf"), float("-inf"), float("nan")]
    for _ in range(3000):
        values.append(rng.uniform(-1, 1) * 10 ** rng.randint(-12, 20))
    for _ in range(2000):  # timestamps and probabilities as transcripts have them
        values.append(round(rng.uniform(0, 7200), rng.randint(0, 3)))
        values.append(rng.random())
    for _ in range(1000):  # arbitrary bit patterns, finite only
        v = float.fromhex(f"0x1.{rng.getrandbits(52):013x}p{rng.randint(-1022, 1023)}")
        values.append(-v if rng.random() < 0.5 else v)
    with open(path, "w", encoding="ascii") as f:
        for v in values:
            f.write(f"{v.hex() if v == v and abs(v) != float('inf') else v}\t{json.dumps(v)}\n")


def main():
    fixture, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    with open(fixture, encoding="utf-8") as f:
        result = json.load(f)
    for stem, opts in VARIANTS.items():
        r = copy.deepcopy(result)
        if stem == "nowords":
            for seg in r["segments"]:
                del seg["words"]
        write_all(r, opts, stem, outdir)
    write_floats(os.path.join(outdir, "floats.tsv"))


if __name__ == "__main__":
    main()
