"""One training mixture from one foreground and one background recording, as real uploads vary.

A :class:`Recipe` is drawn from a seeded generator (:func:`draw`) and applied by :func:`render`,
so every mixture of the corpus is rebuilt bit for bit from its seed and its two recordings.
What varies, and how much:

- the foreground-to-background level, over the foreground's active frames (as
  ``../shared/audio/dev/MANIFEST.md`` defines it): uniform in [-10, +5] dB;
- where the foreground is: the whole mixture, a stretch of it, or nowhere (music only);
- panning of the foreground (constant-power law), and of nothing else;
- telephone speech (300-3400 Hz through 8 kHz) or band-limited speech (a 4-8 kHz low-pass),
  for spoken foregrounds;
- reverberation: the foreground convolved with an exponentially decaying noise tail
  (RT60 0.2-0.9 s; the usual synthetic room model, e.g. Lehmann & Johansson 2008's diffuse tail);
- silence: a stretch where the background fades out;
- lossy encoding of the mixture through PyAV (MP3 or AAC, 96-192 kbit/s). The foreground stays
  the clean one; the background is the decoded mixture minus it, so the stems still sum to the
  mixture and the coding noise counts as background.

Shapes are (frames, 2) float32 at :data:`RATE`; levels in dB; times in seconds.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass

import av
import numpy as np
from scipy.signal import butter, fftconvolve, resample_poly, sosfilt

RATE = 44_100
EPS = 1e-10


@dataclass(frozen=True)
class Recipe:
    """Everything random about one mixture (JSON-able through :func:`dataclasses.asdict`)."""

    seconds: float
    fg_offset_s: float  # where the foreground excerpt starts in its recording
    bg_offset_s: float
    fg_level_db: float  # foreground active level over background level
    fg_span: tuple[float, float]  # where the foreground plays, as fractions of the mixture
    pan: float  # -1 left .. +1 right
    band: str  # "full", "telephone" or "lowpass"
    lowpass_hz: float
    rt60_s: float  # 0 for none
    silence: tuple[float, float]  # a stretch of the mixture with the background faded out
    codec: str  # "none", "mp3" or "aac"
    bitrate_k: int
    peak_db: float  # the mixture's peak, dBFS


def draw(
    rng: np.random.Generator, seconds: float, fg_len_s: float, bg_len_s: float, spoken: bool
) -> Recipe:
    """A random :class:`Recipe` for recordings of the given lengths (seconds)."""
    kind = rng.random()
    if kind < 0.12:
        span = (0.0, 0.0)  # music only
    elif kind < 0.40:
        start = rng.uniform(0.0, 0.6)
        span = (start, rng.uniform(start + 0.25, 1.0))
    else:
        span = (0.0, 1.0)
    band = "full"
    if spoken:
        band = str(rng.choice(["full", "telephone", "lowpass"], p=[0.7, 0.15, 0.15]))
    start = rng.uniform(0.0, 0.8)
    silence = (start, start + rng.uniform(0.05, 0.2)) if rng.random() < 0.1 else (0.0, 0.0)
    codec = str(rng.choice(["none", "mp3", "aac"], p=[0.6, 0.25, 0.15]))
    return Recipe(
        seconds=seconds,
        fg_offset_s=float(rng.uniform(0.0, max(0.0, fg_len_s - seconds))),
        bg_offset_s=float(rng.uniform(0.0, max(0.0, bg_len_s - seconds))),
        fg_level_db=float(rng.uniform(-10.0, 5.0)),
        fg_span=(float(span[0]), float(span[1])),
        pan=float(rng.uniform(-0.8, 0.8)) if rng.random() < 0.3 else 0.0,
        band=band,
        lowpass_hz=float(rng.uniform(4000.0, 8000.0)),
        rt60_s=float(rng.uniform(0.2, 0.9)) if rng.random() < 0.3 else 0.0,
        silence=(float(silence[0]), float(min(1.0, silence[1]))),
        codec=codec,
        bitrate_k=int(rng.choice([96, 128, 160, 192])),
        peak_db=float(rng.uniform(-6.0, -1.0)),
    )


def _excerpt(audio: np.ndarray, offset_s: float, frames: int) -> np.ndarray:
    start = round(offset_s * RATE)
    out = audio[start : start + frames]
    if len(out) < frames:  # a short recording: pad with silence
        out = np.concatenate([out, np.zeros((frames - len(out), out.shape[1]), np.float32)])
    return out.astype(np.float32)


def _stereo(audio: np.ndarray) -> np.ndarray:
    return audio if audio.shape[1] == 2 else np.repeat(audio[:, :1], 2, axis=1)


def active_rms(audio: np.ndarray) -> float:
    """RMS over the 20 ms frames within 35 dB of the loudest one (the dev set's active level)."""
    mono = audio.mean(axis=1)
    hop = int(0.02 * RATE)
    frames = mono[: len(mono) // hop * hop].reshape(-1, hop)
    if len(frames) == 0:
        return 0.0
    energy = (frames**2).mean(axis=1)
    active = energy >= energy.max() * 10 ** (-35 / 10)
    return float(np.sqrt(energy[active].mean())) if energy.max() > 0 else 0.0


def _band(voice: np.ndarray, recipe: Recipe) -> np.ndarray:
    if recipe.band == "telephone":
        narrow = resample_poly(voice, 8000, RATE, axis=0)
        sos = butter(4, [300, 3400], btype="band", fs=8000, output="sos")
        return resample_poly(sosfilt(sos, narrow, axis=0), RATE, 8000, axis=0)[: len(voice)]
    if recipe.band == "lowpass":
        sos = butter(8, recipe.lowpass_hz, btype="low", fs=RATE, output="sos")
        return sosfilt(sos, voice, axis=0)
    return voice


def _reverb(voice: np.ndarray, rt60_s: float, rng: np.random.Generator) -> np.ndarray:
    n = int(rt60_s * RATE)
    t = np.arange(n) / RATE
    tail = rng.standard_normal((n, 2)) * np.exp(-6.9078 * t / rt60_s)[:, None]  # -60 dB
    tail[0] = 1.0  # the direct sound
    tail /= np.sqrt((tail**2).sum(axis=0))
    wet = np.stack([fftconvolve(voice[:, c], tail[:, c])[: len(voice)] for c in range(2)], 1)
    return wet.astype(np.float32)


def _fade_mask(frames: int, span: tuple[float, float], fade_s: float = 0.03) -> np.ndarray:
    """1 inside ``span`` (fractions of ``frames``), 0 outside, raised-cosine edges."""
    gain = np.zeros(frames, np.float32)
    a, b = int(span[0] * frames), int(span[1] * frames)
    if b <= a:
        return gain
    gain[a:b] = 1.0
    n = min(int(fade_s * RATE), (b - a) // 2)
    if n:
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n, dtype=np.float32))
        gain[a : a + n] = ramp
        gain[b - n : b] = ramp[::-1]
    return gain


def encode_decode(mixture: np.ndarray, codec: str, bitrate_k: int) -> np.ndarray:
    """``mixture`` through a lossy codec and back (PyAV), aligned and cut to its length.

    The encoder's priming delay is found by cross-correlating the decoded signal with the
    original over the first seconds and removed.
    """
    name, container = {"mp3": ("libmp3lame", "mp3"), "aac": ("aac", "adts")}[codec]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        stream = out.add_stream(name, rate=RATE, layout="stereo")
        stream.bit_rate = bitrate_k * 1000
        pcm = np.ascontiguousarray(mixture.T.astype(np.float32))
        frame = av.AudioFrame.from_ndarray(pcm, format="fltp", layout="stereo")
        frame.sample_rate = RATE
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buffer.seek(0)
    decoded = []
    with av.open(buffer, "r") as src:
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=RATE)
        for frame in src.decode(audio=0):
            for chunk in resampler.resample(frame):
                decoded.append(chunk.to_ndarray())
    audio = np.concatenate(decoded, axis=1).T.astype(np.float32)
    probe = min(len(mixture), 3 * RATE)
    ref = mixture[:probe].mean(axis=1)
    got = audio[: probe + 4096].mean(axis=1)
    corr = fftconvolve(got, ref[::-1], mode="valid") if len(got) >= len(ref) else np.zeros(1)
    delay = int(np.argmax(corr)) if corr.size else 0
    audio = audio[delay : delay + len(mixture)]
    if len(audio) < len(mixture):
        audio = np.concatenate([audio, np.zeros((len(mixture) - len(audio), 2), np.float32)])
    return audio


