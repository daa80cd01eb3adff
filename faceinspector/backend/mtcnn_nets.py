"""MTCNN's P-, R- and O-Net as torch modules, without facenet-pytorch's package import.

``import facenet_pytorch`` loads torchvision (1-3 s at start-up, issue 18) for its image
utilities; the three networks need none of it. These are the same layers with the same
parameter names, so facenet-pytorch's state dicts (the verified ``facenet-pytorch`` pack:
``pnet.pt``, ``rnet.pt``, ``onet.pt``) load into them unchanged (``strict=True``) and they
compute the same numbers. Outputs, as facenet-pytorch's:

* P-Net (N, 3, H, W) -> box offsets (N, 4, h, w), face probabilities (N, 2, h, w);
* R-Net (N, 3, 24, 24) -> box offsets (N, 4), probabilities (N, 2);
* O-Net (N, 3, 48, 48) -> box offsets (N, 4), landmarks (N, 10: x1..x5, y1..y5),
  probabilities (N, 2).

:mod:`faceinspector.backend.detect` loads them (torch engine) or exports them once to ONNX
(:func:`faceinspector.backend.onnx_export.cached_export`) and runs the exports without torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

class PNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.softmax4_1 = nn.Softmax(dim=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)

    def forward(self, x: torch.Tensor):
        x = self.prelu1(self.conv1(x))
        x = self.pool1(x)
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), self.softmax4_1(self.conv4_1(x))


class RNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.softmax5_1 = nn.Softmax(dim=1)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor):
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        x = x.permute(0, 3, 2, 1).contiguous()  # the Caffe weights flatten W, H, C
        x = self.prelu4(self.dense4(x.view(x.shape[0], -1)))
        return self.dense5_2(x), self.softmax5_1(self.dense5_1(x))


class ONet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.softmax6_1 = nn.Softmax(dim=1)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor):
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = x.permute(0, 3, 2, 1).contiguous()
        x = self.prelu5(self.dense5(x.view(x.shape[0], -1)))
        return self.dense6_2(x), self.dense6_3(x), self.softmax6_1(self.dense6_1(x))


CLASSES = {"pnet": PNet, "rnet": RNet, "onet": ONet}


def load_net(name: str, path: Path) -> nn.Module:
    """One of "pnet", "rnet", "onet" with its weights (``weights_only`` load), in eval mode."""
    net = CLASSES[name]()
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def export_examples(name: str) -> tuple[list[np.ndarray], dict[int, str]]:
    """Inputs the export of ``name`` is traced and checked on, and its dynamic axes."""
    rng = np.random.default_rng(0)
    if name == "pnet":
        shapes = [(2, 3, 61, 83), (1, 3, 150, 150), (3, 3, 12, 12)]
        dynamic = {0: "n", 2: "h", 3: "w"}
    else:
        side = 24 if name == "rnet" else 48
        shapes = [(5, 3, side, side), (1, 3, side, side)]
        dynamic = {0: "n"}
    return [rng.uniform(-1, 1, s).astype(np.float32) for s in shapes], dynamic


__all__ = ["CLASSES", "ONet", "PNet", "RNet", "export_examples", "load_net"]
