"""facenet-pytorch's InceptionResnetV1 (512-D) as a second embedder — when its weights exist.

The VGGFace2 / CASIA-WebFace weights are not on any package registry, so FaceInspector never
downloads them. They are used when found:

1. the file named by ``$FACEINSPECTOR_FACENET_WEIGHTS``;
2. ``<cache>/facenet/20180402-114759-vggface2.pt`` or ``.../20180408-102900-casia-webface.pt``;
3. torch's hub cache, where ``facenet_pytorch.InceptionResnetV1(pretrained=...)`` saves them
   when it is run online (``~/.cache/torch/checkpoints/``).

Otherwise the model is listed as unavailable with that explanation, never a crash. The weights
are a plain state dict, loaded with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .. import assets
from .base import ChipSpec, FaceModel

FILES = {"vggface2": "20180402-114759-vggface2.pt",
         "casia-webface": "20180408-102900-casia-webface.pt"}


def find_weights() -> Path | None:
    env = os.environ.get("FACEINSPECTOR_FACENET_WEIGHTS")
    if env:
        return Path(env).expanduser()
    hub = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "checkpoints"
    for folder in (assets.cache_dir() / "facenet", hub):
        for name in FILES.values():
            if (folder / name).is_file():
                return folder / name
    return None


class FaceNet512(FaceModel):
    id = "facenet-512"
    title = "FaceNet InceptionResnetV1, 512-D (facenet-pytorch)"
    task = "embedding"
    dim = 512  # values per embedding (galleries are checked against it)
    labels = ()
    # facenet-pytorch feeds MTCNN's box crop (no rotation) standardised as (x - 127.5) / 128
    spec = ChipSpec(template="raw", size=(160, 160), mean=(127.5,) * 3, std=(128.0,) * 3)
    licence = "MIT (code); weights: see facenet-pytorch / davidsandberg/facenet"
    source = "facenet-pytorch 2.5.3 InceptionResnetV1"
    # saliency (issue 19): InceptionResnetV1's stages; the last ones are 3x3, repeat_2 is 8x8
    layer_paths = {n: f"net.{n}" for n in (
        "conv2d_2b", "conv2d_4b", "repeat_1", "mixed_6a", "repeat_2", "mixed_7a", "repeat_3",
        "block8")}
    saliency_layer = "repeat_2"

    @classmethod
    def unavailable_reason(cls) -> str:
        p = find_weights()
        if p is None:
            return ("needs InceptionResnetV1 weights (VGGFace2 or CASIA-WebFace), which no package "
                    "registry carries: set FACEINSPECTOR_FACENET_WEIGHTS to the .pt file, or put "
                    f"it in {assets.cache_dir() / 'facenet'}")
        if not p.is_file():
            return f"FACEINSPECTOR_FACENET_WEIGHTS points to {p}, which is not a file"
        return ""

    def __init__(self, device="cpu", weights=None):
        super().__init__(device)
        from facenet_pytorch import InceptionResnetV1

        path = Path(weights) if weights else find_weights()
        if path is None or not path.is_file():
            raise ValueError(f"FaceNet weights unavailable: {self.unavailable_reason()}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValueError(f"{path.name} is not a readable torch state dict: "
                             f"{str(exc).splitlines()[0][:160]}") from exc
        if not isinstance(state, dict):
            raise ValueError(f"{path.name} does not hold a state dict")
        state = {k: v for k, v in state.items() if not k.startswith("logits.")}
        net = InceptionResnetV1(pretrained=None, classify=False)
        missing, unexpected = net.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(f"{path.name} is not an InceptionResnetV1 state dict "
                             f"(missing {len(missing)}, unexpected {len(unexpected)} tensors)")
        self.net = net.eval().to(self.device)

    def modules(self):
        return [self.net]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # already L2-normalised by facenet-pytorch
