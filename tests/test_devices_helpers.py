"""resolve_device and check_device: the device helpers every chapter and function uses."""
import pytest
import torch

from patterning_core.devices import DeviceMismatchError, check_device, resolve_device


def test_auto_is_cuda_exactly_when_available():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised where CUDA is absent")
def test_cuda_without_cuda_is_refused_by_name():
    with pytest.raises(ValueError, match="cuda.*is_available"):
        resolve_device("cuda")


def test_mismatch_names_both_devices():
    check_device("data[0]", torch.device("cpu"), torch.device("cpu"))
    with pytest.raises(DeviceMismatchError, match=r"data\[0\] is on cpu but the model is on meta"):
        check_device("data[0]", torch.device("cpu"), torch.device("meta"))
