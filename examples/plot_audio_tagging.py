"""
Domestic audio tagging and the equal error rate
===============================================

Multi-label tagging of 4 s clips, as DCASE 2016 Task 4: one sigmoid output per
tag, trained with binary cross entropy on whole clips, evaluated with the
official equal error rate per tag.
"""

from sklearn.model_selection import GroupKFold, cross_val_predict
from sklearn.pipeline import Pipeline

from sklearn_allconv import AudioTagger, STFTTransformer, equal_error_rate
from sklearn_allconv.datasets import DOMESTIC_TAG_LABELS, make_domestic_tags
from sklearn_allconv.metrics import per_class_table

clips, Y, segments = make_domestic_tags(random_state=0)
pipe = Pipeline(
    [
        ("stft", STFTTransformer(sample_rate=16000)),
        ("clf", AudioTagger(max_epochs=20, random_state=0)),
    ]
)
scores = cross_val_predict(
    pipe,
    clips,
    Y,
    groups=segments,
    cv=GroupKFold(4),
    method="predict_proba",
    params={"clf__groups": segments},
)

# %%
eer = equal_error_rate(Y, scores, average=None)
print(per_class_table({"Network": eer}, list(DOMESTIC_TAG_LABELS)))
