"""A tokenizer trained offline on a corpus with the ``tokenizers`` library, saved so that
``transformers.AutoTokenizer.from_pretrained(directory)`` loads it (no download)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # ids 0..4, BERT's special tokens
KINDS = ("wordlevel", "wordpiece")


def train_tokenizer(texts: Iterable[str], directory: Optional[str | Path] = None,
                    kind: str = "wordlevel", vocab_size: int = 8000, lowercase: bool = True):
    """A BERT-style fast tokenizer (``[CLS] text [SEP]``, pad id 0, mask id 4) trained on
    ``texts``: whole words (``"wordlevel"``) or WordPiece sub-words (``"wordpiece"``, Wu et
    al. 2016). Saved to ``directory`` when given. Returns a ``PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers import trainers
    from transformers import PreTrainedTokenizerFast

    if kind not in KINDS:
        raise ValueError(f"tokenizer kind must be one of {KINDS}, got {kind!r}")
    if kind == "wordlevel":
        tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
        trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL))
    else:
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL))
        tok.decoder = decoders.WordPiece()
    steps = [normalizers.NFD(), normalizers.StripAccents()]
    tok.normalizer = normalizers.Sequence(([normalizers.Lowercase()] if lowercase else []) + steps)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(list(texts), trainer=trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    if directory is not None:
        fast.save_pretrained(str(directory))
    return fast


def load_tokenizer(directory: str | Path):
    """``AutoTokenizer.from_pretrained(directory)`` from local files only (a fast tokenizer:
    rationale spans need its offset mapping)."""
    from transformers import AutoTokenizer

    path = Path(directory)
    if not path.is_dir():
        raise FileNotFoundError(f"tokenizer directory {str(path)!r} does not exist; save a "
                                "tokenizer there (tokenizer.save_pretrained(dir)) or build one "
                                "with priors.data.text.train_tokenizer(texts, dir)")
    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    if not getattr(tok, "is_fast", False):
        raise ValueError(f"the tokenizer in {str(path)!r} is not a fast tokenizer; rationale "
                         "spans need its offset mapping")
    return tok
