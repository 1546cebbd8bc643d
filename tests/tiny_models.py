"""Tiny random transformers of every supported architecture, built at test time.

No model hub is reachable in tests, and tokenizers saved by transformers 5.x cannot be
read by 4.x, so nothing is committed: each builder saves a 2-layer, 4-head model and a
tokenizer into a directory with ``save_pretrained``, in well under a second.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

WORDS = (
    "the a movie film was is not very good bad great terrible plot acting i loved hated it "
    "and but this that story ending really quite boring fun with of to in on".split()
)
SENTENCES = [
    "the movie was not very good",
    "i loved the acting and the plot",
    "this film is really quite boring",
    "the ending was terrible but fun",
]


def bert_tokenizer(directory: Path):
    """A WordPiece tokenizer over :data:`WORDS` (saved into ``directory``)."""
    from transformers import BertTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, "##s", "##ing", "##ed"]
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast.from_pretrained(str(directory))
    tokenizer.model_max_length = 64
    return tokenizer


def bpe_tokenizer(*, bos: str = "<s>", eos: str = "</s>", pad: str = "<pad>"):
    """A byte-level BPE tokenizer trained on :data:`SENTENCES` (GPT-2/BART/Llama style)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE(unk_token=None))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=[pad, bos, eos], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(SENTENCES * 3, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=bos,
        eos_token=eos,
        pad_token=pad,
        model_input_names=["input_ids", "attention_mask"],
        model_max_length=64,
    )


def _save(model, tokenizer, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    return directory


SMALL = {"hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 64}


def build_bert(directory: Path, *, classifier: bool = True, **config_overrides: Any) -> Path:
    """2 layers x 4 heads unless ``config_overrides`` (BertConfig fields) say otherwise."""
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    torch.manual_seed(0)
    tokenizer = bert_tokenizer(directory)
    settings: dict[str, Any] = {"num_hidden_layers": 2, "max_position_embeddings": 64, **SMALL, **config_overrides}
    config = BertConfig(
        vocab_size=len(tokenizer), **settings,
        id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1},
    )
    model = BertForSequenceClassification(config) if classifier else BertModel(config)
    return _save(model.eval(), tokenizer, directory)


def build_distilbert(directory: Path) -> Path:
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    torch.manual_seed(0)
    tokenizer = bert_tokenizer(directory)
    config = DistilBertConfig(
        vocab_size=len(tokenizer), n_layers=2, n_heads=4, dim=32, hidden_dim=64, max_position_embeddings=64,
        id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1},
    )
    return _save(DistilBertForSequenceClassification(config).eval(), tokenizer, directory)


def build_roberta(directory: Path) -> Path:
    from transformers import RobertaConfig, RobertaModel

    torch.manual_seed(0)
    tokenizer = bpe_tokenizer()
    config = RobertaConfig(
        vocab_size=len(tokenizer), num_hidden_layers=2, max_position_embeddings=66, pad_token_id=0, **SMALL,
    )
    return _save(RobertaModel(config).eval(), tokenizer, directory)


def build_gpt2(directory: Path) -> Path:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    tokenizer = bpe_tokenizer(bos="<|endoftext|>", eos="<|endoftext|>", pad="<|endoftext|>")
    config = GPT2Config(
        vocab_size=len(tokenizer), n_layer=2, n_head=4, n_embd=32, n_positions=64,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    return _save(GPT2LMHeadModel(config).eval(), tokenizer, directory)


def build_llama(directory: Path) -> Path:
    """Grouped-query attention: 4 query heads share 2 key/value heads."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    tokenizer = bpe_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer), num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        hidden_size=32, intermediate_size=64, max_position_embeddings=64,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    return _save(LlamaForCausalLM(config).eval(), tokenizer, directory)


def build_t5(directory: Path) -> Path:
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    tokenizer = bpe_tokenizer(bos="<s>", eos="</s>", pad="<pad>")
    config = T5Config(
        vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=4,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    return _save(T5ForConditionalGeneration(config).eval(), tokenizer, directory)


def build_bart(directory: Path) -> Path:
    from transformers import BartConfig, BartForConditionalGeneration

    torch.manual_seed(0)
    tokenizer = bpe_tokenizer()
    config = BartConfig(
        vocab_size=len(tokenizer), d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id, forced_eos_token_id=None,
    )
    return _save(BartForConditionalGeneration(config).eval(), tokenizer, directory)


BUILDERS = {
    "bert": build_bert,
    "distilbert": build_distilbert,
    "roberta": build_roberta,
    "gpt2": build_gpt2,
    "llama": build_llama,
    "t5": build_t5,
    "bart": build_bart,
}


class TinyTorchClassifier(nn.Module):
    """A plain PyTorch encoder: embeddings, ``nn.TransformerEncoder``, mean pool, linear head."""

    def __init__(self, vocab_size: int, *, dim: int = 32, heads: int = 4, layers: int = 2, labels: int = 2) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, dim * 2, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(dim, labels)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(self.embed(input_ids))
        return self.head(hidden.mean(dim=1))


def _bpe_causal_config(tokenizer) -> dict:
    return {
        "vocab_size": len(tokenizer), "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "hidden_size": 32, "intermediate_size": 64, "max_position_embeddings": 512,
        "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }


def build_qwen2(directory: Path) -> Path:
    """Qwen2: grouped-query attention (4 query heads, 2 key/value heads) with q/k/v biases."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    tokenizer = bpe_tokenizer()
    config = Qwen2Config(**_bpe_causal_config(tokenizer), use_sliding_window=False)
    return _save(Qwen2ForCausalLM(config).eval(), tokenizer, directory)


def build_mistral(directory: Path, *, sliding_window: int = 16) -> Path:
    """Mistral with a sliding window shorter than the test inputs (so the window really masks)."""
    from transformers import MistralConfig, MistralForCausalLM

    torch.manual_seed(0)
    tokenizer = bpe_tokenizer()
    config = MistralConfig(**_bpe_causal_config(tokenizer), sliding_window=sliding_window, head_dim=8)
    return _save(MistralForCausalLM(config).eval(), tokenizer, directory)


def build_gemma2(directory: Path, *, sliding_window: int = 16, softcap: float = 2.0) -> Path:
    """Gemma2: logit softcapping and alternating sliding-window / full layers.

    A large initializer range and a small softcap make the tanh cap really bend the scores
    of a random model (with the usual 0.02 range the scores stay far below any cap).
    """
    from transformers import Gemma2Config, Gemma2ForCausalLM

    torch.manual_seed(0)
    tokenizer = bpe_tokenizer()
    config = Gemma2Config(
        **_bpe_causal_config(tokenizer), head_dim=8, sliding_window=sliding_window,
        attn_logit_softcapping=softcap, final_logit_softcapping=30.0, query_pre_attn_scalar=8,
        initializer_range=0.3, layer_types=["sliding_attention", "full_attention"],
    )
    return _save(Gemma2ForCausalLM(config).eval(), tokenizer, directory)


#: Builders for the lazy capture tests; not in :data:`BUILDERS`, whose every entry other tests run.
LAZY_BUILDERS = {"qwen2": build_qwen2, "mistral": build_mistral, "gemma2": build_gemma2}
