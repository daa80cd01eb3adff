"""VAE and DB-VAE on 64x64 face chips: models, latents, data, training, checkpoints, exports.

The design follows the MIT 6.S191 debiasing lab (Amini et al., "Uncovering and Mitigating
Algorithmic Bias through Learned Latent Structure", AIES 2019). Modules:

* :mod:`.model`: :class:`VAE`, :class:`DBVAE`, :func:`build_model` and the losses;
* :mod:`.latent`: :func:`encode`, :func:`decode`, :func:`reconstruct`, :func:`interpolate`,
  :func:`morph`, :func:`traverse`, :func:`face_probability`, :func:`latent_means` (numpy in,
  numpy out);
* :mod:`.resampling`: :func:`resampling_weights`, :func:`summarize_weights`,
  :func:`dims_by_activity` (numpy only);
* :mod:`.data`: :class:`ChipData` from CelebA or a folder (:func:`iter_load_data`, a task),
  :func:`chip_for_face`, :data:`VAE_TEMPLATE`, the chip cache;
* :mod:`.checkpoint`: :func:`save_checkpoint`, :func:`load_checkpoint`,
  :func:`read_metadata`, :func:`default_checkpoint` (the VAE shipped in ``resources/vae``);
* :mod:`.training`: :class:`TrainConfig` and :func:`train`, a task
  (:mod:`faceinspector.backend.tasks`) returning a :class:`TrainResult`;
* :mod:`.updates`: :func:`train_updates`, a run as a paced stream of :class:`TrainUpdate`;
* :mod:`.identity`: does a reconstruction keep who the face is (dlib's ResNet on a chip and
  on its reconstruction; ranks, distances, the identity term of training, LFW test faces);
* :mod:`.session`: the Morph pane's checkpoint cache and requests (:func:`vae_info`,
  :func:`vae_face`, :func:`vae_morph`, :func:`vae_traverse`);
* :mod:`.export`: :func:`save_strip_png`, :func:`save_gif`, :func:`save_frames`.

Names are resolved lazily (PEP 562): ``from faceinspector.backend import vae`` is cheap and
``vae.encode`` imports torch on first use, so the GUI can import the torch-free modules
(:mod:`.session`, :mod:`.updates`, :mod:`.resampling`, :mod:`.checkpoint`, :mod:`.export`)
before torch is loaded.
"""

from __future__ import annotations

import importlib

_MODULES = ("checkpoint", "data", "export", "identity", "latent", "model", "resampling",
            "session", "training", "updates")

_EXPORTS = {
    **dict.fromkeys(("CHIP_SIZE", "DBVAE", "VAE", "build_model", "dbvae_loss", "kl_divergence",
                     "reconstruction_l1", "vae_loss"), "model"),
    **dict.fromkeys(("decode", "encode", "face_probability", "interpolate", "latent_means",
                     "morph", "reconstruct", "traverse"), "latent"),
    **dict.fromkeys(("Resampling", "dims_by_activity", "resampling_weights",
                     "summarize_weights"), "resampling"),
    **dict.fromkeys(("CELEBA_BOX", "VAE_TEMPLATE", "ChipData", "celeba_chips", "chip_for_face",
                     "data_cache_dir", "iter_celeba", "iter_load_data", "load_data"), "data"),
    **dict.fromkeys(("FORMAT", "CheckpointError", "default_checkpoint",
                     "default_checkpoint_path", "load_checkpoint", "read_metadata",
                     "save_checkpoint", "small_checkpoint_path"), "checkpoint"),
    **dict.fromkeys(("CELEBA_CREDIT", "TrainConfig", "TrainResult", "train"), "training"),
    **dict.fromkeys(("LOSS_KEYS", "TrainUpdate", "train_updates"), "updates"),
    **dict.fromkeys(("IdentityNet", "TAU", "identity_distance", "own_ranks"), "identity"),
    **dict.fromkeys(("VaeFace", "VaeInfo", "VaeStrip", "load_vae", "vae_face", "vae_info",
                     "vae_morph", "vae_traverse"), "session"),
    **dict.fromkeys(("save_frames", "save_gif", "save_strip_png", "strip_image"), "export"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    if name in _MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_EXPORTS, *_MODULES})

