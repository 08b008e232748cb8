"""Weight initialisation schemes that a run can choose (`Config.init`), applied after a
model is built, so that a preset can match the initialisation of the seed it reproduces.

    model    each model's own (models/transformer.py: nanoGPT's; models/attention.py and
             models/simple.py: PyTorch's layer defaults)
    torch    PyTorch's layer defaults everywhere: Linear U(-1/sqrt(in), 1/sqrt(in)),
             Embedding N(0, 1), LayerNorm 1 and 0, recurrent layers U(-1/sqrt(H), 1/sqrt(H))
             (the Cervantes notebook, seed 001's copy task)
    normal   every Linear, Embedding and learned position table N(0, 0.02^2), biases 0,
             without nanoGPT's smaller residual projections (HW4's TransformerLM._init_weights)
    xavier   Linear weights Xavier uniform, biases 0; embeddings and positions N(0, 0.02^2)
             (the thesis: Xavier uniform in attention and feed-forward, normal embeddings)
"""
from minigrad import nn

SCHEMES = ("model", "torch", "normal", "xavier")
TABLES = (nn.Embedding, nn.LearnedPositionalEmbedding)


def apply_init(model, scheme):
    """Re-initialise `model`'s weights by `scheme` (one of SCHEMES); returns the model."""
    if scheme not in SCHEMES:
        raise ValueError(f"init must be one of {', '.join(SCHEMES)}, got {scheme!r}")
    if scheme == "model":
        return model
    for m in model.modules():
        if scheme == "torch":
            _torch_default(m)
        elif isinstance(m, nn.Linear):
            if scheme == "normal":
                nn.init.normal_(m.weight, 0.0, 0.02)
            else:
                nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, TABLES):
            nn.init.normal_(m.weight, 0.0, 0.02)
    return model


def _torch_default(module):
    """PyTorch's own initialisation of one layer (its reset_parameters)."""
    if isinstance(module, nn.LearnedPositionalEmbedding):
        nn.init.normal_(module.weight)  # PyTorch models hold positions in an nn.Embedding
    elif hasattr(module, "reset_parameters"):
        module.reset_parameters()
