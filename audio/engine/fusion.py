"""How the engine combines Spleeter's vocals mask with DeepFilterNet3's speech mask.

The two models fail in opposite places: Spleeter, trained on music, misses speech that does
not sound like a sung lead (eight panned announcements: +2.7 dB), while DeepFilterNet, trained
on speech, treats singing as noise (a sung vowel over rock: +2.6 dB). So the fused mask is a
per-frame blend that trusts whichever model claims more of the voice:

    E_v(t) = sum_f (V(f, t)^2 P(f, t)),   E_s(t) = b * sum_f (S(f, t)^2 P(f, t))
    w(t)   = E_v^2 / (E_v^2 + E_s^2),      both energies averaged over about one second first
    M      = w V + (1 - w) S

where V is Spleeter's vocals mask (averaged over channels for the energy), S DeepFilterNet's
speech mask and P the mixture's power. Spoken material, where DeepFilterNet hears much more
voice than Spleeter, leans on S; sung material leans on V; where both agree the blend is an
average. ``b`` is 1 for foreground/background; for vocals/instrumental ("vocals first") it is
1/4, so DeepFilterNet wins only where it claims four times Spleeter's energy.

Designed and measured on ../shared/audio/dev (benchmarks/separation.py prints the figures):
the blend beat averaging (+12.48 dB mean foreground SI-SDRi), the element-wise maximum
(+12.69), generalized means and per-band variants of the same cue.
"""

from __future__ import annotations

import enum

import numpy as np
from scipy.ndimage import uniform_filter1d

EPS = 1e-8
CUE_EXPONENT = 2.0
CUE_SMOOTHING_FRAMES = 43  # about 1 s of 1024-sample hops at 44.1 kHz


class Mode(enum.StrEnum):
    """Which stems a job asked for; each has its own fusion."""

    FOREGROUND = "foreground"  # foreground / background: speech or singing against the rest
    VOCALS = "vocals"  # vocals / instrumental: singing first


_SPEECH_BIAS = {Mode.FOREGROUND: 1.0, Mode.VOCALS: 0.25}


def speech_mask(enhanced: np.ndarray, mixture: np.ndarray) -> np.ndarray:
    """|enhanced| / |mixture| per bin, clipped to [0, 1]: DeepFilterNet's gain as a mask.

    Both are complex STFTs of the same shape (bins, frames) on the same grid; float32 result.
    """
    return np.minimum(np.abs(enhanced) / (np.abs(mixture) + EPS), 1.0).astype(np.float32)


def voice_weight(
    vocals: np.ndarray, speech: np.ndarray, power: np.ndarray, mode: Mode
) -> np.ndarray:
    """w(t) of the module docstring: float32 (frames,), 1 trusts Spleeter, 0 DeepFilterNet.

    Args:
        vocals: Spleeter's mask, (channels, bins, frames).
        speech: DeepFilterNet's mask, (bins, frames).
        power: the mixture's power |X|^2 averaged over channels, (bins, frames).
    """
    e_v = ((vocals.mean(axis=0) ** 2) * power).sum(axis=0)
    e_s = ((speech**2) * power).sum(axis=0) * _SPEECH_BIAS[mode]
    e_v = uniform_filter1d(e_v, CUE_SMOOTHING_FRAMES) ** CUE_EXPONENT
    e_s = uniform_filter1d(e_s, CUE_SMOOTHING_FRAMES) ** CUE_EXPONENT
    return (e_v / (e_v + e_s + EPS)).astype(np.float32)


def fuse(vocals: np.ndarray, speech: np.ndarray, power: np.ndarray, mode: Mode) -> np.ndarray:
    """The foreground mask M = w V + (1 - w) S, float32 (channels, bins, frames) in [0, 1].

    Shapes as in :func:`voice_weight`.
    """
    w = voice_weight(vocals, speech, power, mode)
    return (w * vocals + (1.0 - w) * speech[None]).astype(np.float32)


class LearnedFusion:
    """The trained fusion network (``training/model.py``), run by onnxruntime.

    It sees what :func:`fuse` sees and the mixture's log-magnitude, per channel, and returns
    the foreground mask ``g (w V + (1 - w) S)`` with a blend ``w`` and a gain ``g`` per band
    and frame. Trained on the corpus ``training/corpus.py`` builds; see ``training/``.

    Args:
        path: the ONNX graph (``audio/engine/fusion.onnx``).
        threads: onnxruntime's intra-op threads.
    """

    def __init__(self, path: str, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def mask(
        self, vocals: np.ndarray, speech: np.ndarray, spec: np.ndarray, mode: Mode
    ) -> np.ndarray:
        """The foreground mask, float32 (channels, bins, frames) in [0, 1].

        Args:
            vocals: Spleeter's mask, (channels, bins, frames).
            speech: DeepFilterNet's mask, (bins, frames).
            spec: the mixture's complex STFT, (channels, bins, frames).
            mode: foreground/background or vocals/instrumental (the network's mode input).
        """
        channels = vocals.shape[0]
        inputs = {
            "vocals": np.ascontiguousarray(vocals, dtype=np.float32),
            "speech": np.ascontiguousarray(np.broadcast_to(speech, vocals.shape), np.float32),
            "log_mag": np.log10(np.abs(spec) + 1e-5).astype(np.float32),
            "mode": np.full(channels, 1.0 if mode is Mode.VOCALS else 0.0, np.float32),
        }
        return self._session.run(None, inputs)[0]
