#!/usr/bin/python3
"""Reference of pyannote 3.1's SpeakerDiarization pipeline (config of
pyannote/speaker-diarization-3.1), written from pyannote.audio's published algorithm on top of
the reference nets of reference_pyannote.py, with numpy only (no scipy: the centroid linkage and
the flat-cluster cut are written here from scipy's definitions).

Usage: reference_pyannote_pipeline.py HUB WAV OUT_DIR

Writes OUT_DIR/pipeline.rttm (the number of speakers estimated) and
OUT_DIR/pipeline_speakers_3.rttm (num_speakers=3, which exercises the forced-count search).

Steps, as pyannote.audio 3.1 runs them:
  1. segmentation on 10 s chunks every 1 s (the last one zero-padded when the file does not end
     on a step), each frame's most likely powerset class turned into 0/1 per local speaker;
  2. the instantaneous speaker count: per chunk frame the number of active local speakers,
     averaged over the chunks covering each output frame (frames on the net's receptive field:
     991 samples every 270) and rounded half to even;
  3. one embedding per (chunk, local speaker), statistics pooled over the frames where that
     speaker is active alone (all its active frames when there are 2 or fewer such frames);
  4. clustering of the embeddings of speakers active alone for at least 20 % of a chunk:
     unit vectors, centroid linkage, cut at the threshold, clusters under min_cluster_size
     folded into the nearest large one (with the speaker-count search when a count is imposed);
     every embedding then goes to the nearest centroid (mean of its cluster's raw embeddings) in
     cosine distance; local speakers never active are dropped;
  5. reconstruction: per output frame the sum over chunks of each cluster's activity, and the
     `count` most active clusters are the speakers of that frame;
  6. turns: each speaker's runs of active frames, from the middle of the first frame to the
     middle of the frame after the last; written as RTTM (SPEAKER_00, … in cluster order).
"""
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_pyannote import (SAMPLE_RATE, exclude_overlap_masks, kaldi_fbank, powerset_to_multilabel,  # noqa: E402
                                pyannet, read_wav, resnet34_frames, statistics_pooling)
from pyannote_checkpoints import pyannote_classes  # noqa: E402

CHUNK_SECONDS, STEP_SECONDS = 10.0, 1.0
FRAME_DURATION, FRAME_STEP = 991 / SAMPLE_RATE, 270 / SAMPLE_RATE  # PyanNet's receptive field
MIN_ACTIVE_RATIO = 0.2
MIN_NUM_SAMPLES = 400  # the shortest input WeSpeaker accepts: one fbank frame
SPEAKER_COUNTS = (None, 3)


def read_config(path):
    """threshold, min_cluster_size and min_duration_off from the pipeline's config.yaml."""
    values = {}
    for line in open(path):
        key, _, value = line.strip().partition(":")
        if value.strip():
            values[key] = value.strip()
    return float(values["threshold"]), int(values["min_cluster_size"]), float(values["min_duration_off"])


def snapshot(hub, repo):
    folder = os.path.join(hub, "models--" + repo.replace("/", "--"))
    commit = open(os.path.join(folder, "refs", "main")).read().strip()
    return os.path.join(folder, "snapshots", commit)


def closest_frame(t):
    return int(np.rint((t - 0.5 * FRAME_DURATION) / FRAME_STEP))


# ---- clustering --------------------------------------------------------------------------------

def centroid_linkage(x):
    """scipy's linkage(x, "centroid"): rows (a, b, distance, size), new clusters numbered n, n+1…;
    the closest pair of centroids merges first (lowest indices on ties)."""
    n = len(x)
    centroids = {i: x[i].astype(np.float64) for i in range(n)}
    sizes = {i: 1 for i in range(n)}
    rows = []
    for m in range(n - 1):
        ids = sorted(centroids)
        best = None
        for i_index, i in enumerate(ids):
            for j in ids[i_index + 1:]:
                d = np.sqrt(np.sum((centroids[i] - centroids[j]) ** 2))
                if best is None or d < best[0]:
                    best = (d, i, j)
        d, i, j = best
        size = sizes[i] + sizes[j]
        centroids[n + m] = (sizes[i] * centroids[i] + sizes[j] * centroids[j]) / size
        sizes[n + m] = size
        for k in (i, j):
            del centroids[k], sizes[k]
        rows.append((i, j, d, size))
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def fcluster_distance(dendrogram, threshold, n):
    """scipy's fcluster(…, criterion="distance"): a subtree is one flat cluster when the
    largest merge distance inside it is at most the threshold. Clusters are numbered as scipy
    numbers them: walking from the root, a node's non-leaf children first (left, then right),
    then its leaf children; a subtree within the threshold takes a number when it is entered."""
    largest = {}
    for m, (a, b, d, _) in enumerate(dendrogram):
        largest[n + m] = max(d, largest.get(int(a), -np.inf), largest.get(int(b), -np.inf))
    labels = np.zeros(n, dtype=int)
    if n == 1:
        return labels
    visited, stack = set(), [2 * n - 2]
    leader, count = None, 0
    while stack:
        node = stack[-1]
        left, right = int(dendrogram[node - n, 0]), int(dendrogram[node - n, 1])
        if leader is None and largest[node] <= threshold:
            leader, count = node, count + 1
        descended = False
        for child in (left, right):
            if child >= n and child not in visited:
                visited.add(child)
                stack.append(child)
                descended = True
                break
        if descended:
            continue
        for child in (left, right):
            if child < n:
                if leader is None:
                    count += 1
                labels[child] = count
        if leader == node:
            leader = None
        stack.pop()
    return labels


