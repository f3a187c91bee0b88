"""A Hugging Face Hub cache on disk, as `huggingface_hub` lays it out, holding real tokenizers built here
(a word-level vocabulary trained on a few sentences; nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace
from tokenizers.processors import TemplateProcessing
from tokenizers.trainers import WordLevelTrainer

SENTENCES = ["the cat sat on the mat", "a dog ran in the park", "be brief and careful",
             "what is the weather in paris"]


def word_tokenizer() -> Tokenizer:
    """One token per word or run of punctuation (unknown words are `[UNK]`, one token too); a `[BOS]`
    added in front when special tokens are asked for."""
    tok = Tokenizer(WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = Whitespace()
    tok.train_from_iterator(SENTENCES, WordLevelTrainer(special_tokens=["[UNK]", "[BOS]"]))
    tok.post_processor = TemplateProcessing(single="[BOS] $A", special_tokens=[("[BOS]", tok.token_to_id("[BOS]"))])
    return tok


def put(cache: Path, model: str, tokenizer: Tokenizer | str, revision: str = "abc", *, main: bool = True) -> Path:
    """`tokenizer` (or that text, as the file) as `model`'s tokenizer.json at `revision` in the Hub cache
    `cache`; `refs/main` names that revision unless `main` is false. The file's path."""
    repo = cache / ("models--" + model.replace("/", "--"))
    path = repo / "snapshots" / revision / "tokenizer.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(tokenizer, str):
        path.write_text(tokenizer)
    else:
        tokenizer.save(str(path))
    if main:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(revision)
    return path


def tokens_of(tokenizer: Tokenizer, *pieces: str) -> int:
    """What `tokenizer` counts in `pieces`, special tokens left out."""
    return sum(len(tokenizer.encode(p, add_special_tokens=False).ids) for p in pieces)
