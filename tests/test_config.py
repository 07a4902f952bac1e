"""Config: defaults, overrides, and one clear error per mistake."""

from __future__ import annotations

import json

import pytest

from fer_compare.errors import UserError
from fer_compare.settings import DEFAULTS, default_parameters_json, load_config, parse_override


def test_defaults_load_and_every_thesis_key_is_present():
    config = load_config(None)
    for key in ("train_source", "test_source", "raw_source", "formatted", "gradients", "blurred", "aligned",
                "model_to_load", "model_to_save", "align_template", "save", "train", "train_existing_model",
                "format", "align", "gradient", "blur", "test", "video", "learning_rate"):
        assert hasattr(config, key)
    assert config.image.size == [100, 100]
    assert config.nn.input == [70, 70]


def test_repository_parameters_json_equals_defaults(tmp_path):
    from conftest import ROOT

    assert (ROOT / "parameters.json").read_text() == default_parameters_json()  # regenerate with that function
    assert json.loads((ROOT / "parameters.json").read_text()) == json.loads(json.dumps(DEFAULTS))


def test_overrides_parse_json_or_string():
    assert parse_override("format=true") == (["format"], True)
    assert parse_override("image.size=[64,64]") == (["image", "size"], [64, 64])
    assert parse_override("raw_source=/data/rafd") == (["raw_source"], "/data/rafd")
    config = load_config(None, ["image.size=[64,64]", "nn.cnn.max_epochs=3", "raw_source=/x"])
    assert config.image.size == [64, 64] and config.nn.cnn.max_epochs == 3
    assert config.raw_source == "/x"


def test_model_learning_rate_falls_back_to_the_thesis_key():
    config = load_config(None, ["learning_rate=0.001", "nn.landmark_fnn.learning_rate=0.01"])
    assert config.hyper("cnn").learning_rate == 0.001
    assert config.hyper("landmark_fnn").learning_rate == 0.01


@pytest.mark.parametrize("text, message", [
    ('{"raw_sorce": "x"}', "did you mean 'raw_source'"),
    ('{"image": {"sise": [1, 2]}}', "did you mean 'image.size'"),
    ('{"train": "yes"}', "train: expected true or false"),
    ('{"learning_rate": "fast"}', "learning_rate: expected a number"),
    ('{"image": {"size": [100]}}', "image.size: expected 2 numbers"),
    ('{"models": ["cnn", "lendmark_fnn"]}', "did you mean 'landmark_fnn'"),
    ('{"split": {"method": "subjects"}}', "split.method"),
    ('{"train_source": "a"}', "train_source and test_source go together"),
    ('{"nn": {"cnn": {"dropout": 1.5}}}', "nn.cnn.dropout"),
    ('{"models": ["cnn", "cnn"]}', "models: 'cnn' is listed twice"),
    ('{"nn": {"cnn": {"filters": []}}}', "nn.cnn.filters: expected one or more conv layer widths"),
    ('{"nn": {"cnn": {"hidden": [128]}}}', "nn.cnn.hidden: expected two sizes"),
    ('{"nn": {"landmark_fnn": {"hidden": [1024, 10.5]}}}', "nn.landmark_fnn.hidden: expected two sizes"),
    ('{"nn": {"cnn": {"kernel_size": 0}}}', "nn.cnn.kernel_size: expected 1 or more"),
    ('{"nn": {"cnn": {"batch_norm_momentum": 2}}}', "nn.cnn.batch_norm_momentum"),
    ('{"nn": {"gradient_fnn": {"l2": -1}}}', "nn.gradient_fnn.l2: expected 0 or more"),
    ('{"stopping": {"check_every": 0}}', "stopping: check_every must be 1 or more"),
    ('{"split": {"seed": -1}}', "split.seed: expected 0 or a positive whole number"),
    ('{"detection": {"scale_factor": 1.0}}', "detection: scale_factor must be above 1"),
    ('{"run_name": "a/b"}', "run_name: expected a plain name"),
    ('{"image": {"size": [5, 5]}}', "image.size: expected at least 8 x 8 pixels"),
    ('{"landmark_model": "no/such/shape_predictor.dat"}', "landmark_model: no/such/shape_predictor.dat does not exist"),
])
def test_mistakes_are_named_by_key(tmp_path, text, message):
    path = tmp_path / "p.json"
    path.write_text(text)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_config(path)


