"""The broadcasting helpers on their own: ``sum_to_shape`` undoes a broadcast (in both its
engine-op and array forms), ``expand_back`` undoes a reduction."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad.ops import expand_back, sum_to_shape, sum_to_shape_array


@st.composite
def broadcast_pairs(draw):
    """(small, big): a shape and a shape it broadcasts to."""
    small = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3))
    lead = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3))
    stretched = tuple(draw(st.integers(1, 3)) if s == 1 else s for s in small)
    return small, lead + stretched


def _sum_back_reference(g, shape):
    """By the definition: each element of the small shape collects every element of the
    broadcast result that was a copy of it."""
    out = np.zeros(shape)
    for index in np.ndindex(*g.shape):
        source = tuple(0 if s == 1 else i for i, s in zip(index[g.ndim - len(shape):], shape))
        out[source] += g[index]
    return out


@given(pair=broadcast_pairs(), data=st.data())
def test_sum_to_shape_sums_the_copies_broadcasting_made(pair, data):
    small, big = pair
    g = data.draw(hnp.arrays(np.float64, big, elements=st.floats(-3, 3)))
    expected = _sum_back_reference(g, small)
    np.testing.assert_allclose(sum_to_shape(mg.tensor(g), small).numpy(), expected, atol=1e-12)
    np.testing.assert_allclose(sum_to_shape_array(g, small), expected, atol=1e-12)
    assert sum_to_shape_array(g, small).shape == small


@given(pair=broadcast_pairs())
def test_sum_to_shape_is_the_backward_of_expand(pair):
    small, big = pair
    x = mg.randn(*small, dtype=mg.float64, requires_grad=True)
    assert mg.gradcheck(lambda x: x.expand(*big), x)
    assert mg.gradgradcheck(lambda x: x.expand(*big) * x.expand(*big), x)


def test_sum_to_shape_leaves_a_matching_shape_alone():
    g = mg.randn(2, 3)
    assert sum_to_shape(g, (2, 3)) is g


@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=3), data=st.data())
def test_expand_back_undoes_a_reduction(shape, data):
    axes = tuple(sorted(data.draw(st.sets(st.integers(0, len(shape) - 1), min_size=1))))
    keepdims = data.draw(st.booleans())
    reduced = np.random.default_rng(0).standard_normal(
        tuple(1 if i in axes else s for i, s in enumerate(shape)) if keepdims
        else tuple(s for i, s in enumerate(shape) if i not in axes))
    out = expand_back(mg.tensor(reduced), shape, axes, keepdims).numpy()
    assert out.shape == shape
    np.testing.assert_array_equal(out, np.broadcast_to(
        reduced if keepdims else np.expand_dims(reduced, axes), shape))