def agglomerative(embeddings, threshold, min_cluster_size, num_clusters, min_clusters, max_clusters):
    """pyannote 3.1's AgglomerativeClustering.cluster (method centroid, metric cosine)."""
    n = len(embeddings)
    min_cluster_size = min(min_cluster_size, max(1, round(0.1 * n)))
    if n == 1:
        return np.zeros(1, dtype=int)
    x = embeddings / np.linalg.norm(embeddings, axis=-1, keepdims=True)
    dendrogram = centroid_linkage(x)
    clusters = fcluster_distance(dendrogram, threshold, n)
    unique, counts = np.unique(clusters, return_counts=True)
    large = unique[counts >= min_cluster_size]
    if len(large) < min_clusters:
        num_clusters = min_clusters
    elif len(large) > max_clusters:
        num_clusters = max_clusters
    if num_clusters is not None and len(large) != num_clusters:
        by_index = dendrogram.copy()
        by_index[:, 2] = np.arange(n - 1)
        best_iteration, best_large = n - 1, 1
        for iteration in np.argsort(np.abs(dendrogram[:, 2] - threshold), kind="stable"):
            if by_index[iteration, 3] < min_cluster_size:
                continue
            clusters = fcluster_distance(by_index, iteration, n)
            unique, counts = np.unique(clusters, return_counts=True)
            n_large = int(np.sum(counts >= min_cluster_size))
            if abs(n_large - num_clusters) < abs(best_large - num_clusters):
                best_iteration, best_large = iteration, n_large
            if n_large == num_clusters:
                break
        if best_large != num_clusters:
            clusters = fcluster_distance(by_index, best_iteration, n)
        unique, counts = np.unique(clusters, return_counts=True)
        large = unique[counts >= min_cluster_size]
    if len(large) == 0:
        return np.zeros(n, dtype=int)
    small = unique[counts < min_cluster_size]
    if len(small):
        mean = lambda k: x[clusters == k].mean(axis=0)
        large_centroids = np.stack([mean(k) for k in large])
        for k in small:
            c = mean(k)
            cosine = 1 - large_centroids @ c / (np.linalg.norm(large_centroids, axis=1) * np.linalg.norm(c))
            clusters[clusters == k] = large[int(np.argmin(cosine))]
    return np.unique(clusters, return_inverse=True)[1]


# ---- the pipeline ------------------------------------------------------------------------------

