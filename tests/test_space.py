"""lerax.space: sampling within bounds, membership, masks, flattening, validation.

Every check compares against NumPy (bounds, one-hot codes, frequencies) or hand
computation, never against the space's own output.
"""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lerax.space import Box, Dict, Discrete, MultiBinary, MultiDiscrete, Tuple

NUM_SAMPLES = 4000
# These checks are about values, not speed: skip XLA's slow optimisation passes.
FAST_COMPILE = {
    "xla_backend_optimization_level": 0,
    "xla_llvm_disable_expensive_passes": True,
}
BIG = float(np.finfo(np.float32).max)

BOX_LOW = np.array([[-2.0, 0.0, 5.0], [-1.0, -1.0, 0.5]])
BOX_HIGH = np.array([[4.0, 0.0, 6.0], [1.0, 3.0, 0.75]])


def make_dict():
    return Dict({"pos": Box(-1.0, 1.0, shape=(2,)), "act": Discrete(3)})


def make_tuple():
    return Tuple([Discrete(2), Box(0.0, 1.0, shape=(1,)), MultiBinary(2)])


# name -> (space, mask); every entry is sampled NUM_SAMPLES times in one compile.
CASES = {
    "discrete": (Discrete(5), None),
    "discrete_masked": (Discrete(5), jnp.array([True, False, True, False, True])),
    "discrete_single": (Discrete(4), jnp.array([False, False, True, False])),
    "box": (Box(BOX_LOW, BOX_HIGH), None),
    "box_half": (
        Box(np.array([0.0, -np.inf, -np.inf]), np.array([np.inf, 1.0, np.inf])),
        None,
    ),
    "box_big": (Box(-BIG, BIG, shape=(3,)), None),
    "multi_discrete": (MultiDiscrete((2, 3, 5)), None),
    # Entry 0 may be 0 or 2 (not 1); entry 1 must be 1.
    "multi_discrete_masked": (
        MultiDiscrete([3, 2]),
        jnp.array([True, False, True, False, True]),
    ),
    "multi_binary": (MultiBinary(3), None),
    "multi_binary_masked": (
        MultiBinary(3),
        jnp.array([[True, False], [False, True], [True, True]]),
    ),
    "dict": (make_dict(), None),
    "dict_masked": (make_dict(), {"act": jnp.array([False, True, False])}),
    "tuple_masked": (make_tuple(), (jnp.array([False, True]), None, None)),
}


@pytest.fixture(scope="module")
def samples():
    """`NUM_SAMPLES` draws of every case, under one jit + vmap, as NumPy."""

    @functools.partial(jax.jit, compiler_options=FAST_COMPILE)
    def draw_all(keys):
        return {
            name: jax.vmap(lambda k, s=space, m=mask: s.sample(key=k, mask=m))(keys)
            for name, (space, mask) in CASES.items()
        }

    keys = jax.random.split(jax.random.key(0), NUM_SAMPLES)
    return jax.tree.map(np.asarray, draw_all(keys))


# ----------------------------------------------------------------------------
# Discrete


def test_discrete_samples_cover_range_uniformly(samples):
    x = samples["discrete"]
    assert x.shape == (NUM_SAMPLES,)
    assert x.dtype == np.int32
    assert x.min() >= 0 and x.max() <= 4
    freq = np.bincount(x, minlength=5) / NUM_SAMPLES
    np.testing.assert_allclose(freq, np.full(5, 0.2), atol=0.03)


def test_discrete_mask_is_honoured(samples):
    # Mask: [True, False, True, False, True].
    x = samples["discrete_masked"]
    freq = np.bincount(x, minlength=5) / NUM_SAMPLES
    assert freq[1] == 0 and freq[3] == 0
    np.testing.assert_allclose(freq[[0, 2, 4]], np.full(3, 1 / 3), atol=0.03)


def test_discrete_single_allowed_choice_is_always_drawn(samples):
    x = samples["discrete_single"]
    assert (x == 2).all()


def test_discrete_contains():
    space = Discrete(3)
    for value in (0, 2, jnp.int32(1), np.int64(2)):
        assert bool(space.contains(value)), value
    for value in (-1, 3, 0.5, jnp.array([0]), jnp.zeros((2, 2), jnp.int32)):
        assert not bool(space.contains(value)), value


