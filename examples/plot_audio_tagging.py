"""
Domestic audio tagging and the equal error rate
===============================================

Multi-label tagging of 4 s clips, as DCASE 2016 Task 4: one sigmoid output per
tag, trained with binary cross entropy on whole clips, evaluated with the
official equal error rate per tag.

To run within a minute on two CPU cores (49 s measured with the cores shared,
load average 8), the example trains a smaller network (128 filters instead
of the paper's 256) for a fixed 30 epochs in batches of 16, without the internal
validation split of the paper's early stopping (too little data for it here).
"""

import matplotlib.pyplot as plt
from sklearn.model_selection import GroupKFold, cross_val_predict
from sklearn.pipeline import Pipeline

from sklearn_allconv import (
    AudioTagger,
    STFTTransformer,
    TagDetCurveDisplay,
    equal_error_rate,
)
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
# One DET curve per tag (scikit-learn's ``DetCurveDisplay`` on shared axes); the
# equal error rate is where a curve crosses the diagonal (false positive rate =
# false negative rate), marked with a dot. A tag without positives has no curve.
TagDetCurveDisplay.from_predictions(Y, scores, tag_names=DOMESTIC_TAG_LABELS)
plt.show()
