"""Spleeter 2-stem vocals mask with onnxruntime (no TensorFlow, no PyTorch).

Runs the graph written by :mod:`audio.engine.spleeter_export` and provides the STFT pair it
expects. Spleeter (Hennequin et al., JOSS 2020) feeds its U-Nets (Jansson et al., ISMIR 2017)
the magnitude of a periodic-Hann 4096 / hop 1024 STFT of 44.1 kHz stereo, bins 0..1023, in
blocks of 512 frames, and separates with ratio masks (exponent 2); bins 1024..2048 get mask 0.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import numpy as np
import onnxruntime as ort
from scipy.signal import ShortTimeFFT
from scipy.signal.windows import hann

__all__ = ["BINS", "BLOCK", "HOP", "N_FFT", "SpleeterMasker", "istft", "stft"]

N_FFT = 4096  #: STFT window and FFT length in samples (at 44.1 kHz).
HOP = 1024  #: STFT hop in samples.
BINS = 1024  #: frequency bins the network sees (of N_FFT // 2 + 1 = 2049).
BLOCK = 512  #: frames per network block.

_LEAD_FRAMES = 1  # Spleeter's all-zero first frame, centred at sample -2 * HOP


def _release_free_heap() -> None:
    """Give freed heap pages back to the OS (glibc only; a no-op elsewhere).

    onnxruntime parses the 78 MB model into temporary protobuf buffers while it builds a
    session; glibc keeps about 100 MB of that freed memory mapped unless asked to trim.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.malloc_trim(0)


@functools.cache
def _sft() -> ShortTimeFFT:
    return ShortTimeFFT(hann(N_FFT, sym=False), hop=HOP, fs=44100, fft_mode="onesided")


def stft(x: np.ndarray) -> np.ndarray:
    """Complex STFT on Spleeter's frame grid.

    Args:
        x: waveform, shape (channels, samples), float (44.1 kHz for the model).

    Returns:
        complex64 array (channels, 2049, frames) with ``frames = ceil(n / HOP) + 4`` where
        ``n = max(samples, N_FFT // 2)``; frame ``k`` is the unnormalized FFT of the samples
        ``[(k - 2) * HOP - N_FFT / 2, (k - 2) * HOP + N_FFT / 2)`` (zeros outside the
        signal) times a periodic Hann window. This is exactly the grid of Spleeter's
        ``tf.signal.stft`` after it prepends N_FFT zeros, so frame 0 is all zero.

    Raises:
        ValueError: ``x`` is not 2-D.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"expected (channels, samples), got shape {x.shape}")
    if x.shape[1] < N_FFT // 2:
        x = np.pad(x, ((0, 0), (0, N_FFT // 2 - x.shape[1])))
    sft = _sft()
    frames = _LEAD_FRAMES + sft.p_num(x.shape[1])
    spec = np.zeros((x.shape[0], sft.f_pts, frames), dtype=np.complex64)
    for c in range(x.shape[0]):  # one channel at a time: scipy works in complex128
        spec[c, :, _LEAD_FRAMES:] = sft.stft(x[c])
    return spec


def istft(spec: np.ndarray, length: int) -> np.ndarray:
    """Inverse of :func:`stft` (least-squares overlap-add; exact for an unmodified STFT).

    Args:
        spec: complex array (channels, 2049, frames) on the :func:`stft` grid.
        length: number of samples to return (the ``samples`` given to :func:`stft`).

    Returns:
        float32 array (channels, length).

    Raises:
        ValueError: ``spec`` has the wrong number of bins or too few frames for ``length``.
    """
    if spec.ndim != 3 or spec.shape[1] != N_FFT // 2 + 1:
        raise ValueError(f"expected (channels, {N_FFT // 2 + 1}, frames), got {spec.shape}")
    n = max(int(length), N_FFT // 2)
    x = _sft().istft(spec[:, :, _LEAD_FRAMES:], k1=n, f_axis=1, t_axis=2)
    return np.ascontiguousarray(x[:, :length], dtype=np.float32)


class SpleeterMasker:
    """Spleeter 2-stem vocals ratio mask from an exported ONNX graph.

    Args:
        onnx_path: the ``.onnx`` written by :func:`audio.engine.spleeter_export.export`.
        threads: onnxruntime intra-op threads (one session, sequential execution, CPU).

    One 512-frame block (11.9 s) costs about 12.2 GMAC; blocks run one at a time. The session
    holds about 95 MB of weights plus an activation arena of about 235 MB after the first call.

    Raises:
        onnxruntime exceptions (e.g. ``NoSuchFile``, ``InvalidProtobuf``) if the model
        cannot be loaded.
    """

    def __init__(self, onnx_path: Path, threads: int = 1) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(
            str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name
        _release_free_heap()

    def vocals_mask(self, magnitude: np.ndarray) -> np.ndarray:
        """Vocals ratio mask for a stereo magnitude STFT.

        Args:
            magnitude: |stft(x)| of a stereo segment, shape (2, 2049, frames), float32, on
                the :func:`stft` grid (44.1 kHz audio). Frames are cut into blocks of 512
                from frame 0, the last block zero-padded, as Spleeter does.

        Returns:
            float32 (2, 2049, frames) in [0, 1]; bins >= 1024 are 0. The accompaniment mask is
            ``1 - mask`` for bins < 1024 (up to 1e-10) and 1 above.

        Raises:
            ValueError: wrong shape.
        """
        if magnitude.ndim != 3 or magnitude.shape[:2] != (2, N_FFT // 2 + 1):
            raise ValueError(f"expected (2, {N_FFT // 2 + 1}, frames), got {magnitude.shape}")
        channels, n_bins, frames = magnitude.shape
        n_blocks = max(1, -(-frames // BLOCK))
        # (channels, bins, frames) -> (blocks, channels, BLOCK frames, BINS)
        x = np.zeros((n_blocks, channels, BLOCK, BINS), dtype=np.float32)
        for b in range(n_blocks):
            part = magnitude[:, :BINS, b * BLOCK : (b + 1) * BLOCK]
            x[b, :, : part.shape[2], :] = part.transpose(0, 2, 1)
        mask = np.zeros((channels, n_bins, frames), dtype=np.float32)
        for b in range(n_blocks):
            (out,) = self._session.run(None, {self._input: x[b : b + 1]})
            valid = min(BLOCK, frames - b * BLOCK)
            mask[:, :BINS, b * BLOCK : b * BLOCK + valid] = out[0, :, :valid, :].transpose(0, 2, 1)
        return mask
