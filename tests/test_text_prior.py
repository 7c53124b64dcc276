"""Priors on text: dict batches in PriorModule and AttributionPrior (a plain LightningModule
around a Hugging Face classifier), frozen encoders and LoRA, bad inputs, the text data."""
from __future__ import annotations

import json

import pytest
import pytorch_lightning as pl
import torch
import transformers
from torch import nn

from priors import Prior, PriorModule
from priors.attributions import get_method
from priors.batch import parse_batch
from priors.callbacks import AttributionPrior
from priors.core.tokens import TokenBatch
from priors.data.text import DecoyTextDataModule, TextDataModule, train_tokenizer
from priors.step import prior_step_loss
from text_models import tiny_bert, token_batch


def _trainer(callbacks=(), epochs=1):
    return pl.Trainer(callbacks=list(callbacks), max_epochs=epochs, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, limit_val_batches=0)


@pytest.fixture(scope="module")
def decoy():
    dm = DecoyTextDataModule(n_train=64, n_val=16, n_test=16, seed=0)
    dm.setup("fit")
    return dm


class UserClassifier(pl.LightningModule):
    """What a user writes: an HF classifier called with keywords on dict batches."""

    def __init__(self, vocab_size):
        super().__init__()
        config = transformers.BertConfig(vocab_size=vocab_size, hidden_size=32,
                                         num_hidden_layers=1, num_attention_heads=2,
                                         intermediate_size=64, num_labels=2,
                                         max_position_embeddings=16)
        self.model = transformers.BertForSequenceClassification(config)

    def training_step(self, batch, batch_idx):
        out = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                         labels=batch["labels"].long())
        return out.loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)


def test_user_module_trains_with_ig_masked_l2_callback(decoy, one_thread):
    torch.manual_seed(0)
    module = UserClassifier(decoy.vocab_size)
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    callback = AttributionPrior("ig", "masked_l2", weight=10.0, n_steps=4)
    trainer = _trainer([callback])
    trainer.fit(module, decoy.train_dataloader())
    prior = float(trainer.callback_metrics["train/prior"])
    assert prior > 0 and torch.isfinite(torch.tensor(prior))
    last = callback.last
    torch.testing.assert_close(last["loss"], last["task_loss"] + last["prior_weighted"])
    moved = [n for n, p in module.named_parameters() if not torch.equal(p, before[n])]
    assert "model.bert.embeddings.word_embeddings.weight" in moved


def test_callback_penalty_equals_prior_on_the_same_batch(decoy):
    torch.manual_seed(0)
    module = UserClassifier(decoy.vocab_size).eval()
    batch = next(iter(decoy.train_dataloader()))
    callback = AttributionPrior("grad", "masked_l2", weight=1.0)
    trainer = _trainer([callback])
    callback.setup(trainer, module, "fit")
    callback._training_step(module, UserClassifier.training_step.__get__(module), (batch, 0), {})
    tokens, y, mask = parse_batch(batch)
    scores = get_method("text_grad")(module.model, tokens, y.long())
    expected = (scores * mask).pow(2).sum(1).mean()
    torch.testing.assert_close(callback.last["prior"], expected.detach(), rtol=1e-5, atol=1e-12)


def test_prior_module_on_dict_batches_shares_the_forward(decoy):
    model = tiny_bert(num_classes=1, dtype=torch.float32, vocab=decoy.vocab_size)
    batch = next(iter(decoy.train_dataloader()))
    tokens, y, mask = parse_batch(batch)
    prior = Prior("grad", "masked_l2", weight=1.0)
    step = prior_step_loss(model, prior, tokens, y, "binary", mask)
    shared = step.prior.attributions
    alone = get_method("text_grad")(model, tokens)
    torch.testing.assert_close(shared, alone, rtol=1e-5, atol=1e-9)
    assert shared.shape == tokens.shape


@pytest.mark.parametrize("method", ["grad", "text_ig"])
def test_frozen_encoder_backward_reaches_only_the_head(decoy, method):
    model = tiny_bert(num_classes=1, dtype=torch.float32, vocab=decoy.vocab_size)
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("hf.classifier"))
    module = PriorModule(model, Prior(method, "masked_l2", weight=10.0,
                                      **({"n_steps": 4} if method == "text_ig" else {})))
    batch = next(iter(decoy.train_dataloader()))
    tokens, y, mask = parse_batch(batch)
    step = prior_step_loss(model, module.prior, tokens, y, "binary", mask)
    assert step.prior.penalty > 0
    module.backward(step.loss)
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is None for n, g in grads.items() if not n.startswith("hf.classifier"))
    assert all(g is not None and g.abs().sum() > 0 for n, g in grads.items()
               if n.startswith("hf.classifier"))


