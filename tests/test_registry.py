"""The registry (``get_loss``, ``available_losses``, ``loss_class``) and MONAI config-resolver compatibility."""

from __future__ import annotations

import inspect
import sys

import pytest
import torch

import monai_segloss
from monai_segloss import available_losses, get_loss, loss_class

REGION = {"dice": "SegDiceLoss", "jaccard": "JaccardLoss", "generalized_dice": "SegGeneralizedDiceLoss",
          "tversky": "SegTverskyLoss", "focal_tversky": "FocalTverskyLoss", "log_cosh_dice": "LogCoshDiceLoss",
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
        if key == "dice_ce":  # no activation given: it names the fix (MONAI's cross-entropy reads logits)
            with pytest.warns(UserWarning, match="pass softmax=True"):
                assert isinstance(get_loss(key), torch.nn.Module), key
        else:
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
    from monai_segloss.losses.registry import register_loss

    with pytest.raises(ValueError, match="already registered"):
        register_loss("dice")(type("OtherDice", (torch.nn.Module,), {}))
    assert loss_class("dice") is monai_segloss.SegDiceLoss


def test_no_exported_name_collides_with_monai_losses():
    """MONAI's config resolver looks short names up in every "monai*" module and silently takes the first on a
    clash: no class or function we export may share a name with one of ``monai.losses``."""
    import monai.losses

    ours = set(monai_segloss.__all__) | set(monai_segloss.losses.__all__) | set(monai_segloss.functional.__all__)
    theirs = {n for n, obj in vars(monai.losses).items()
              if not n.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))}
    assert "DiceLoss" in theirs and "TverskyLoss" in theirs
    clashes = sorted(ours & theirs)
    assert not clashes, f"names shared with monai.losses: {clashes}"


def test_every_exported_class_is_a_loss_module_with_a_key():
    classes = _exported_classes()
    assert set(REGION.values()) <= set(classes)
    registered = {loss_class(k) for k in available_losses()}
    for name, cls in classes.items():
        if issubclass(cls, torch.nn.Module) and cls in registered:
            assert cls.__doc__ and len(cls.__doc__.strip()) > 40, f"{name} has no docstring"
    for name in REGION.values():
        assert "Args:" in classes[name].__doc__ and "reduction" in classes[name].__doc__, name


def test_component_locator_resolves_every_class_to_one_module_of_ours():
    """A fresh ``ComponentLocator`` (after ``import monai_segloss``: it scans every loaded module whose name starts
    with "monai", ours included) resolves each exported class by its short name to exactly one module, ours; a
    bundle config can then name a loss by its short name."""
    from monai.bundle import ComponentLocator, ConfigParser

    locator = ComponentLocator()
    classes = _exported_classes()
    assert set(REGION.values()) <= set(classes)
    for name, cls in classes.items():
        module = locator.get_component_module_name(name)
        assert isinstance(module, str), f"{name} resolves to several modules: {module}"
        assert module.startswith("monai_segloss"), f"{name} resolves to {module}"
        assert getattr(sys.modules[module], name) is cls
    parser = ConfigParser({"loss": {"_target_": "SegTverskyLoss", "alpha": 0.2, "beta": 0.8, "softmax": True}})
    loss = parser.get_parsed_content("loss")
    assert type(loss) is monai_segloss.SegTverskyLoss
    assert loss.options.alpha == 0.2 and loss.options.softmax
