"""What every language model here shares: the interface the trainer, the sampler and the
evaluator rely on.

    logits = model(ids)                  # ids (B, T) int64 -> logits (B, T, V)
    logits, state = model(ids, state)    # recurrent models (RNNLM, LSTMLM): state carried
    logits = model(ids, cache=cache)     # attention models: only the new positions,
                                         # cache = model.new_cache() (one KVCache per layer)

Attributes a model sets (class or instance):
    vocab_size      the number of tokens (the last dimension of the logits)
    recurrent       True if forward takes and returns a hidden state
    block_size      the longest input forward accepts (None: any length)
    context_size    how many of the latest tokens decide the next prediction (bigram 1,
                    MLP its window, attention models block_size; None: all of them, through
                    the recurrent state). Generation crops its input to this many tokens.
"""
from minigrad import nn


class LanguageModel(nn.Module):
    vocab_size = None
    recurrent = False
    block_size = None
    context_size = None

    def new_cache(self):
        """A fresh key/value cache for incremental decoding, or None if the model has none."""
        return None

    def check_length(self, length, offset=0):
        """A clear error when positions offset..offset+length-1 do not fit the model."""
        if self.block_size is not None and offset + length > self.block_size:
            raise ValueError(f"{type(self).__name__}: input of {length} tokens (after "
                             f"{offset} cached) exceeds the context of {self.block_size}")

    def param_groups(self, weight_decay):
        """Optimizer groups: weight decay on matrices (weights and embeddings, ndim >= 2)
        only; biases and LayerNorm gains are not decayed (nanoGPT's configure_optimizers)."""
        params = list(self.parameters())
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        groups = [{"params": decay, "weight_decay": weight_decay}]
        if no_decay:
            groups.append({"params": no_decay, "weight_decay": 0.0})
        return groups


def init_gpt_(module, std=0.02):
    """nanoGPT's initialisation: every Linear and Embedding weight ~ N(0, std^2), biases 0.
    (LayerNorm keeps weight 1, bias 0.)"""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, std)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)


def detach_state(state):
    """A recurrent state (a tensor or a tuple of tensors) cut from the graph, so that the
    next chunk of truncated backpropagation through time does not reach back into this one."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()
