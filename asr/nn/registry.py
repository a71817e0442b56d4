"""Maps the YAML ``type`` names of frontends and encoders to their classes."""

from __future__ import annotations

from torch import nn

from asr.config.model_schema import ModelConfig
from asr.nn.bilstm import BiLSTMEncoder
from asr.nn.conformer import ConformerEncoder
from asr.nn.ctc_head import CTCHead
from asr.nn.frontend import Conv2dFrontend, DwStridingFrontend, StackFrontend
from asr.nn.lc_bilstm import LCBiLSTMEncoder
from asr.nn.lstm import LSTMEncoder
from asr.nn.model import CTCModel

FRONTENDS: dict[str, type[nn.Module]] = {"stack": StackFrontend, "conv2d": Conv2dFrontend,
                                         "dw_striding": DwStridingFrontend}
ENCODERS: dict[str, type[nn.Module]] = {"bilstm": BiLSTMEncoder, "lstm": LSTMEncoder,
                                        "lc_bilstm": LCBiLSTMEncoder,
                                        "conformer": ConformerEncoder}


def build_model(cfg: ModelConfig, input_dim: int, vocab_size: int) -> CTCModel:
    frontend = FRONTENDS[cfg.frontend.type](input_dim, cfg.frontend)
    encoder = ENCODERS[cfg.encoder.type](frontend.output_dim, cfg.encoder)
    return CTCModel(frontend, encoder, CTCHead(encoder.output_dim, vocab_size),
                    cfg.interctc_layers, cfg.self_conditioning)


def encoder_name(encoder: nn.Module) -> str:
    """The YAML ``type`` of ``encoder`` (the export JSON's "encoder")."""
    return next(name for name, cls in ENCODERS.items() if type(encoder) is cls)
