"""Convert Spleeter's pretrained 2-stem TensorFlow checkpoint to one ONNX graph.

Install-time tool. It reads the TensorFlow 1.x checkpoint with :mod:`audio.engine.tfcheckpoint`
(numpy alone) and rebuilds Spleeter's two U-Nets (vocals, accompaniment) with the ``onnx`` helper
API. Neither TensorFlow nor PyTorch is needed.

Sources:
    R. Hennequin, A. Khlif, F. Voituret, M. Moussallam, "Spleeter: a fast and efficient music
    source separation tool with pre-trained models", JOSS 5(50), 2154, 2020.
    A. Jansson, E. Humphrey, N. Montecchio, R. Bittner, A. Kumar, T. Weyde, "Singing voice
    separation with deep U-Net convolutional networks", ISMIR 2017.
    Architecture and preprocessing: ``spleeter/model/functions/unet.py`` and
    ``spleeter/model/__init__.py`` (Deezer Research, MIT licence).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from audio.engine.tfcheckpoint import read_checkpoint

__all__ = ["BINS", "BLOCK_FRAMES", "OPSET", "build_onnx", "export"]

#: Frames per network block (Spleeter's ``T``) and frequency bins fed to it (``F``).
BLOCK_FRAMES = 512
BINS = 1024
#: ONNX opset of the exported graph.
OPSET = 17

_EPSILON = 1e-10  # EstimatorSpecBuilder.EPSILON
_BN_EPSILON = 1e-3  # Keras BatchNormalization default
_LEAKY_ALPHA = 0.2  # LeakyReLU(0.2) in the encoder
_N_FILTERS = (16, 32, 64, 128, 256, 512)
_N_CHANNELS = 2


def _keras_name(base: str, index: int) -> str:
    """Keras auto-names layers ``base``, ``base_1``, ``base_2``... in creation order."""
    return base if index == 0 else f"{base}_{index}"


class _GraphBuilder:
    """Accumulates nodes and initializers with deterministic, readable names."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def var(self, layer: str, what: str, shape: tuple[int, ...]) -> np.ndarray:
        key = f"{layer}/{what}"
        if key not in self.weights:
            raise KeyError(f"checkpoint has no variable {key!r}")
        value = np.asarray(self.weights[key], dtype=np.float32)
        if value.shape != shape:
            raise ValueError(f"{key} has shape {value.shape}, expected {shape}")
        return value

    def bn_affine(self, layer: str, channels: int) -> tuple[np.ndarray, np.ndarray]:
        """Inference batch norm as y = scale * x + shift (float64; Keras epsilon 1e-3).

        In the released 2stems checkpoint every moving_mean is 0 and every moving_variance 1
        (the update ops never ran in training), so scale = gamma / sqrt(1.001), shift = beta.
        """
        gamma = self.var(layer, "gamma", (channels,)).astype(np.float64)
        beta = self.var(layer, "beta", (channels,)).astype(np.float64)
        mean = self.var(layer, "moving_mean", (channels,)).astype(np.float64)
        var = self.var(layer, "moving_variance", (channels,)).astype(np.float64)
        scale = gamma / np.sqrt(var + _BN_EPSILON)
        return scale, beta - mean * scale

    def channel_op(self, op: str, x: str, name: str, value: np.ndarray) -> str:
        c = self.const(f"{name}/{op.lower()}_value", value.astype(np.float32).reshape(-1, 1, 1))
        return self.node(op, [x, c], name)

    def conv(
        self,
        prefix: str,
        layer: str,
        x: str,
        c_in: int,
        c_out: int,
        in_scale: np.ndarray | None = None,
        **attrs: Any,
    ) -> str:
        """Keras Conv2D; ``in_scale`` multiplies the input channels (folded into the kernel)."""
        k = attrs["kernel_shape"][0]
        kernel = self.var(layer, "kernel", (k, k, c_in, c_out)).astype(np.float64)  # HWIO
        if in_scale is not None:
            kernel *= in_scale[None, None, :, None]
        bias = self.var(layer, "bias", (c_out,))
        w = self.const(f"{prefix}/{layer}/W", kernel.transpose(3, 2, 0, 1).astype(np.float32))
        b = self.const(f"{prefix}/{layer}/B", bias)
        return self.node("Conv", [x, w, b], f"{prefix}/{layer}/out", **attrs)

    def conv_transpose(
        self,
        prefix: str,
        layer: str,
        x: str,
        c_in: int,
        c_out: int,
        out_scale: np.ndarray | None = None,
    ) -> str:
        """Keras Conv2DTranspose(c_out, 5, strides=2, padding='same') on an even size n.

        TensorFlow computes the full transposed convolution (length 2n + 3) and crops
        1 sample before and 2 after, i.e. y[2i + k - 1] += x[i] * w[k]: ONNX pads 1 and 2.
        ``out_scale`` multiplies the output channels (folded into kernel and bias).
        """
        kernel = self.var(layer, "kernel", (5, 5, c_out, c_in)).astype(np.float64)
        bias = self.var(layer, "bias", (c_out,)).astype(np.float64)
        if out_scale is not None:
            kernel *= out_scale[None, None, :, None]
            bias *= out_scale
        w = self.const(f"{prefix}/{layer}/W", kernel.transpose(3, 2, 0, 1).astype(np.float32))
        b = self.const(f"{prefix}/{layer}/B", bias.astype(np.float32))
        return self.node(
            "ConvTranspose",
            [x, w, b],
            f"{prefix}/{layer}/out",
            kernel_shape=[5, 5],
            strides=[2, 2],
            pads=[1, 1, 2, 2],
        )

    def unet(self, prefix: str, x: str, index: int) -> str:
        """Spleeter's U-Net number ``index`` (0 vocals, 1 accompaniment); returns its mask.

        Batch norm (scale s, shift t per channel) is folded exactly where s > 0, using the
        positive homogeneity of (Leaky)ReLU: in the encoder LeakyReLU(s*c + t) =
        s * LeakyReLU(c + t/s) and s moves into the next convolution's input channels (the
        raw c stays available for the skip connection); in the decoder s * ReLU(u) + t =
        ReLU(s*u) + t and s moves into the transposed convolution. Channels with s <= 0
        (none in the released model) keep an explicit multiply.
        """
        conv_ids = [7 * index + j for j in range(7)]  # 6 encoder convs + final conv
        deconv_ids = [6 * index + j for j in range(6)]
        bn_ids = [12 * index + j for j in range(12)]  # 6 encoder + 6 decoder

        skips: list[str] = []
        h, c_in = x, _N_CHANNELS
        in_scale: np.ndarray | None = None
        for j, c_out in enumerate(_N_FILTERS):
            layer = _keras_name("conv2d", conv_ids[j])
            h = self.conv(
                prefix,
                layer,
                h,
                c_in,
                c_out,
                in_scale,
                kernel_shape=[5, 5],
                strides=[2, 2],
                pads=[1, 1, 2, 2],
            )  # TF 'same' on even sizes: 1 before, 2 after
            skips.append(h)  # the skip connections take the conv output before batch norm
            c_in = c_out
            if j == len(_N_FILTERS) - 1:
                break  # conv6's batch norm and activation are unused (dead in unet.py)
            bn = _keras_name("batch_normalization", bn_ids[j])
            scale, shift = self.bn_affine(bn, c_out)
            if np.all(scale > 0):
                h = self.channel_op("Add", h, f"{prefix}/{bn}/shift", shift / scale)
                in_scale = scale
            else:
                h = self.channel_op("Mul", h, f"{prefix}/{bn}/scale", scale)
                h = self.channel_op("Add", h, f"{prefix}/{bn}/shift", shift)
                in_scale = None
            h = self.node("LeakyRelu", [h], f"{prefix}/{layer}/act", alpha=_LEAKY_ALPHA)

        h = skips[-1]  # the decoder starts from conv6's raw output
        decoder_out = [*_N_FILTERS[-2::-1], 1]  # 256, 128, 64, 32, 16, 1
        for j, c_out in enumerate(decoder_out):
            layer = _keras_name("conv2d_transpose", deconv_ids[j])
            bn = _keras_name("batch_normalization", bn_ids[6 + j])
            scale, shift = self.bn_affine(bn, c_out)
            folded = bool(np.all(scale > 0))
            h = self.conv_transpose(prefix, layer, h, c_in, c_out, scale if folded else None)
            h = self.node("Relu", [h], f"{prefix}/{layer}/relu")
            if not folded:
                h = self.channel_op("Mul", h, f"{prefix}/{bn}/scale", scale)
            h = self.channel_op("Add", h, f"{prefix}/{bn}/shift", shift)
            if j < len(decoder_out) - 1:  # dropout is the identity at inference
                h = self.node("Concat", [skips[-2 - j], h], f"{prefix}/merge{j + 1}", axis=1)
                c_in = 2 * c_out

        layer = _keras_name("conv2d", conv_ids[6])
        logits = self.conv(
            prefix,
            layer,
            h,
            1,
            _N_CHANNELS,
            kernel_shape=[4, 4],
            dilations=[2, 2],
            pads=[3, 3, 3, 3],
        )  # 'same' with an effective 7x7 kernel
        return self.node("Sigmoid", [logits], f"{prefix}/mask")


