import pytest

from asr.data.tokenizer import CharTokenizer, load_tokenizer, read_tokens, train_tokenizer
from asr.errors import DataError

TEXTS = ["THREE ONE FOUR", "ONE FIVE NINE TWO", "SIX FIVE THREE", "FIVE EIGHT NINE SEVEN"] * 30


def test_char_tokenizer_round_trip_and_ids(tmp_path):
    train_tokenizer(TEXTS, tmp_path, "char")
    tok = load_tokenizer(tmp_path)
    assert isinstance(tok, CharTokenizer)
    assert tok.tokens[:2] == ["<blk>", "<unk>"]
    ids = tok.encode("THREE  ONE")
    assert all(1 <= i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == "THREE ONE"
    assert tok.encode("QJ") == [1, 1]  # characters outside the list


@pytest.mark.parametrize("kind", ["bpe", "unigram"])
def test_sentencepiece_blank_is_zero(tmp_path, kind):
    train_tokenizer(TEXTS, tmp_path, kind, vocab_size=20)
    tok = load_tokenizer(tmp_path)
    assert tok.tokens[0] == "<blk>" and tok.tokens[1] == "<unk>"
    ids = tok.encode("FIVE EIGHT NINE")
    assert ids and all(1 <= i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == "FIVE EIGHT NINE"
    assert read_tokens(tmp_path / "tokens.txt") == tok.tokens


def test_bad_token_list(tmp_path):
    (tmp_path / "tokens.txt").write_text("<blk> 0\nA 2\n")
    with pytest.raises(DataError, match="tokens.txt:2: expected '<token> 1'"):
        read_tokens(tmp_path / "tokens.txt")
    with pytest.raises(DataError, match="vocab-size must be > 2"):
        train_tokenizer(TEXTS, tmp_path / "x", "bpe", 0)
