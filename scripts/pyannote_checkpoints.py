"""pyannote.audio checkpoints of the real architecture and file layout, with stand-in weights.

The real files (pyannote/segmentation-3.0 and pyannote/wespeaker-voxceleb-resnet34-LM
pytorch_model.bin, pyannote/speaker-diarization-3.1 config.yaml) are gated on Hugging Face, so
the tests use these: torch.save of the dict pytorch-lightning writes, with pyannote.audio's
"pyannote.audio" entry (versions, architecture, a pickled Specifications object) and the nets'
real state-dict names, shapes and dtype (float32). The values are drawn from a fixed seed at a
sensible scale: the sinc band edges start on the mel scale as asteroid's ParamSincFB starts
them, normalisation layers scale by about one and batch-norm statistics are plausible, so that
activations neither vanish nor explode through the nets.

Used by make-store-fixtures.py (the model-store tree) and reference_pyannote.py (the nets'
golden numbers and the HF cache tree steno reads them from).
"""
import collections
import dataclasses
import enum
import os
import sys
import types

import numpy as np
import torch
from torch import nn

# speaker-diarization-3.1's config.yaml as the hub serves it
PIPELINE_CONFIG = """version: 3.1.0

pipeline:
  name: pyannote.audio.pipelines.SpeakerDiarization
  params:
    clustering: AgglomerativeClustering
    embedding: pyannote/wespeaker-voxceleb-resnet34-LM
    embedding_batch_size: 32
    embedding_exclude_overlap: true
    segmentation: pyannote/segmentation-3.0
    segmentation_batch_size: 32

params:
  clustering:
    method: centroid
    min_cluster_size: 12
    threshold: 0.7045654963945799
  segmentation:
    min_duration_off: 0.0
"""


def pyannote_classes():
    """Specifications, Problem and Resolution under pyannote.audio.core.task, so that pickle
    writes the same global references pyannote.audio's own checkpoints hold."""
    name = "pyannote.audio.core.task"
    if name in sys.modules and hasattr(sys.modules[name], "Specifications"):
        return sys.modules[name]
    module = types.ModuleType(name)

    class Problem(enum.Enum):
        BINARY_CLASSIFICATION = 0
        MONO_LABEL_CLASSIFICATION = 1
        MULTI_LABEL_CLASSIFICATION = 2
        REPRESENTATION = 3
        REGRESSION = 4

    class Resolution(enum.Enum):
        FRAME = 1
        CHUNK = 2

    @dataclasses.dataclass
    class Specifications:
        problem: Problem
        resolution: Resolution
        duration: float
        min_duration: float = None
        warm_up: tuple = (0.0, 0.0)
        classes: list = None
        powerset_max_classes: int = None
        permutation_invariant: bool = False

    for cls in (Problem, Resolution, Specifications):
        cls.__module__ = module.__name__
        cls.__qualname__ = cls.__name__
        setattr(module, cls.__name__, cls)
    for parent in ("pyannote", "pyannote.audio", "pyannote.audio.core"):
        sys.modules.setdefault(parent, types.ModuleType(parent))
    sys.modules[module.__name__] = module
    return module


def add_module(state, prefix, module):
    for name, tensor in module.state_dict().items():
        state[prefix + name] = tensor


def affine_norm(channels, generator):
    """An affine normalisation layer's scale near one and a small shift."""
    weight = 1.0 + 0.2 * (torch.rand(channels, generator=generator) - 0.5)
    return weight, 0.1 * torch.randn(channels, generator=generator)


def sinc_band_edges():
    """ParamSincFB's initial (low_hz_, band_hz_) for 80 filters at 16 kHz: 41 points evenly
    spaced in mel between 30 Hz and 8000 - (50 + 50) Hz; the filters' lower edges and widths."""
    to_mel = lambda hz: 2595 * np.log10(1 + hz / 700)
    mel = np.linspace(to_mel(30), to_mel(16000 / 2 - (50 + 50)), 41, dtype="float32")
    hz = 700 * (10 ** (mel / 2595) - 1)
    return torch.from_numpy(hz[:-1]).view(-1, 1).float(), torch.from_numpy(np.diff(hz)).view(-1, 1).float()