def build_onnx(weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    """Build Spleeter's 2-stem model (both U-Nets and the vocals ratio mask) as one graph.

    Args:
        weights: the checkpoint's variables as returned by :func:`read_checkpoint`
            (Keras names: ``conv2d``..``conv2d_13``, ``conv2d_transpose``..``_11``,
            ``batch_normalization``..``_23``; vocals U-Net first, then accompaniment).

    Returns:
        A model with input ``magnitude`` float32 [B, 2, 512, 1024] (batch, audio channel
        L/R, STFT frame, frequency bin 0..1023: the linear STFT magnitude of a periodic Hann
        4096 / hop 1024 STFT, unnormalized) and output ``vocals_mask`` float32
        [B, 2, 512, 1024] in [0, 1]: Spleeter's ratio mask with exponent 2,
        ``(v^2 + eps/2) / (v^2 + a^2 + eps)`` with ``eps = 1e-10``, where ``v`` and ``a`` are
        the U-Nets' magnitude estimates. The accompaniment mask is ``1 - vocals_mask`` up to
        eps. B is dynamic. The same weights give byte-identical models.

    Raises:
        KeyError: a variable is missing.
        ValueError: a variable has an unexpected shape.
    """
    g = _GraphBuilder(weights)
    x = "magnitude"
    mask_v = g.unet("vocals", x, 0)
    mask_a = g.unet("accompaniment", x, 1)
    est_v = g.node("Mul", [mask_v, x], "vocals/estimate")
    est_a = g.node("Mul", [mask_a, x], "accompaniment/estimate")
    pow_v = g.node("Mul", [est_v, est_v], "vocals/power")
    pow_a = g.node("Mul", [est_a, est_a], "accompaniment/power")
    half_eps = g.const("half_eps", np.array(_EPSILON / 2, dtype=np.float32))
    eps = g.const("eps", np.array(_EPSILON, dtype=np.float32))
    num = g.node("Add", [pow_v, half_eps], "mask/numerator")
    total = g.node("Add", [pow_v, pow_a], "mask/power_sum")
    den = g.node("Add", [total, eps], "mask/denominator")
    g.node("Div", [num, den], "vocals_mask")

    shape: list[str | int] = ["B", _N_CHANNELS, BLOCK_FRAMES, BINS]
    graph = helper.make_graph(
        g.nodes,
        "spleeter_2stems",
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("vocals_mask", TensorProto.FLOAT, shape)],
        initializer=g.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="stemweb.spleeter_export",
        doc_string="Spleeter 2stems (Deezer, MIT) vocals ratio mask",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def export(checkpoint_prefix: Path, out_path: Path) -> None:
    """Read Spleeter's 2-stem checkpoint and write it as an ONNX model.

    Args:
        checkpoint_prefix: e.g. ``.../spleeter/pretrained_models/2stems/model``.
        out_path: destination ``.onnx`` file (about 78 MB); its parent directory is created.
            It is written to a temporary sibling first and then renamed, so a reader never
            sees a partial file.

    Raises:
        FileNotFoundError, KeyError, ValueError: see :func:`read_checkpoint` and
            :func:`build_onnx`.
        OSError: the file cannot be written.
    """
    model = build_onnx(read_checkpoint(Path(checkpoint_prefix)))
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_bytes(model.SerializeToString(deterministic=True))
    tmp.replace(out_path)
