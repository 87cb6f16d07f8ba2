"""
Domestic audio tagging and the equal error rate
===============================================

Multi-label tagging of 4 s clips, as DCASE 2016 Task 4: one sigmoid output per
tag, trained with binary cross entropy on whole clips, evaluated with the
official equal error rate per tag.

To run in seconds, the example trains a smaller network (128 filters instead
of the paper's 256) for a fixed 30 epochs in batches of 16, without the internal
validation split of the paper's early stopping (too little data for it here).
"""

import matplotlib.pyplot as plt
from scipy.stats import norm
from sklearn.metrics import DetCurveDisplay
from sklearn.model_selection import GroupKFold, cross_val_predict
from sklearn.pipeline import Pipeline

from sklearn_allconv import AudioTagger, STFTTransformer, equal_error_rate
from sklearn_allconv.datasets import DOMESTIC_TAG_LABELS, make_domestic_tags
from sklearn_allconv.metrics import per_class_table

clips, Y, segments = make_domestic_tags(random_state=0)
pipe = Pipeline(
    [
        ("stft", STFTTransformer(sample_rate=16000)),
        (
            "clf",
            AudioTagger(
                max_epochs=30,
                batch_size=16,
                module__n_filters=128,
                train_split=None,
                random_state=0,
            ),
        ),
    ]
)
scores = cross_val_predict(
    pipe,
    clips,
    Y,
    groups=segments,
    cv=GroupKFold(4),
    method="predict_proba",
)

# %%
eer = equal_error_rate(Y, scores, average=None)
print(per_class_table({"Network": eer}, list(DOMESTIC_TAG_LABELS)))

# %%
# One DET curve per tag; the equal error rate is where a curve crosses the
# diagonal (false positive rate = false negative rate), marked with a dot.
fig, ax = plt.subplots(figsize=(6, 6))
for tag, name in enumerate(DOMESTIC_TAG_LABELS):
    if Y[:, tag].min() == Y[:, tag].max():
        continue  # a tag without positives (or negatives) has no DET curve
    display = DetCurveDisplay.from_predictions(
        Y[:, tag], scores[:, tag], name=f"{name} (EER {eer[tag]:.2f})", ax=ax
    )
    color = display.line_.get_color()
    if 0 < eer[tag] < 1:
        # DetCurveDisplay draws on normal-deviate axes; place the EER point there.
        ax.plot(norm.ppf(eer[tag]), norm.ppf(eer[tag]), "o", color=color)
ax.plot(ax.get_xlim(), ax.get_ylim(), ":", color="grey", linewidth=0.8)
ax.legend(fontsize="small")
plt.show()