def pyannet_state():
    """segmentation-3.0's PyanNet: SincNet (80 sinc filters, two 60-channel convolutions), a
    4-layer bidirectional LSTM of 128, two linear layers of 128 and a 7-class powerset head.
    ParamSincFB's buffers window_ and n_ are persistent, so they are in the state dict."""
    torch.manual_seed(3)
    generator = torch.Generator().manual_seed(13)
    state = collections.OrderedDict()
    weight, bias = affine_norm(1, generator)
    state["sincnet.wav_norm1d.weight"], state["sincnet.wav_norm1d.bias"] = weight, bias
    low, band = sinc_band_edges()
    # "learned" edges: the initial ones moved by up to ±10 %
    state["sincnet.conv1d.0.filterbank.low_hz_"] = low * (1 + 0.2 * (torch.rand(40, 1, generator=generator) - 0.5))
    state["sincnet.conv1d.0.filterbank.band_hz_"] = band * (1 + 0.2 * (torch.rand(40, 1, generator=generator) - 0.5))
    state["sincnet.conv1d.0.filterbank.window_"] = torch.from_numpy(np.hamming(251)[:125]).float()
    state["sincnet.conv1d.0.filterbank.n_"] = 2 * np.pi * (torch.arange(-125, 0.0).view(1, -1) / 16000)
    add_module(state, "sincnet.conv1d.1.", nn.Conv1d(80, 60, 5))
    add_module(state, "sincnet.conv1d.2.", nn.Conv1d(60, 60, 5))
    for i, channels in enumerate((80, 60, 60)):
        weight, bias = affine_norm(channels, generator)
        state[f"sincnet.norm1d.{i}.weight"], state[f"sincnet.norm1d.{i}.bias"] = weight, bias
    add_module(state, "lstm.", nn.LSTM(60, 128, num_layers=4, bidirectional=True, batch_first=True, dropout=0.5))
    add_module(state, "linear.0.", nn.Linear(256, 128))
    add_module(state, "linear.1.", nn.Linear(128, 128))
    add_module(state, "classifier.", nn.Linear(128, 7))
    return state


def batch_norm(channels, generator):
    bn = nn.BatchNorm2d(channels)
    weight, bias = affine_norm(channels, generator)
    bn.weight.data, bn.bias.data = weight, bias
    bn.running_mean = 0.1 * torch.randn(channels, generator=generator)
    bn.running_var = 0.5 + torch.rand(channels, generator=generator)
    bn.num_batches_tracked = torch.tensor(1000)
    return bn


def wespeaker_state():
    """WeSpeaker's ResNet34 (32 base channels, blocks 3-4-6-3, 80 fbank bins, statistics
    pooling, one 256-wide embedding layer) under pyannote's "resnet." prefix."""
    torch.manual_seed(4)
    generator = torch.Generator().manual_seed(14)
    state = collections.OrderedDict()
    add_module(state, "resnet.conv1.", nn.Conv2d(1, 32, 3, padding=1, bias=False))
    add_module(state, "resnet.bn1.", batch_norm(32, generator))
    channels = 32
    for layer, (blocks, width, stride) in enumerate(((3, 32, 1), (4, 64, 2), (6, 128, 2), (3, 256, 2)), start=1):
        for b in range(blocks):
            prefix = f"resnet.layer{layer}.{b}."
            add_module(state, prefix + "conv1.", nn.Conv2d(channels, width, 3, stride if b == 0 else 1, 1, bias=False))
            add_module(state, prefix + "bn1.", batch_norm(width, generator))
            add_module(state, prefix + "conv2.", nn.Conv2d(width, width, 3, 1, 1, bias=False))
            add_module(state, prefix + "bn2.", batch_norm(width, generator))
            if b == 0 and (stride != 1 or channels != width):
                add_module(state, prefix + "shortcut.0.", nn.Conv2d(channels, width, 1, stride, bias=False))
                add_module(state, prefix + "shortcut.1.", batch_norm(width, generator))
            channels = width
    add_module(state, "resnet.seg_1.", nn.Linear(5120, 256))  # mean and std of 256 x 10 bins
    return state


