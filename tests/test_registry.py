"""The registry (``get_loss``, ``available_losses``, ``loss_class``) and MONAI config-resolver compatibility."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest
import torch

import monai_segloss
from monai_segloss import available_losses, get_loss, loss_class

REGION = {"dice": "SoftDiceLoss", "jaccard": "SoftJaccardLoss", "generalized_dice": "SoftGeneralizedDiceLoss",
          "tversky": "SoftTverskyLoss", "focal_tversky": "FocalTverskyLoss", "log_cosh_dice": "LogCoshDiceLoss",
          "sensitivity_specificity": "SensitivitySpecificityLoss"}


def _exported_classes() -> dict[str, type]:
    return {n: getattr(monai_segloss, n) for n in monai_segloss.__all__ if inspect.isclass(getattr(monai_segloss, n))}


def test_available_losses_is_sorted_and_holds_the_region_keys():
    keys = available_losses()
    assert keys == sorted(keys) and len(keys) == len(set(keys))
    assert set(REGION) <= set(keys)


@pytest.mark.parametrize("key,name", sorted(REGION.items()))
def test_get_loss_builds_the_registered_class(key, name):
    loss = get_loss(key)
    assert type(loss) is getattr(monai_segloss, name) is loss_class(key)
    assert isinstance(loss, torch.nn.Module)
    assert type(loss).registry_key == key
    configured = get_loss(key, softmax=True, to_onehot_y=True, reduction="sum")
    assert configured.options.softmax and configured.options.reduction == "sum"
    x = torch.randn(2, 3, 4, 4)
    y = torch.randint(0, 3, (2, 1, 4, 4))
    assert configured(x, y).shape == ()


def test_every_key_builds_with_defaults():
    for key in available_losses():
        assert isinstance(get_loss(key), torch.nn.Module), key
        assert loss_class(key).registry_key == key


def test_unknown_key_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown loss key 'dicee'") as info:
        get_loss("dicee")
    for key in available_losses():
        assert repr(key) in str(info.value)
    with pytest.raises(ValueError, match="available losses"):
        loss_class(3)


@pytest.mark.parametrize("key", sorted(REGION))
def test_unknown_keyword_lists_the_valid_ones(key):
    with pytest.raises(ValueError, match=r"unexpected keyword argument\(s\) \['softmx'\]") as info:
        get_loss(key, softmx=True)
    assert "'softmax'" in str(info.value) and "'reduction'" in str(info.value)


def test_register_loss_rejects_a_second_class_for_a_key():
    from monai_segloss.registry import register_loss

    with pytest.raises(ValueError, match="already registered"):
        register_loss("dice")(type("OtherDice", (torch.nn.Module,), {}))
    assert loss_class("dice") is monai_segloss.SoftDiceLoss


def test_no_exported_name_collides_with_monai_losses():
    import monai.losses

    ours = set(monai_segloss.__all__) | set(dir(monai_segloss.losses)) | set(dir(monai_segloss.functional))
    theirs = {n for n in dir(monai.losses) if not n.startswith("_")}
    public_ours = {n for n in ours if not n.startswith("_")}
    clashes = sorted(public_ours & theirs - {"annotations"})
    assert not clashes, f"names shared with monai.losses: {clashes}"


def test_every_exported_class_is_a_loss_module_with_a_key():
    classes = _exported_classes()
    assert set(REGION.values()) <= set(classes)
    registered = {loss_class(k) for k in available_losses()}
    for name, cls in classes.items():
        if issubclass(cls, torch.nn.Module) and cls in registered:
            assert cls.__doc__ and "Args:" in cls.__doc__, name


_LOCATOR_SCRIPT = r"""
import json, inspect, sys
import monai
import monai_segloss
from monai.bundle import ComponentLocator
from monai.bundle.config_parser import ConfigParser

loc = ComponentLocator()
names = [n for n in monai_segloss.__all__ if inspect.isclass(getattr(monai_segloss, n))]
found = {n: loc.get_component_module_name(n) for n in names}
parser = ConfigParser({"loss": {"_target_": "SoftTverskyLoss", "alpha": 0.2, "beta": 0.8, "softmax": True}})
loss = parser.get_parsed_content("loss")
print(json.dumps({"found": found, "built": type(loss).__module__ + "." + type(loss).__name__,
                  "alpha": loss.options.alpha}))
"""


def test_component_locator_resolves_every_class_to_one_module_of_ours():
    """A fresh process (so that nothing else is imported) resolves each exported class by its short name to exactly
    one module, ours; a bundle config can then name a loss by its short name."""
    import json

    out = subprocess.run([sys.executable, "-c", _LOCATOR_SCRIPT], capture_output=True, text=True, timeout=300,
                         check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(REGION.values()) <= set(result["found"])
    for name, module in result["found"].items():
        assert isinstance(module, str), f"{name} resolves to several modules: {module}"
        assert module.startswith("monai_segloss"), f"{name} resolves to {module}"
        assert getattr(__import__(module, fromlist=[name]), name) is getattr(monai_segloss, name)
    assert result["built"] == "monai_segloss.losses.region.SoftTverskyLoss"
    assert result["alpha"] == 0.2
