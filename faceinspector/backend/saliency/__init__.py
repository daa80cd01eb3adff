"""Where the model looks (issue 19): class and similarity saliency, occlusion for any model, and
layer feature maps that move with the probe.

Everything is computed on the crop the model sees (:func:`~.align.resolve_chip`, the one chip
rule), optionally moved by a probe transform ``(dx, dy, angle, scale)`` in that model's crop
pixels (so a Probe pane's map follows its sliders), and returned as a frozen dataclass of numpy
arrays. Each call is one forward (+ one backward) pass of one chip, or one batch for occlusion:

* :func:`class_saliency` -- ``"gradcam"``, ``"gradcampp"`` (Grad-CAM++) and ``"eigencam"``
  (gradient-free, class-agnostic) through the grad-cam library on the torch network (never ONNX
  Runtime: gradients), and ``"occlusion"`` for any model, ONNX included: the Δ of the target's
  score when each patch of a grid is filled with the crop's mean colour, all patches in one
  batch through :meth:`Backend.run_model` (whatever engine runs the model). A model without
  reachable layers (ONNX, a TorchScript file that is not an ``nn.Sequential``) and an embedder
  asked for a class map fall back to occlusion; :attr:`Saliency.note` says so.
* :func:`similarity_saliency` / :func:`pair_saliency` / :func:`pair_saliency_task` -- for an
  embedder: which regions of A make it close to B (target: cosine similarity to B's embedding)
  or far from it (``mode="dissimilar"``).
* :func:`feature_maps` -- one layer's channels for one (moved) crop, ordered by mean activation;
  :func:`equivariance` says how far they moved between two probe positions.
* :func:`explain_faces` -- the task behind ``faceinspector explain``.

Modules: :mod:`.maps` (class maps, occlusion), :mod:`.pairs` (similarity), :mod:`.features`
(feature maps), :mod:`.results` (the dataclasses), :mod:`.cam` (the torch side: layers, hooks,
grad-cam), :mod:`.heatmap` (numpy: colours, overlays, peak, face-box mass).

For the panes (run everything on a worker lane; results are plain numpy):

* Crops / Predictions: ``class_saliency(backend, photo, face, model_id, method, target=c)``
  for the aligned crop and with ``template="raw"`` for the raw one (the same chips the panes
  show); ``Saliency.overlay(alpha)`` or :func:`heatmap.overlay` for the opacity slider (cheap:
  blend the returned ``map`` over ``crop``); :func:`info` fills the method and layer menus.
* Probe: the same call with ``transform=(dx * unit, dy * unit, angle, scale)`` (the model's own
  crop px, as ``probe.probe_live`` moves each model); ``feature_maps(..., transform=...)`` with
  the first call's ``channels`` and ``ranges`` while a slider moves, and :func:`equivariance`.
* Triplets / Verification: :func:`pair_saliency_task` over the hardest pairs (paths, FaceRefs or
  ``(photo, face)``), "dissimilar" for same-person pairs, "similar" for different people;
  ``Saliency.overlay(alpha, side=48)`` makes a thumbnail on the worker.
* Call :func:`preload` on the backend's lane early: the first grad-cam import takes seconds and
  holds the GIL for up to ~0.35 s at a time.

A class map's target is the class's logit up to softmax's free shift (its log-probability minus
the mean over classes): a probability saturates near 1 and its gradient vanishes. Importing this
module loads neither torch nor grad-cam; :func:`preload` does (on a worker, before the first map).
"""

from __future__ import annotations

from . import heatmap
from .features import equivariance, feature_maps
from .heatmap import overlay
from .maps import (class_index, class_saliency, explain_faces, info, occlusion, occlusion_steps,
                   preload)
from .pairs import pair_saliency, pair_saliency_task, similarity_saliency
from .results import (METHODS, MODES, TITLES, Equivariance, Explained, FeatureMaps,
                      PairSaliency, Saliency, SaliencyInfo)

__all__ = ["METHODS", "MODES", "TITLES", "Equivariance", "Explained", "FeatureMaps",
           "PairSaliency", "Saliency", "SaliencyInfo", "class_index", "class_saliency",
           "equivariance",
           "explain_faces", "feature_maps", "heatmap", "info", "occlusion", "occlusion_steps",
           "overlay", "pair_saliency", "pair_saliency_task", "preload", "similarity_saliency"]
