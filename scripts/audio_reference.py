#!/usr/bin/python3
"""audio_reference.py — independent references for tests/test_audio.c.

Each mode writes what steno's audio reader should produce, computed without libsteno, as raw
little-endian float32 mono samples:

  wav-mean IN.wav OUT.f32        16-bit PCM read with Python's wave module, each frame the mean of
                                 its channels divided by 32768 (exact in float64, then float32)
  ffmpeg IN OUT.f32 RATE         the ffmpeg command's float downmix and resample, with the
                                 downmix bounded to full scale as for integer output
                                 (rematrix_maxval 1, see src/audio/audio.c)
  whisper IN OUT.f32             openai-whisper's own command (whisper/audio.py load_audio:
                                 16-bit mono 16 kHz), divided by 32768 as whisper does
  fixtures SOURCE.wav DIR        test inputs made with the ffmpeg command: an AAC m4a, an mp4 with
                                 a video and an audio stream, an mp4 with only video, and a wav
                                 with a header and zero samples

Run with Debian's /usr/bin/python3 (numpy).
"""
import subprocess
import sys
import wave

import numpy as np


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def wav_mean(source, target):
    with wave.open(source, "rb") as w:
        if w.getsampwidth() != 2 or w.getcomptype() != "NONE":
            sys.exit(f"{source}: only 16-bit PCM wav is supported")
        channels = w.getnchannels()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    frames = pcm.reshape(-1, channels).astype(np.float64) / 32768.0
    frames.mean(axis=1).astype("<f4").tofile(target)


def ffmpeg_float(source, target, rate):
    ffmpeg("-i", source, "-vn", "-ac", "1", "-ar", str(rate), "-rematrix_maxval", "1", "-f", "f32le", target)


def whisper(source, target):
    # the exact arguments of openai-whisper's load_audio, output to a file instead of a pipe
    out = subprocess.run(["ffmpeg", "-nostdin", "-threads", "0", "-i", source, "-f", "s16le", "-ac", "1",
                          "-acodec", "pcm_s16le", "-ar", "16000", "-"], capture_output=True, check=True).stdout
    (np.frombuffer(out, dtype="<i2").astype(np.float32) / 32768.0).astype("<f4").tofile(target)


def fixtures(source, directory):
    ffmpeg("-i", source, "-c:a", "aac", "-b:a", "64k", f"{directory}/jfk.m4a")
    video = ["-f", "lavfi", "-i", "testsrc=duration=11:size=64x48:rate=5"]
    ffmpeg(*video, "-i", source, "-map", "0:v", "-map", "1:a", "-c:v", "mpeg4", "-c:a", "aac", "-shortest",
           f"{directory}/video_with_audio.mp4")
    ffmpeg(*video, "-c:v", "mpeg4", f"{directory}/video_only.mp4")
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "0", "-c:a", "pcm_s16le",
           f"{directory}/zero_samples.wav")


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "wav-mean":
        wav_mean(*args)
    elif mode == "ffmpeg":
        ffmpeg_float(args[0], args[1], int(args[2]))
    elif mode == "whisper":
        whisper(*args)
    elif mode == "fixtures":
        fixtures(*args)
    else:
        sys.exit(f"unknown mode {mode}\n{__doc__}")


if __name__ == "__main__":
    main()