def test_discrete_flatten_is_one_hot():
    space = Discrete(4)
    for value in range(4):
        np.testing.assert_array_equal(space.flatten(value), np.eye(4)[value])
    assert space.flat_size == 4


@pytest.mark.parametrize("n", [0, -2, 2.5, True, "3"])
def test_discrete_rejects_bad_n(n):
    with pytest.raises((ValueError, TypeError), match="n"):
        Discrete(n)


def test_discrete_rejects_mask_of_wrong_shape():
    with pytest.raises(ValueError, match="mask"):
        Discrete(3).sample(key=jax.random.key(0), mask=jnp.ones(4, bool))


# ----------------------------------------------------------------------------
# Box


def test_box_samples_lie_in_bounds(samples):
    low, high = BOX_LOW, BOX_HIGH
    x = samples["box"]
    assert x.shape == (NUM_SAMPLES, 2, 3)
    assert x.dtype == np.float32
    assert (x >= low.astype(np.float32)).all() and (x <= high.astype(np.float32)).all()
    # Uniform on bounded dimensions: the mean is the midpoint.
    np.testing.assert_allclose(x.mean(0), (low + high) / 2, atol=0.15)


def test_box_half_and_unbounded_dimensions(samples):
    # low = [0, -inf, -inf], high = [inf, 1, inf].
    x = samples["box_half"]
    assert np.isfinite(x).all()
    assert (x[:, 0] >= 0).all() and (x[:, 1] <= 1).all()
    # The unbounded dimension is not confined to one side.
    assert (x[:, 2] < 0).any() and (x[:, 2] > 0).any()


def test_box_with_bounds_at_float32_limits_samples_finite_values(samples):
    x = samples["box_big"]
    assert np.isfinite(x).all()
    assert (x < 0).any() and (x > 0).any()


def test_box_scalar_bounds_broadcast_to_shape():
    space = Box(-1.0, 2.0, shape=(2, 2))
    assert space.shape == (2, 2)
    np.testing.assert_array_equal(space.low, np.full((2, 2), -1.0))
    np.testing.assert_array_equal(space.high, np.full((2, 2), 2.0))
    assert space.flat_size == 4


def test_box_contains():
    space = Box(np.array([0.0, -1.0]), np.array([1.0, 1.0]))
    assert bool(space.contains(jnp.array([0.0, -1.0])))
    assert bool(space.contains(jnp.array([1.0, 1.0])))
    assert bool(space.contains(jnp.array([0.5, 0.0])))
    assert not bool(space.contains(jnp.array([1.01, 0.0])))
    assert not bool(space.contains(jnp.array([0.5, -1.5])))
    assert not bool(space.contains(jnp.array([0.5, jnp.nan])))
    assert not bool(space.contains(jnp.array([0.5, 0.0, 0.0])))
    assert not bool(space.contains(jnp.array(0.5)))


def test_box_flatten_is_ravel():
    space = Box(-5.0, 5.0, shape=(2, 3))
    x = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
    flat = space.flatten(jnp.asarray(x))
    np.testing.assert_array_equal(flat, x.ravel())
    assert flat.dtype == jnp.float32


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"low": 1.0, "high": 0.0, "shape": (2,)}, "low > high"),
        ({"low": np.zeros(3), "high": 1.0, "shape": (2,)}, "low"),
        ({"low": 0.0, "high": np.ones(3), "shape": (2,)}, "high"),
        ({"low": np.zeros(2), "high": np.ones(3)}, "low"),
        ({"low": np.nan, "high": 1.0, "shape": (1,)}, "NaN"),
        ({"low": 0, "high": 1, "shape": (1,), "dtype": jnp.int32}, "dtype"),
    ],
)
def test_box_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Box(**kwargs)


def test_box_rejects_a_mask():
    with pytest.raises(ValueError, match="mask"):
        Box(0.0, 1.0, shape=(1,)).sample(key=jax.random.key(0), mask=jnp.ones(1))


# ----------------------------------------------------------------------------
# MultiDiscrete


