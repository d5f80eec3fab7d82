"""SASRec's position layouts: end-aligned (default) and numbered from each sequence's start
(RecBole's right padding, the MCLRec authors' code)."""
from __future__ import annotations

import copy

import pytest
import torch

from graphcl.nn.sasrec import SASRecEncoder

MAX_LEN = 10


def _pair():
    torch.manual_seed(0)
    start = SASRecEncoder(30, MAX_LEN, 16, 2, 2, 32, positions="from_start").eval()
    end = copy.deepcopy(start)
    end.positions = "end_aligned"
    return start, end


def _end_table_for_length(start: SASRecEncoder, end: SASRecEncoder, n: int) -> None:
    """Give the end-aligned encoder the rows from_start uses for a sequence of length n."""
    with torch.no_grad():
        end.position_embedding.weight[MAX_LEN - n:] = start.position_embedding.weight[:n]


@pytest.mark.parametrize("width", [MAX_LEN, 6])
def test_from_start_numbers_the_oldest_item_zero(width):
    start, end = _pair()
    seqs = torch.tensor([[0] * (width - 4) + [3, 7, 1, 9]])
    with torch.no_grad():
        got = start.encode(seqs, torch.tensor([4]))
        assert not torch.allclose(got, end.encode(seqs))     # the layouts differ below max_len
        _end_table_for_length(start, end, 4)
        torch.testing.assert_close(got, end.encode(seqs))
        torch.testing.assert_close(start(seqs, torch.tensor([4]))[:, -1], got)
        torch.testing.assert_close(start.encode(seqs), got)  # no lengths: from the first nonzero


def test_masked_leading_items_keep_their_positions_when_lengths_are_given():
    start, end = _pair()
    # 5 items, the first two masked to the padding id by an augmentation (MCLRec's mask op)
    seqs = torch.tensor([[0, 0, 0, 0, 0, 0, 0, 4, 8, 2], [0, 0, 0, 0, 0, 5, 6, 4, 8, 2]])
    lengths = torch.tensor([5, 5])
    with torch.no_grad():
        got = start.encode(seqs, lengths)
        _end_table_for_length(start, end, 5)
        torch.testing.assert_close(got, end.encode(seqs))
        # without lengths the masked items are not counted: the row shifts to positions 0..2
        assert not torch.allclose(start.encode(seqs[:1]), got[:1])


def test_full_length_sequences_are_the_same_in_both_layouts():
    start, end = _pair()
    seqs = torch.randint(1, 30, (3, MAX_LEN), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(start.encode(seqs, torch.full((3,), MAX_LEN)), end.encode(seqs))


def test_bad_layout_is_refused():
    with pytest.raises(ValueError, match="positions must be one of end_aligned, from_start, got 'right'"):
        SASRecEncoder(30, MAX_LEN, positions="right")


def test_the_config_key_reaches_the_encoder():
    from graphcl.models.seq.base import SEQ_DEFAULTS, build_sequence_encoder
    assert SEQ_DEFAULTS["positions"] == "end_aligned"
    assert build_sequence_encoder({**SEQ_DEFAULTS, "positions": "from_start"}, 30).positions == "from_start"