def lightning_checkpoint(state, module, class_name, hyper_parameters, specifications):
    """The dict pytorch-lightning saves, with pyannote.audio's on_save_checkpoint entry."""
    return {"epoch": 0, "global_step": 0, "pytorch-lightning_version": "2.1.0", "state_dict": state,
            "loops": {}, "callbacks": {}, "optimizer_states": [], "lr_schedulers": [], "hparams_name": "kwargs",
            "hyper_parameters": hyper_parameters,
            "pyannote.audio": {"versions": {"torch": "2.1.1", "pyannote.audio": "3.1.0"},
                               "architecture": {"module": module, "class": class_name},
                               "specifications": specifications}}


def rttm_turns(path):
    """(start, end, speaker) of each SPEAKER line of an RTTM file."""
    turns = []
    for line in open(path):
        fields = line.split()
        if fields and fields[0] == "SPEAKER":
            turns.append((float(fields[3]), float(fields[3]) + float(fields[4]), fields[7]))
    return turns


def powerset_targets(turns, start, n_frames, frame_step, frame_duration):
    """The powerset class of each frame of the 10 s chunk from `start` s: the chunk's speakers
    numbered in order of first appearance (at most 3), {} {0} {1} {2} {0,1} {0,2} {1,2}."""
    classes = {(): 0, (0,): 1, (1,): 2, (2,): 3, (0, 1): 4, (0, 2): 5, (1, 2): 6}
    order = []
    for s, e, who in sorted(turns):
        if e > start and s < start + 10 and who not in order:
            order.append(who)
    targets = torch.zeros(n_frames, dtype=torch.long)
    for i in range(n_frames):
        t = start + i * frame_step + frame_duration / 2
        active = sorted({order.index(w) for s, e, w in turns if s <= t < e and w in order[:3]})[:2]
        targets[i] = classes[tuple(active)]
    return targets


def fit_classifier(state, samples, turns, sample_rate=16000):
    """Fits the linear layers and the 7-class head (SincNet and the LSTM stay random) to an RTTM's speaker turns on 10 s chunks
    of samples every second, so that the stand-in net's output changes with the speech and
    exercises every step after it. pyannote.audio's PyanNet up to the head is rebuilt here
    from torch modules only to compute the features; the fit is a few hundred Adam steps."""
    from torch.nn import functional as F
    sinc = {k[len("sincnet."):]: v for k, v in state.items() if k.startswith("sincnet.")}
    lstm = nn.LSTM(60, 128, num_layers=4, bidirectional=True, batch_first=True)
    lstm.load_state_dict({k[len("lstm."):]: v for k, v in state.items() if k.startswith("lstm.")})
    half = 125
    window = sinc["conv1d.0.filterbank.window_"]
    n = sinc["conv1d.0.filterbank.n_"]
    low = 50 + sinc["conv1d.0.filterbank.low_hz_"].abs()
    high = torch.clamp(low + 50 + sinc["conv1d.0.filterbank.band_hz_"].abs(), 50, sample_rate / 2)
    band = (high - low)[:, 0]
    left = (torch.sin(high @ n) - torch.sin(low @ n)) / (n / 2) * window
    even = torch.cat([left, 2 * band[:, None], left.flip(1)], 1)
    left = (torch.cos(low @ n) - torch.cos(high @ n)) / (n / 2) * window
    odd = torch.cat([left, torch.zeros(40, 1), -left.flip(1)], 1)
    filters = (torch.cat([even, odd]) / (2 * torch.cat([band, band])[:, None])).view(80, 1, 2 * half + 1)
    starts = list(range(0, max(1, int(len(samples) / sample_rate) - 9)))
    chunks = torch.stack([torch.from_numpy(samples[s * sample_rate:(s + 10) * sample_rate]) for s in starts])[:, None]
    norm = lambda x, p: F.instance_norm(x, weight=sinc[p + "weight"], bias=sinc[p + "bias"])
    with torch.no_grad():
        x = F.conv1d(norm(chunks, "wav_norm1d."), filters, stride=10).abs()
        x = F.leaky_relu(norm(F.max_pool1d(x, 3, 3), "norm1d.0."))
        for i in (1, 2):
            x = F.conv1d(x, sinc[f"conv1d.{i}.weight"], sinc[f"conv1d.{i}.bias"])
            x = F.leaky_relu(norm(F.max_pool1d(x, 3, 3), f"norm1d.{i}."))
        x, _ = lstm(x.transpose(1, 2))
    n_frames = x.shape[1]
    step = (10 * sample_rate / n_frames) / sample_rate
    targets = torch.stack([powerset_targets(turns, s, n_frames, step, step) for s in starts])
    head = nn.Sequential(nn.Linear(256, 128), nn.LeakyReLU(), nn.Linear(128, 128), nn.LeakyReLU(), nn.Linear(128, 7))
    names = {"0": "linear.0.", "2": "linear.1.", "4": "classifier."}
    head.load_state_dict({k: state[names[k.split(".")[0]] + k.split(".")[1]] for k in head.state_dict()})
    optimiser = torch.optim.Adam(head.parameters(), lr=0.01)
    for _ in range(400):
        optimiser.zero_grad()
        loss = F.cross_entropy(head(x).reshape(-1, 7), targets.reshape(-1))
        loss.backward()
        optimiser.step()
    for k, v in head.state_dict().items():
        state[names[k.split(".")[0]] + k.split(".")[1]] = v.detach().clone()
    return float(loss)