def render(
    recipe: Recipe, fg: np.ndarray, bg: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mixture, foreground, background), each (frames, 2) float32, mixture = fg + bg exactly.

    Args:
        fg, bg: whole recordings, (frames, channels) float32 at :data:`RATE`.
        seed: for the reverberation tail (the rest of the randomness is in ``recipe``).
    """
    rng = np.random.default_rng(seed)
    frames = round(recipe.seconds * RATE)
    music = _stereo(_excerpt(bg, recipe.bg_offset_s, frames))
    voice = _excerpt(fg, recipe.fg_offset_s, frames).mean(axis=1, keepdims=True)
    voice = np.repeat(voice, 2, axis=1)
    voice = _band(voice, recipe)
    if recipe.rt60_s:
        voice = _reverb(voice, recipe.rt60_s, rng)
    angle = (recipe.pan + 1.0) * np.pi / 4  # constant power; centre = unity on both
    voice = voice * (np.array([np.cos(angle), np.sin(angle)], np.float32) * np.sqrt(2))
    voice *= _fade_mask(frames, recipe.fg_span)[:, None]
    music *= 1.0 - _fade_mask(frames, recipe.silence, fade_s=0.3)[:, None]

    music_rms = float(np.sqrt((music**2).mean())) + EPS
    voice_rms = active_rms(voice)
    if voice_rms > 0:
        voice *= 10 ** (recipe.fg_level_db / 20) * music_rms / voice_rms
    mixture = voice + music
    peak = float(np.abs(mixture).max()) + EPS
    gain = 10 ** (recipe.peak_db / 20) / peak
    voice, mixture = (voice * gain).astype(np.float32), (mixture * gain).astype(np.float32)
    if recipe.codec != "none":
        mixture = np.clip(encode_decode(mixture, recipe.codec, recipe.bitrate_k), -1.0, 1.0)
    background = mixture - voice
    return mixture, voice, background


def recipe_json(recipe: Recipe) -> dict:
    return asdict(recipe)