def test_multi_discrete_samples_cover_each_range(samples):
    nvec = (2, 3, 5)
    x = samples["multi_discrete"]
    assert x.shape == (NUM_SAMPLES, 3)
    assert x.dtype == np.int32
    for i, n in enumerate(nvec):
        freq = np.bincount(x[:, i], minlength=n) / NUM_SAMPLES
        assert len(freq) == n  # no value >= n
        np.testing.assert_allclose(freq, np.full(n, 1 / n), atol=0.03)
    assert (x >= 0).all()


def test_multi_discrete_mask_is_honoured(samples):
    # Mask [T, F, T | F, T]: entry 0 may be 0 or 2 (not 1); entry 1 must be 1.
    x = samples["multi_discrete_masked"]
    freq0 = np.bincount(x[:, 0], minlength=3) / NUM_SAMPLES
    assert freq0[1] == 0
    np.testing.assert_allclose(freq0[[0, 2]], [0.5, 0.5], atol=0.03)
    assert (x[:, 1] == 1).all()


def test_multi_discrete_contains():
    space = MultiDiscrete([2, 3])
    assert bool(space.contains(jnp.array([1, 2])))
    assert bool(space.contains(jnp.array([0, 0])))
    assert not bool(space.contains(jnp.array([2, 0])))
    assert not bool(space.contains(jnp.array([0, 3])))
    assert not bool(space.contains(jnp.array([-1, 0])))
    assert not bool(space.contains(jnp.array([0.5, 1.0])))
    assert not bool(space.contains(jnp.array([0, 1, 0])))


def test_multi_discrete_flatten_is_concatenated_one_hot():
    nvec = (2, 3, 4)
    space = MultiDiscrete(nvec)
    x = np.array([1, 0, 3])
    expected = np.concatenate([np.eye(n)[v] for n, v in zip(nvec, x, strict=True)])
    np.testing.assert_array_equal(space.flatten(jnp.asarray(x)), expected)
    assert space.flat_size == 9


@pytest.mark.parametrize("nvec", [[], [2, 0], [3, -1]])
def test_multi_discrete_rejects_bad_nvec(nvec):
    with pytest.raises(ValueError, match="nvec"):
        MultiDiscrete(nvec)


# ----------------------------------------------------------------------------
# MultiBinary


def test_multi_binary_samples_are_fair_bits(samples):
    x = samples["multi_binary"]
    assert x.shape == (NUM_SAMPLES, 3)
    assert set(np.unique(x)) <= {0, 1}
    np.testing.assert_allclose(x.mean(0), np.full(3, 0.5), atol=0.03)


def test_multi_binary_mask_is_honoured(samples):
    # Mask [[T, F], [F, T], [T, T]]: entry 0 is 0, entry 1 is 1, entry 2 free.
    x = samples["multi_binary_masked"]
    assert (x[:, 0] == 0).all()
    assert (x[:, 1] == 1).all()
    np.testing.assert_allclose(x[:, 2].mean(), 0.5, atol=0.03)


def test_multi_binary_contains_and_flatten():
    space = MultiBinary(3)
    assert bool(space.contains(jnp.array([0, 1, 1])))
    assert not bool(space.contains(jnp.array([0, 2, 1])))
    assert not bool(space.contains(jnp.array([0, 1])))
    np.testing.assert_array_equal(
        space.flatten(jnp.array([1, 0, 1])), np.array([1.0, 0.0, 1.0])
    )
    assert space.flat_size == 3


@pytest.mark.parametrize("n", [0, -1, 1.5])
def test_multi_binary_rejects_bad_n(n):
    with pytest.raises(ValueError, match="n"):
        MultiBinary(n)


# ----------------------------------------------------------------------------
# Dict and Tuple


def test_dict_samples_each_entry_in_its_space(samples):
    x = samples["dict"]
    assert set(x) == {"pos", "act"}
    assert x["pos"].shape == (NUM_SAMPLES, 2) and (np.abs(x["pos"]) <= 1).all()
    assert set(np.unique(x["act"])) == {0, 1, 2}


def test_dict_masks_are_passed_to_entries(samples):
    x = samples["dict_masked"]
    assert (x["act"] == 1).all()


def test_dict_rejects_unknown_mask_key():
    with pytest.raises(ValueError, match="nope"):
        make_dict().sample(key=jax.random.key(0), mask={"nope": jnp.ones(3, bool)})


