"""``minigrad.nn``: modules, layers, losses and initialisers, with PyTorch's names.

    from minigrad import nn
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
"""
from minigrad.nn import functional, init, utils  # noqa: F401
from minigrad.nn.activation import Flatten, Identity, LogSoftmax, SiLU, Sigmoid, Softmax
from minigrad.nn.attention import KVCache, MultiHeadAttention, record_attention
from minigrad.nn.layers import (
    GELU, Dropout, Embedding, LayerNorm, Linear, ReLU, RMSNorm, Tanh)
from minigrad.nn.container import ModuleDict, ModuleList, Sequential
from minigrad.nn.loss import CrossEntropyLoss, MSELoss, NLLLoss
from minigrad.nn.module import Module, Parameter
from minigrad.nn.multihead_attention import MultiheadAttention
from minigrad.nn.positional import (
    LearnedPositionalEmbedding, RotaryEmbedding, SinusoidalPositionalEncoding)
from minigrad.nn.recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from minigrad.nn.torch_transformer import (
    Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
    TransformerEncoderLayer)
from minigrad.nn.transformer import FeedForward, TransformerBlock

__all__ = [
    "Module", "Parameter", "ModuleList", "Sequential", "ModuleDict",
    "Linear", "Embedding", "LayerNorm", "RMSNorm", "Dropout", "ReLU", "GELU", "Tanh",
    "Sigmoid", "SiLU", "Softmax", "LogSoftmax", "Identity", "Flatten",
    "CrossEntropyLoss", "NLLLoss", "MSELoss",
    "MultiHeadAttention", "KVCache", "record_attention", "FeedForward", "TransformerBlock",
    "MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder",
    "TransformerDecoderLayer", "TransformerDecoder", "Transformer",
    "RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU",
    "LearnedPositionalEmbedding", "SinusoidalPositionalEncoding", "RotaryEmbedding",
    "functional", "init", "utils",
]