def test_lora_callback_updates_only_lora_and_head(decoy, one_thread):
    peft = pytest.importorskip("peft")
    torch.manual_seed(0)
    module = UserClassifier(decoy.vocab_size)
    module.model = peft.get_peft_model(module.model, peft.LoraConfig(
        task_type="SEQ_CLS", r=4, target_modules=["query", "value"]))
    trainable = {n for n, p in module.named_parameters() if p.requires_grad}
    assert trainable and all("lora" in n or "classifier" in n for n in trainable)
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    trainer = _trainer([AttributionPrior("grad", "masked_l2", weight=10.0)])
    trainer.fit(module, decoy.train_dataloader())
    assert float(trainer.callback_metrics["train/prior"]) > 0
    for n, p in module.named_parameters():
        assert torch.equal(p, before[n]) == (n not in trainable), n


# --- bad inputs -------------------------------------------------------------------------------
def test_integer_inputs_to_an_embedding_method_are_refused():
    model, tokens = tiny_bert(), token_batch()
    with pytest.raises(TypeError, match="TokenBatch.*integer token ids|integer token ids"):
        get_method("text_ig")(model, tokens.input_ids, 0)
    with pytest.raises(TypeError, match="token ids of a text model"):
        Prior("ig", "l1")(model, tokens.input_ids, torch.zeros(3, dtype=torch.long))


def test_model_without_input_embeddings_is_refused():
    with pytest.raises(TypeError, match="get_input_embeddings"):
        get_method("text_grad")(nn.Linear(10, 2), token_batch(), 0)


def test_rationale_mask_of_wrong_length_is_refused(decoy):
    batch = next(iter(decoy.train_dataloader()))
    batch["rationale_mask"] = batch["rationale_mask"][:, :-1]
    with pytest.raises(ValueError, match="one entry per token"):
        parse_batch(batch)
    tokens = TokenBatch(batch["input_ids"], batch["attention_mask"])
    with pytest.raises(ValueError, match="one entry per token"):
        Prior("grad", "masked_l2").compute(tiny_bert(1, dtype=torch.float32, vocab=decoy.vocab_size), tokens,
                                           batch["labels"], batch["rationale_mask"])


def test_batch_without_attention_mask_is_refused(decoy):
    batch = next(iter(decoy.train_dataloader()))
    del batch["attention_mask"]
    with pytest.raises(ValueError, match="attention_mask"):
        parse_batch(batch)
    with pytest.raises(ValueError, match="attention_mask"):
        get_method("text_grad")(tiny_bert(), {"input_ids": batch["input_ids"]}, 0)


# --- data --------------------------------------------------------------------------------------
def test_text_datamodule_reads_spans_and_words_with_a_local_tokenizer(tmp_path):
    rows = [{"text": f"a {w} film {i}", "label": ["neg", "pos"][i % 2],
             "rationale": [[2, 2 + len(w)]] if i % 3 else [w]}
            for i, w in enumerate(["dull", "superb", "bland", "great"] * 10)]
    path = tmp_path / "reviews.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    train_tokenizer([r["text"] for r in rows], tmp_path / "tok")
    dm = TextDataModule(str(path), str(tmp_path / "tok"), max_length=8, batch_size=4)
    dm.setup("fit")
    sizes = [len(d) for d in (dm.train_dataset, dm.val_dataset, dm.test_dataset)]
    assert sum(sizes) == 40 and dm.task == "binary"
    for d in (dm.train_dataset, dm.val_dataset, dm.test_dataset):  # stratified: both classes
        assert 0 < float(d.tensors["labels"].mean()) < 1
    batch = next(iter(dm.train_dataloader()))
    assert batch["rationale_mask"].sum(1).eq(1).all()  # exactly the sentiment word's token
    ids = batch["input_ids"][batch["rationale_mask"].bool()]
    words = dm.tokenizer.convert_ids_to_tokens(ids.tolist())
    assert set(words) <= {"dull", "superb", "bland", "great"}
    csv = tmp_path / "reviews.csv"
    csv.write_text("text,label,rationale\n" + "\n".join(
        f'{r["text"]},{r["label"]},"{json.dumps(r["rationale"]).replace(chr(34), chr(34) * 2)}"'
        for r in rows))
    dm2 = TextDataModule(str(csv), str(tmp_path / "tok"), max_length=8)
    dm2.setup("fit")
    torch.testing.assert_close(dm2.train_dataset.tensors["rationale_mask"],
                               dm.train_dataset.tensors["rationale_mask"])


def test_decoy_text_marks_the_decoy_and_randomizes_it_at_test():
    dm = DecoyTextDataModule(n_train=200, n_val=20, n_test=200, seed=3)
    dm.setup("fit")
    decoy_ids = dm.tokenizer.convert_tokens_to_ids(["video", "text"])
    for split, follows in ((dm.train_dataset, 1.0), (dm.test_dataset, None)):
        t = split.tensors
        assert t["rationale_mask"].sum(1).eq(1).all()
        marked = t["input_ids"][t["rationale_mask"].bool()]
        agree = (marked == torch.tensor(decoy_ids)[t["labels"].long()]).float().mean()
        if follows:
            assert agree == 1.0
        else:
            assert 0.35 < agree < 0.65
