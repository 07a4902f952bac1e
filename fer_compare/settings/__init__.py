"""The settings: parameters.json's keys as typed, frozen dataclasses, and the loader that checks them."""

from .loader import (
                     default_parameters_json,
                     input_settings_mismatch,
                     load_config,
                     parse_override,
                     save_config,
                     updated,
)
from .recipes import DEFAULTS, describe_keys
from .schema import (
                     AugmentSettings,
                     CnnHyper,
                     FloorSettings,
                     GradientFnnHyper,
                     LandmarkFnnHyper,
                     ModelHyper,
                     NetworkSettings,
                     Settings,
)

__all__ = [
    "DEFAULTS", "AugmentSettings", "CnnHyper", "FloorSettings", "GradientFnnHyper", "LandmarkFnnHyper", "ModelHyper",
    "NetworkSettings", "Settings", "default_parameters_json", "describe_keys", "input_settings_mismatch",
    "load_config", "parse_override", "save_config", "updated",
]