def test_not_json_and_trailing_comma(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('{"train": true,}')
    with pytest.raises(UserError, match=r"p.json: not valid JSON \(line 1"):
        load_config(path)
    with pytest.raises(UserError, match="no such config file"):
        load_config(tmp_path / "missing.json")


def test_input_settings_name_the_first_difference_and_ignore_older_models():
    from fer_compare.settings import input_settings_mismatch

    trained = load_config(None, []).input_record("gradient_fnn")
    assert trained["gradient_options"] == {"ksize": 5, "negative": "clip"} and "blur_options" not in trained
    assert input_settings_mismatch(trained, load_config(None, []).input_record("gradient_fnn")) is None
    other = load_config(None, ["gradient_options.negative=abs"]).input_record("gradient_fnn")
    assert "gradient_options" in input_settings_mismatch(trained, other)
    assert input_settings_mismatch(None, other) is None  # exported before model.json recorded them
    blurred = load_config(None, ["nn.gradient_fnn.source=blurred"]).input_record("gradient_fnn")
    assert "blur_options" in blurred
    assert set(load_config(None, []).input_record("cnn")) == {"image.size"}


def test_gradient_fnn_without_hidden_layers_is_allowed():
    """No hidden layer makes a softmax regression over the masked Laplacian: a baseline, not a mistake."""
    assert load_config(None, ["nn.gradient_fnn.hidden=[]"]).nn.gradient_fnn.hidden == []


def test_the_thesis_learning_rate_set_by_the_user_is_every_models_rate():
    """The recipe gives landmark_fnn its own rate; a user's `learning_rate` still sets every model's,
    unless the same config sets that model's own rate too."""
    assert load_config(None).hyper("landmark_fnn").learning_rate == 1e-3
    assert load_config(None).hyper("cnn").learning_rate == 1e-4
    both = load_config(None, ["learning_rate=0.05"])
    assert {both.hyper(k).learning_rate for k in ("cnn", "landmark_fnn", "gradient_fnn")} == {0.05}
    own = load_config(None, ["learning_rate=0.05", "nn.landmark_fnn.learning_rate=0.002"])
    assert own.hyper("landmark_fnn").learning_rate == 0.002
    assert own.hyper("cnn").learning_rate == 0.05


def test_a_models_stopping_threshold_falls_back_to_the_shared_one_and_gives_way_to_the_users():
    """The recipe's per-model thresholds; null means stopping.min_increase; the thesis recipe has none;
    a user's stopping.min_increase applies to every model without a threshold of the user's own."""
    models = ("cnn", "landmark_fnn", "gradient_fnn")
    assert [load_config(None).hyper(k).min_increase for k in models] == [0.1, 0.1, 0.03]
    assert [load_config(None, ["recipe=thesis"]).hyper(k).min_increase for k in models] == [0.03] * 3
    shared = load_config(None, ["stopping.min_increase=0.2", "nn.cnn.min_increase=0.5"])
    assert [shared.hyper(k).min_increase for k in models] == [0.5, 0.2, 0.2]
    with pytest.raises(UserError, match=r"nn\.landmark_fnn\.min_increase: expected a number >= 0 or null"):
        load_config(None, ["nn.landmark_fnn.min_increase=-0.1"])


def test_the_weight_average_is_the_cnns_in_the_default_recipe_and_nobodys_in_the_thesis():
    models = ("cnn", "landmark_fnn", "gradient_fnn")
    assert [load_config(None).hyper(k).average_epochs for k in models] == [5.0, 0.0, 0.0]
    assert [load_config(None, ["recipe=thesis"]).hyper(k).average_epochs for k in models] == [0.0] * 3
    # the landmark FNN's dropout: 0.7 chosen on validation loss, 0.5 (the value before) in the thesis recipe
    assert load_config(None).hyper("landmark_fnn").dropout == 0.7
    assert load_config(None, ["recipe=thesis"]).hyper("landmark_fnn").dropout == 0.5
    with pytest.raises(UserError, match=r"nn\.cnn\.average_epochs"):
        load_config(None, ["nn.cnn.average_epochs=-1"])


def test_every_key_is_declared_once_with_help_and_the_settings_are_frozen():
    """The schema's fields are the keys: each has a help line in --help; loaded settings cannot be changed."""
    import dataclasses

    from fer_compare.settings import describe_keys, updated
    from fer_compare.settings.recipes import CHOICES, HELP, flatten

    assert set(HELP) == set(flatten(DEFAULTS)) and all(HELP.values())
    text = describe_keys()
    assert all(f"  {key} = " in text for key in HELP)
    assert CHOICES["nn.gradient_fnn.source"] == {"gradients", "blurred"}
    config = load_config(None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 3
    changed = updated(config, {"nn.cnn.max_epochs": 5, "split.seed": 2})
    assert (changed.nn.cnn.max_epochs, changed.split.seed, config.nn.cnn.max_epochs) == (5, 2, 200)
    with pytest.raises(UserError, match=r"nn\.gradient_fnn\.source: 'other' is not one of"):
        updated(config, {"nn.gradient_fnn.source": "other"})
    with pytest.raises(KeyError):
        config.path("seed")  # not a path key