def test_dict_contains():
    space = make_dict()
    good = {"pos": jnp.array([0.0, 0.5]), "act": jnp.int32(2)}
    assert bool(space.contains(good))
    assert not bool(space.contains({"pos": jnp.array([0.0, 2.0]), "act": 2}))
    assert not bool(space.contains({"pos": jnp.array([0.0, 0.5]), "act": 3}))
    assert not bool(space.contains({"pos": jnp.array([0.0, 0.5])}))
    assert not bool(space.contains((good["pos"], good["act"])))


def test_dict_flatten_concatenates_in_sorted_key_order():
    space = make_dict()
    x = {"pos": jnp.array([0.25, -0.5]), "act": jnp.int32(1)}
    # "act" sorts before "pos".
    expected = np.concatenate([np.eye(3)[1], [0.25, -0.5]])
    np.testing.assert_array_equal(space.flatten(x), expected)
    assert space.flat_size == 5


def test_tuple_samples_contains_and_flatten(samples):
    space = make_tuple()
    x = samples["tuple_masked"]
    assert (x[0] == 1).all()
    assert ((x[1] >= 0) & (x[1] <= 1)).all()
    assert set(np.unique(x[2])) <= {0, 1}
    element = (jnp.int32(1), jnp.array([0.5]), jnp.array([1, 0]))
    assert bool(space.contains(element))
    assert not bool(space.contains(element[:2]))
    assert not bool(space.contains((jnp.int32(2), element[1], element[2])))
    expected = np.concatenate([np.eye(2)[1], [0.5], [1.0, 0.0]])
    np.testing.assert_array_equal(space.flatten(element), expected)
    assert space.flat_size == 5


def test_tuple_rejects_mask_of_wrong_length():
    with pytest.raises(ValueError, match="mask"):
        Tuple([Discrete(2)]).sample(key=jax.random.key(0), mask=(None, None))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Dict({}), "spaces"),
        (lambda: Dict({"a": Discrete(2), "b": 3}), "'b'"),
        (lambda: Tuple([]), "spaces"),
        (lambda: Tuple([Discrete(2), "x"]), "1"),
    ],
)
def test_composite_spaces_reject_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ----------------------------------------------------------------------------
# Shared behaviour: validate, jit and vmap

ALL_SPACES = {
    "discrete": Discrete(4),
    "box": Box(-1.0, 1.0, shape=(2, 2)),
    "multi_discrete": MultiDiscrete([2, 3]),
    "multi_binary": MultiBinary(3),
    "dict": make_dict(),
    "tuple": make_tuple(),
}


@pytest.fixture(scope="module")
def jitted_checks():
    """Contains and flatten of fresh samples of every space, in one compile."""

    @functools.partial(eqx.filter_jit, compiler_options=FAST_COMPILE)
    def check(spaces, keys):
        out = {}
        for name, space in spaces.items():
            drawn = jax.vmap(lambda k, s=space: s.sample(key=k))(keys)
            out[name] = (
                jax.vmap(space.contains)(drawn),
                jax.vmap(space.flatten)(drawn),
            )
        return out

    # The spaces are passed through the jit boundary as pytree arguments.
    return check(ALL_SPACES, jax.random.split(jax.random.key(1), 64))


@pytest.mark.parametrize("name", sorted(ALL_SPACES))
def test_samples_are_contained_and_flatten_to_flat_size_under_jit_vmap(
    name, jitted_checks
):
    contained, flat = jitted_checks[name]
    assert np.asarray(contained).all()
    assert flat.shape == (64, ALL_SPACES[name].flat_size)
    assert flat.dtype == jnp.float32


@pytest.mark.parametrize("name", sorted(ALL_SPACES))
def test_validate_accepts_samples_and_rejects_wrong_shapes(name):
    space = ALL_SPACES[name]
    # Elements built from shapes alone: no eager sampling to compile.
    example = jax.eval_shape(lambda: space.sample(key=jax.random.key(0)))
    good = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), example)
    space.validate(good, name="thing")
    wrong = jax.tree.map(lambda x: jnp.zeros(x.shape + (7,), x.dtype), example)
    with pytest.raises(ValueError, match="thing"):
        space.validate(wrong, name="thing")


def test_validate_rejects_wrong_structure():
    with pytest.raises(ValueError, match="obs"):
        make_dict().validate({"pos": jnp.zeros(2)}, name="obs")
