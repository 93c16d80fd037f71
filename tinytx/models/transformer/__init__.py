"""The from-scratch transformer: attention, positions, blocks, encoder, decoder, and the GPT language model.

No nn.Transformer* or nn.MultiheadAttention: every piece is written out here. Masks are boolean, True = may
attend / is a real token.
"""
from .attention import KVCache, LayerCache, MultiHeadAttention, attention, causal_mask
from .blocks import MLP, DecoderBlock, EncoderBlock, init_weights
from .decoder import TransformerDecoder
from .encoder import TransformerEncoder
from .positional import LearnedPositions, SinusoidalPositions, make_positions

__all__ = [
    "KVCache", "LayerCache", "MultiHeadAttention", "attention", "causal_mask", "MLP", "DecoderBlock",
    "EncoderBlock", "init_weights", "TransformerDecoder", "TransformerEncoder", "LearnedPositions",
    "SinusoidalPositions", "make_positions",
]
