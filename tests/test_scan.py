"""melab.scan: known answers, permutation and inverse properties, windows, and the redundancy measures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from melab.scan import (
    BASE_KINDS,
    SCAN_KINDS,
    adjacency,
    apply_scan,
    inverse,
    redundancy,
    redundancy_matrix,
    scan_order,
    scan_progress,
    scan_table,
    undo_scan,
    window_merge,
    window_partition,
)

# A 3 x 4 grid, row-major:    0  1  2  3
#                             4  5  6  7
#                             8  9 10 11
BY_HAND_3x4 = {
    "h_raster": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    "v_raster": [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11],
    "h_zigzag": [0, 1, 2, 3, 7, 6, 5, 4, 8, 9, 10, 11],
    "v_zigzag": [0, 4, 8, 9, 5, 1, 2, 6, 10, 11, 7, 3],
    "h_raster_mirror": [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8],
    "v_zigzag_mirror": [3, 7, 11, 10, 6, 2, 1, 5, 9, 8, 4, 0],
}


@pytest.mark.parametrize("kind", sorted(BY_HAND_3x4))
def test_scan_order_matches_hand_written_3x4(kind):
    assert scan_order(3, 4, kind).tolist() == BY_HAND_3x4[kind]


def test_there_are_twelve_kinds():
    assert len(SCAN_KINDS) == 12 and len(set(SCAN_KINDS)) == 12


@pytest.mark.parametrize("base", BASE_KINDS)
def test_base_scans_start_top_left_and_twins_are_defined_from_them(base):
    h, w = 4, 5
    order = scan_order(h, w, base)
    assert order[0] == 0
    assert scan_order(h, w, f"{base}_rev").tolist() == order[::-1].tolist()
    rows, cols = np.divmod(order, w)
    assert scan_order(h, w, f"{base}_mirror").tolist() == (rows * w + (w - 1 - cols)).tolist()
    assert scan_order(h, w, f"{base}_mirror")[0] == w - 1  # the mirrored path starts top-right


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 9), w=st.integers(1, 9), kind=st.sampled_from(SCAN_KINDS))
def test_every_scan_is_a_permutation_and_inverse_undoes_it(h, w, kind):
    order = scan_order(h, w, kind)
    assert order.dtype == np.int64
    assert sorted(order.tolist()) == list(range(h * w))
    inv = inverse(order)
    assert np.array_equal(inv[order], np.arange(h * w))
    assert np.array_equal(order[inv], np.arange(h * w))


def test_zigzag_never_jumps_and_raster_jumps_once_per_row():
    h, w = 5, 6
    assert adjacency(scan_order(h, w, "h_zigzag"), h, w).neighbour.all()
    assert adjacency(scan_order(h, w, "v_zigzag"), h, w).neighbour.all()
    adj = adjacency(scan_order(h, w, "h_raster"), h, w)
    assert (~adj.neighbour).sum() == h - 1
    # A row change of h_raster jumps from (r, w-1) to (r+1, 0): length sqrt(1 + (w-1)^2).
    assert np.allclose(adj.jump[~adj.neighbour], np.hypot(1, w - 1))
    assert adj.mean_jump == pytest.approx(((h * w - h) + (h - 1) * np.hypot(1, w - 1)) / (h * w - 1))


def test_unknown_kind_lists_the_valid_ones():
    with pytest.raises(ValueError, match="h_raster, v_raster, h_zigzag, v_zigzag"):
        scan_order(3, 3, "diagonal")


def test_inverse_rejects_a_non_permutation():
    with pytest.raises(ValueError, match="permutation"):
        inverse(np.array([0, 0, 2]))


@pytest.mark.parametrize("kind", ["v_zigzag", "h_raster_mirror", "v_raster_rev"])
def test_apply_and_undo_scan_roundtrip(kind):
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    order = scan_order(4, 5, kind)
    seq = apply_scan(x, order)
    assert seq.shape == (2, 3, 20)
    # The i-th token of the sequence is the pixel the scan visits i-th.
    r, c = divmod(int(order[7]), 5)
    assert torch.equal(seq[:, :, 7], x[:, :, r, c])
    assert torch.equal(undo_scan(seq, order, 4, 5), x)


def test_apply_scan_rejects_a_wrong_order_length():
    with pytest.raises(ValueError, match="H\\*W"):
        apply_scan(torch.zeros(1, 1, 3, 3), scan_order(3, 4, "h_raster"))


def test_window_partition_and_merge_roundtrip():
    x = torch.randn(2, 3, 6, 9)
    win = window_partition(x, 3)
    assert win.shape == (2 * 2 * 3, 3, 3, 3)
    # Window 1 of image 0 is rows 0-2, columns 3-5; windows of image 1 follow those of image 0.
    assert torch.equal(win[1], x[0, :, 0:3, 3:6])
    assert torch.equal(win[6 + 4], x[1, :, 3:6, 3:6])
    assert torch.equal(window_merge(win, 3, 6, 9), x)


def test_window_partition_error_says_what_to_do():
    with pytest.raises(ValueError, match="multiples of the window size; pad"):
        window_partition(torch.zeros(1, 1, 7, 8), 4)
    with pytest.raises(ValueError, match="expected"):
        window_merge(torch.zeros(5, 1, 2, 2), 2, 4, 4)


def test_redundancy_of_twins():
    h, w = 7, 7
    for base in BASE_KINDS:
        order = scan_order(h, w, base)
        assert redundancy(order, scan_order(h, w, f"{base}_rev"), h, w) == 1.0
        assert redundancy(order, scan_order(h, w, f"{base}_rev"), h, w, directed=True) == 0.0
        # Mirroring keeps every within-row pair; only the h-1 row changes differ (for h_* scans).
        mirror = redundancy(order, scan_order(h, w, f"{base}_mirror"), h, w)
        assert mirror == pytest.approx((h * w - 1 - (h - 1)) / (h * w - 1))
    # h_raster and v_raster share no pair at all.
    assert redundancy(scan_order(h, w, "h_raster"), scan_order(h, w, "v_raster"), h, w) == 0.0


def test_scan_table_shows_twins_add_no_neighbour_pair():
    table = scan_table(7, 7)
    assert list(table.index) == list(SCAN_KINDS)
    assert (table["new_pairs_vs_4"] == 0).all()
    assert (table.loc[[k for k in SCAN_KINDS if k.endswith("_rev")], "redundancy_with_base"] == 1.0).all()
    # A mirrored zigzag turns at the other edge, so it has vertical pairs its own base lacks (one per turn),
    # but v_raster already has them all.
    assert table.loc["h_zigzag_mirror", "new_pairs_vs_base"] == 6
    assert table.loc["h_zigzag", "neighbour_share"] == 1.0
    matrix = redundancy_matrix(7, 7, BASE_KINDS)
    assert np.allclose(np.diag(matrix), 1.0) and np.allclose(matrix, matrix.T)


def test_scan_progress_is_the_slider_frame():
    frame = scan_progress(3, 4, "v_zigzag", 5)
    expected = np.array([[0, 5, -1, -1], [1, 4, -1, -1], [2, 3, -1, -1]])
    assert np.array_equal(frame, expected)
    assert (scan_progress(3, 4, "h_raster", 11) >= 0).all()
    with pytest.raises(ValueError, match="step must be in 0..11"):
        scan_progress(3, 4, "h_raster", 12)