def segmentation_checkpoint(fit=None):
    """fit: None, or (samples at 16 kHz, RTTM turns) to fit the head to (fit_classifier)."""
    task = pyannote_classes()
    state = pyannet_state()
    if fit is not None:
        fit_classifier(state, *fit)
    specifications = task.Specifications(problem=task.Problem.MONO_LABEL_CLASSIFICATION,
                                         resolution=task.Resolution.FRAME, duration=10.0,
                                         classes=["speaker#1", "speaker#2", "speaker#3"], powerset_max_classes=2,
                                         permutation_invariant=True)
    return lightning_checkpoint(state, "pyannote.audio.models.segmentation.PyanNet", "PyanNet",
                                {"linear": {"hidden_size": 128, "num_layers": 2},
                                 "lstm": {"hidden_size": 128, "num_layers": 4, "bidirectional": True,
                                          "monolithic": True, "dropout": 0.5, "batch_first": True},
                                 "num_channels": 1, "sample_rate": 16000,
                                 "sincnet": {"stride": 10, "sample_rate": 16000}},
                                specifications)


def embedding_checkpoint():
    task = pyannote_classes()
    specifications = task.Specifications(problem=task.Problem.REPRESENTATION, resolution=task.Resolution.CHUNK,
                                         duration=3.0)
    return lightning_checkpoint(wespeaker_state(), "pyannote.audio.models.embedding.wespeaker", "WeSpeakerResNet34",
                                {"sample_rate": 16000, "num_channels": 1, "num_mel_bins": 80, "frame_length": 25,
                                 "frame_shift": 10, "dither": 0.0, "window_type": "hamming", "use_energy": False},
                                specifications)


def write_pipeline_repo(hub, commit):
    """models--pyannote--speaker-diarization-3.1 with its config.yaml (a plain file: the
    pipeline repository holds no weights)."""
    folder = os.path.join(hub, "models--pyannote--speaker-diarization-3.1")
    os.makedirs(os.path.join(folder, "refs"), exist_ok=True)
    os.makedirs(os.path.join(folder, "snapshots", commit), exist_ok=True)
    with open(os.path.join(folder, "refs", "main"), "w") as f:
        f.write(commit)
    with open(os.path.join(folder, "snapshots", commit, "config.yaml"), "w") as f:
        f.write(PIPELINE_CONFIG)
    return folder
