"""Help ▸ Guide: what each pane answers, with the project's seed story as the worked example
("a gender CNN trained on CelebA works there and fails on LFW photos -- why?").

Plain rich text in a non-modal dialog; the keyboard shortcuts that raise each pane are listed
from the same table the main window uses (:data:`PANE_KEYS`).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout

#: (dock name, title, shortcut, the question it answers)
PANE_KEYS = (
    ("photos", "Photos", "Alt+1", "Which faces did the detector find, and where?"),
    ("crops", "Crops", "Alt+2", "What does the model actually see: the raw box or the face "
                                "aligned to its template?"),
    ("predictions", "Predictions", "Alt+3", "What does every model answer on both crops, and "
                                            "which change their mind?"),
    ("probe", "Probe", "Alt+4", "How far can the face move, turn or grow before the answer "
                                "flips?"),
    ("triplets", "Triplets", "Alt+5", "How far apart are two faces for an embedder, and does "
                                      "alignment change that?"),
    ("verification", "Verification", "Alt+6", "How well does an embedder tell people apart on "
                                               "labelled pairs, and how sure is that figure?"),
    ("gallery", "Gallery", "Alt+7", "Whom does the embedder recognise, in one photo or a whole "
                                    "folder?"),
    ("morph", "Morph", "Alt+8", "What lies between two faces in a VAE's latent space; train "
                                "one."),
    ("mismatch", "Mismatch", "Alt+9", "What differs between the training data and the photos "
                                      "the model fails on, and which crop fixes it?"),
    ("evaluate", "Evaluate", "Alt+0", "How does a classifier do on a labelled set?"),
)


def guide_html() -> str:
    rows = "".join(f"<tr><td><b>{title}</b></td><td>{key}</td><td>{question}</td></tr>"
                   for _, title, key, question in PANE_KEYS)
    return f"""
<h2>FaceInspector in five minutes</h2>
<p>FaceInspector shows <i>why</i> a face model gets a photo wrong: the crop it sees, every
model's answer on it, and how the answer moves. Each pane answers one question:</p>
<table cellspacing="0" cellpadding="3">{rows}</table>
<p>Panes are docks: drag them, tab them, float them; <b>View ▸ Reset layout</b> brings the
default back. Any list of faces or pairs (hardest pairs, the distance matrix, gallery matches,
mismatch examples) opens its face in Photos / Crops / Predictions with a
<b>double-click</b>, and its <b>right-click</b> menu sends it to a Triplets slot.</p>

<h3>Worked example: “works on CelebA, fails on my photos”</h3>
<ol>
<li><b>The symptom.</b> <code>celeba-cnn-naive</code>, a gender CNN trained on CelebA's aligned
faces, is right on CelebA and barely better than chance on LFW photos: 64.2 % balanced accuracy
on the 6,916 LFW images as given.</li>
<li><b>Photos → Crops.</b> Open a few LFW photos. The raw box crop and the aligned crop of the
same face look nothing alike at the model's 64×78 input: the eyes sit where the
<i>celeba</i> template wants them only in the aligned one (magenta crosses vs cyan dots).</li>
<li><b>Predictions.</b> The card of <code>celeba-cnn-naive</code> turns amber: raw and aligned
crops give different answers. Cards of models trained on another template (the dlib chip) are
right on their own crop; forcing one template on every model (Crops ▸ “Aligned with”) shows the
opposite case, and the pane warns whose template it is not.</li>
<li><b>Probe.</b> Shift the crop a few pixels: the heat map shows how quickly the answer flips
— a CNN is translation <i>equivariant</i>, not invariant.</li>
<li><b>Mismatch.</b> Drop CelebA as the reference and LFW as the target: <i>eye_y</i> is ranked
first (the eyes sit at 0.52 of the image height in CelebA, 0.46 in LFW — 10 reference spreads
apart); the pane learns CelebA's template from where its faces sit, and re-aligning LFW to it
lifts the model from 64.2 % to <b>91.6 %</b> [90.8, 92.3].</li>
<li><b>Verification / Triplets.</b> For an embedder, the same question: run raw vs aligned side
by side on LFW pairs (two accuracy rows, the same pairs), then open the hardest pair in Triplets
to see the two chips.</li>
</ol>

<h3>Reading the figures honestly</h3>
<ul>
<li>Accuracies come with 95 % bootstrap intervals. With one fold, the best τ is chosen on the
very pairs it is scored on (optimistic): use a fixed threshold (dlib's 0.6 is a preset).</li>
<li>TAR @ FAR = 1e-3 needs at least 1,000 different-person pairs; with fewer it is marked
“not resolved”.</li>
<li>The panes say what they leave out (people with one image, unreadable files, faces beyond the
distance matrix's limit).</li>
</ul>
<h3>Your own model</h3>
<p>Predictions ▸ <b>Add model…</b> takes a TorchScript or ONNX classifier or embedder; a form
writes its sidecar (labels, input size, template, normalisation) when it has none. Added models
are remembered; a card's <b>Remove</b> forgets one. Embedders appear in Triplets, Verification
and Gallery.</p>
"""


class GuideDialog(QDialog):
    """The guide, non-modal, resizable."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("FaceInspector guide")
        self.text = QTextBrowser()
        self.text.setOpenExternalLinks(True)
        self.text.setHtml(guide_html())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        self.resize(720, 620)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)


__all__ = ["GuideDialog", "PANE_KEYS", "guide_html"]