def diarize(samples, segmentation, wespeaker, threshold, min_cluster_size, speaker_counts=(None,)):
    """Turns for each entry of speaker_counts (None: estimated; n: num_speakers=n); the nets run once."""
    window, step = int(CHUNK_SECONDS * SAMPLE_RATE), int(STEP_SECONDS * SAMPLE_RATE)
    n = len(samples)
    n_complete = (n - window) // step + 1 if n >= window else 0
    has_last = n < window or (n - window) % step > 0
    chunks = []
    for c in range(n_complete + has_last):
        piece = samples[c * step: c * step + window]
        chunks.append(np.pad(piece, (0, window - len(piece))))
    with torch.no_grad():  # the chunks in one batch: the LSTM steps through them together
        log_probabilities = pyannet(segmentation, torch.from_numpy(np.stack(chunks))[:, None])
        binarized = np.stack([powerset_to_multilabel(x).numpy() for x in log_probabilities])  # [chunks][589][3]
    n_chunks, n_frames, n_local = binarized.shape

    total = closest_frame(CHUNK_SECONDS + (n_chunks - 1) * STEP_SECONDS + 0.5 * FRAME_DURATION) + 1
    starts = [closest_frame(c * STEP_SECONDS + 0.5 * FRAME_DURATION) for c in range(n_chunks)]
    summed = np.zeros(total, dtype=np.float32)
    covered = np.zeros(total, dtype=np.float32)
    for c in range(n_chunks):
        summed[starts[c]:starts[c] + n_frames] += binarized[c].sum(axis=1)
        covered[starts[c]:starts[c] + n_frames] += 1
    count = np.rint(summed / np.maximum(covered, np.float32(1e-12))).astype(int)
    if count.max() == 0:
        return {n: [] for n in speaker_counts}, count

    if any(n is None or n >= 2 for n in speaker_counts):
        min_frames = math.ceil(n_frames * MIN_NUM_SAMPLES / window)
        embeddings = np.full((n_chunks, n_local, 256), np.nan, dtype=np.float32)
        with torch.no_grad():
            for c in range(n_chunks):
                multilabel = torch.from_numpy(binarized[c])
                clean = exclude_overlap_masks(multilabel)
                fbank = torch.from_numpy(kaldi_fbank(chunks[c] * 32768.0)).float()
                frames = resnet34_frames(wespeaker, fbank - fbank.mean(dim=0, keepdim=True))
                for s in range(n_local):
                    mask = clean[s] if clean[s].sum() > min_frames else multilabel[:, s]
                    if mask.sum() > 0:
                        stats = statistics_pooling(frames, mask)
                        embeddings[c, s] = torch.nn.functional.linear(stats, wespeaker["resnet.seg_1.weight"],
                                                                      wespeaker["resnet.seg_1.bias"]).numpy()

    def finish(num_speakers):
        max_speakers = num_speakers or np.inf
        if max_speakers < 2:
            hard = np.zeros((n_chunks, n_local), dtype=int)
        else:
            alone = binarized.sum(axis=2, keepdims=True) == 1
            clean_frames = (binarized * alone).sum(axis=1)
            usable = (clean_frames >= MIN_ACTIVE_RATIO * n_frames) & ~np.isnan(embeddings).any(axis=2)
            chunk_index, speaker_index = np.where(usable)
            train = embeddings[chunk_index, speaker_index].astype(np.float64)
            n_train = len(train)
            min_clusters = max(1, min(n_train, num_speakers or 1))
            max_clusters = max(1, min(n_train, num_speakers or n_train))
            fixed = min_clusters if min_clusters == max_clusters else None
            if n_train == 0 or max_clusters < 2:
                hard = np.zeros((n_chunks, n_local), dtype=int)
            else:
                labels = agglomerative(train, threshold, min_cluster_size, fixed, min_clusters, max_clusters)
                centroids = np.stack([train[labels == k].mean(axis=0) for k in range(labels.max() + 1)])
                flat = embeddings.reshape(-1, 256).astype(np.float64)
                similarity = flat @ centroids.T / (np.linalg.norm(flat, axis=1, keepdims=True)
                                                   * np.linalg.norm(centroids, axis=1))
                similarity = np.nan_to_num(similarity, nan=-np.inf)
                hard = similarity.argmax(axis=1).reshape(n_chunks, n_local)
        capped = np.minimum(count, max_speakers).astype(int)
        hard[binarized.sum(axis=1) == 0] = -2

        n_clusters = max(hard.max() + 1, capped.max())
        activations = np.zeros((total, n_clusters), dtype=np.float32)
        for c in range(n_chunks):
            for k in np.unique(hard[c]):
                if k >= 0:
                    activations[starts[c]:starts[c] + n_frames, k] += binarized[c][:, hard[c] == k].max(axis=1)
        binary = np.zeros_like(activations)
        for t in range(total):
            for k in np.argsort(-activations[t], kind="stable")[:capped[t]]:
                binary[t, k] = 1
        middles = np.arange(total) * FRAME_STEP + FRAME_DURATION / 2
        turns = []
        for k in range(n_clusters):
            start, active = middles[0], binary[0, k] > 0.5
            for t in range(1, total):
                if active and binary[t, k] < 0.5:
                    turns.append((start, middles[t], k))
                    active = False
                elif not active and binary[t, k] > 0.5:
                    start, active = middles[t], True
            if active:
                turns.append((start, middles[total - 1], k))
        present = sorted({k for _, _, k in turns})
        names = {k: f"SPEAKER_{i:02d}" for i, k in enumerate(present)}
        return sorted((s, e, names[k]) for s, e, k in turns)

    return {n: finish(n) for n in speaker_counts}, count


def main():
    hub, wav, out = sys.argv[1], sys.argv[2], sys.argv[3]
    torch.set_num_threads(2)
    pyannote_classes()  # the checkpoints pickle pyannote.audio's Specifications
    threshold, min_cluster_size, _ = read_config(
        os.path.join(snapshot(hub, "pyannote/speaker-diarization-3.1"), "config.yaml"))
    load = lambda repo: torch.load(os.path.join(snapshot(hub, repo), "pytorch_model.bin"), map_location="cpu")
    results, count = diarize(read_wav(wav), load("pyannote/segmentation-3.0")["state_dict"],
                             load("pyannote/wespeaker-voxceleb-resnet34-LM")["state_dict"], threshold,
                             min_cluster_size, SPEAKER_COUNTS)
    uri = os.path.splitext(os.path.basename(wav))[0]
    for num_speakers, turns in results.items():
        name = "pipeline.rttm" if num_speakers is None else f"pipeline_speakers_{num_speakers}.rttm"
        with open(os.path.join(out, name), "w") as f:
            for start, end, speaker in turns:
                f.write(f"SPEAKER {uri} 1 {start:.3f} {end - start:.3f} <NA> <NA> {speaker} <NA> <NA>\n")
        print(f"{name}: {len(turns)} turns, {len({t[2] for t in turns})} speakers")
    print(f"speaker count: max {count.max()} over {len(count)} frames")


if __name__ == "__main__":
    main()
