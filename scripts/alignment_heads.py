#!/usr/bin/python3
"""Decodes openai-whisper's word-timestamp alignment heads into (layer, head) pairs.

openai-whisper (whisper/__init__.py, _ALIGNMENT_HEADS) ships, per official model, a boolean
mask of shape [n_text_layer, n_text_head] marking the cross-attention heads whose attention
follows the audio; each mask is stored as base85(gzip(bytes of the bool array)). This script
decodes every mask and prints the pairs as the C table of src/whisper/alignment_heads.c, so the
table can be regenerated and checked:

  scripts/alignment_heads.py            prints the C initialisers
  scripts/alignment_heads.py --check F  exits 1 unless every printed line occurs in F
"""
import base64
import gzip
import sys

# Blobs copied verbatim from openai-whisper's __init__.py; "large" and "turbo" are aliases of
# large-v3 and large-v3-turbo there and are left out.
BLOBS = {
    "tiny.en": b"ABzY8J1N>@0{>%R00Bk>$p{7v037`oCl~+#00",
    "tiny": b"ABzY8bu8Lr0{>%RKn9Fp%m@SkK7Kt=7ytkO",
    "base.en": b"ABzY8;40c<0{>%RzzG;p*o+Vo09|#PsxSZm00",
    "base": b"ABzY8KQ!870{>%RzyTQH3`Q^yNP!>##QT-<FaQ7m",
    "small.en": b"ABzY8>?_)10{>%RpeA61k&I|OI3I$65C{;;pbCHh0B{qLQ;+}v00",
    "small": b"ABzY8DmU6=0{>%Rpa?J`kvJ6qF(V^F86#Xh7JUGMK}P<N0000",
    "medium.en": b"ABzY8usPae0{>%R7<zz_OvQ{)4kMa0BMw6u5rT}kRKX;$NfYBv00*Hl@qhsU00",
    "medium": b"ABzY8B0Jh+0{>%R7}kK1fFL7w6%<-Pf*t^=N)Qr&0RR9",
    "large-v1": b"ABzY8r9j$a0{>%R7#4sLmoOs{s)o3~84-RPdcFk!JR<kSfC2yj",
    "large-v2": b"ABzY8zd+h!0{>%R7=D0pU<_bnWW*tkYAhobTNnu$jnkEkXqp)j;w1Tzk)UH3X%SZd&fFZ2fC2yj",
    "large-v3": b"ABzY8gWO1E0{>%R7(9S+Kn!D~%ngiGaR?*L!iJG9p-nab0JQ=-{D1-g00",
    "large-v3-turbo": b"ABzY8j^C+e0{>%RARaKHP%t(lGR*)0g!tONPyhe`",
}

# (n_text_layer, n_text_head, n_vocab, n_mels) of each model: openai-whisper's ModelDimensions.
DIMS = {
    "tiny.en": (4, 6, 51864, 80), "tiny": (4, 6, 51865, 80),
    "base.en": (6, 8, 51864, 80), "base": (6, 8, 51865, 80),
    "small.en": (12, 12, 51864, 80), "small": (12, 12, 51865, 80),
    "medium.en": (24, 16, 51864, 80), "medium": (24, 16, 51865, 80),
    "large-v1": (32, 20, 51865, 80), "large-v2": (32, 20, 51865, 80),
    "large-v3": (32, 20, 51866, 128), "large-v3-turbo": (4, 20, 51866, 128),
}


def pairs(name):
    layers, heads = DIMS[name][:2]
    mask = gzip.decompress(base64.b85decode(BLOBS[name]))
    if len(mask) != layers * heads:
        raise ValueError("%s: %d mask bytes, expected %d" % (name, len(mask), layers * heads))
    return [(i // heads, i % heads) for i, b in enumerate(mask) if b]


def lines():
    out = []
    for name in BLOBS:
        layers, heads, vocab, mels = DIMS[name]
        flat = ", ".join("%d, %d" % p for p in pairs(name))
        out.append('{"%s", %d, %d, %d, %d, %d, {%s}},' % (name, layers, heads, vocab, mels, len(pairs(name)), flat))
    return out


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        text = open(sys.argv[2], encoding="utf-8").read()
        missing = [line for line in lines() if line not in text]
        for line in missing:
            print("alignment_heads: not in %s: %s" % (sys.argv[2], line))
        sys.exit(1 if missing else 0)
    if len(sys.argv) != 1:
        sys.exit(__doc__)
    for line in lines():
        print(line)


if __name__ == "__main__":
    main()
