import pytest

from se3t_calc import ModelConfig


@pytest.mark.parametrize(
    "field,value",
    [
        ("species", []),
        ("species", ["H", "Xx"]),
        ("species", ["H", "H"]),
        ("r_cut", -1.0),
        ("r_min", 6.0),
        ("hidden_irreps", "8x1o"),
        ("hidden_irreps", "8x0e+4x1e"),
        ("hidden_irreps", "not irreps"),
        ("num_heads", 0),
        ("radial_layers", 0),
        ("invariant", "sqrt"),
        ("lmax", 9),
        ("product_last", True),  # without product_channels
        ("product_depth", 0),
        ("product_depth", 2),  # without product_channels
        ("attention_hidden", -1),
        ("convolution", "escn"),
    ],
)
def test_bad_field_is_named(field, value):
    settings = {"species": ["H", "C"], field: value}
    with pytest.raises(ValueError, match=f"ModelConfig.{field}"):
        ModelConfig(**settings)


def test_mixed_heads_split_in_half():
    config = ModelConfig(species=["H"], num_heads=4, invariant="mixed")
    assert config.head_invariants == ("r", "r", "inverse", "inverse")


def test_dict_round_trip_and_unknown_field():
    config = ModelConfig(species=["H", "O"], r_cut=4.5)
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match=r"unknown field.*'cutoff'"):
        ModelConfig.from_dict({**config.to_dict(), "cutoff": 3.0})
