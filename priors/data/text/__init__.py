"""Text datamodules: CSV / JSONL with rationales (:class:`TextDataModule`) and the generated
Decoy-Text benchmark (:class:`DecoyTextDataModule`); tokenizers trained offline."""
from .datamodule import TextDataModule, read_rows
from .decoy_text import DecoyTextDataModule, decoy_sentences
from .encode import TextDataset, encode, spans_from_words
from .tokenizer import load_tokenizer, train_tokenizer

__all__ = ["DecoyTextDataModule", "TextDataModule", "TextDataset", "decoy_sentences", "encode",
           "load_tokenizer", "read_rows", "spans_from_words", "train_tokenizer"]
