"""Studies: the project's own experiments and training runs, built on the backend.

* :mod:`.celeba` -- CelebA's splits, labels and chips (no detector: the images are aligned),
  cached embeddings of the dlib ResNet;
* :mod:`.demo_training` -- training, scoring and saving the demo classifiers of issue 8
  (``faceinspector train demo``); the networks themselves live in
  :mod:`faceinspector.backend.models.demo`;
* :mod:`.metrics` -- plain, class-balanced and F1 scores, a model scored on CelebA;
* :mod:`.mismatch` -- the data-mismatch experiment (``faceinspector experiment mismatch``);
* :mod:`.report_html` -- its printed tables, CSV files and self-contained HTML report.

The layer sits *above* the backend: studies import :mod:`faceinspector.backend`, the backend
never imports studies. Long work follows the one task protocol of
:mod:`faceinspector.backend.tasks` (generators yielding ``Progress`` and returning their result,
stopped by a ``CancelToken``). Nothing here imports Qt.
"""
