"""Language models built on minigrad, and everything to train, sample and evaluate them.

    base.py         LanguageModel: the interface every model shares
    simple.py       BigramLM, BigramEmbeddingLM, MLPLM
    recurrent.py    RNNLM, LSTMLM (truncated BPTT, state carried between batches)
    attention.py    SingleHeadAttentionLM, MultiHeadAttentionLM (HW4 1.3), HW4's heads
    transformer.py  TransformerLM (GPT: learned / sinusoidal / RoPE positions, pre/post-LN)
    config.py       Config (every setting of a run) and build_model
    init.py         initialisation schemes: the model's own, PyTorch's, HW4's, the thesis's
    presets.py      the named configurations: ours (tiny, gpt-384, nanogpt-char) and the seeds'
    seed_presets.py the seeds' own (hw4-*, thesis, thesis-v1, quijote-*, copy), field by field
    corpus.py       corpus files and splits; the bundled corpora (Shakespeare, Don Quijote)
    data.py         corpus -> token ids -> batches
    windows.py      the Cervantes objective: last position of shuffled stride-1 windows
    optim_config.py the optimiser (AdamW, Adam, SGD, RMSprop) and schedule of a Config
    train.py        Trainer: optimiser, schedule, clipping, accumulation, checkpoints, resume
    checkpoint.py   checkpoint files: what they hold, checked before use, loaded
    rundir.py       a run directory: its lock, atomic writes, no symbolic links, the log
    stopping.py     stopping a run without loss: SIGINT/SIGTERM, NaN and infinities
    validation.py   what every flag and file field may be (one check for all of them)
    resources.py    the memory a config needs, corpus size limits, checked up front
    generate.py     sampling: temperature, top-k, top-p, penalties, key/value cache
    generation_grid.py  the thesis's 17 sampling settings, with distinct-n (generate-grid)
    evaluate.py     loss, perplexity, bits per character, accuracy; HW4's estimate_loss
    step_losses.py  every step's training loss, kept in log.jsonl with the evaluations
    sentence_windows.py  left-padded sentence windows (seed 004's toy model)
    toy_attention.py     seed 004's toy attention model, its training and generation
    plot.py         loss curve, attention and position heatmaps (matplotlib, optional)
    positional_figure.py  seed 001's figures of the sinusoidal encoding (plot --positional)
    tokenize_text.py      `minigrad tokenize`: a text's tokens, one a line
    reproduce/      `minigrad reproduce`: the seeds' experiments and the report
    cli.py          the `minigrad` command
"""
from models.attention import MultiHeadAttentionLM, SingleHeadAttentionLM
from models.base import LanguageModel
from models.config import Config, build_model
from models.recurrent import LSTMLM, RNNLM
from models.simple import BigramEmbeddingLM, BigramLM, MLPLM
from models.transformer import TransformerLM

__all__ = ["LanguageModel", "BigramLM", "BigramEmbeddingLM", "MLPLM", "RNNLM", "LSTMLM",
           "SingleHeadAttentionLM", "MultiHeadAttentionLM", "TransformerLM", "Config",
           "build_model"]
