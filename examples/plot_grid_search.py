"""
Tuning the learning rate with GridSearchCV
==========================================

Every part of the training is a scikit-learn parameter of the pipeline
(``clf__lr``, ``clf__module__n_filters``, ``clf__optimizer__weight_decay``,
``clf__callbacks__early_stopping__patience``, ...), so ``GridSearchCV`` can tune
it. The tagging task is scored with the official DCASE 2016 equal error rate;
``eer_scorer`` returns its negative, since scikit-learn maximizes scores.
"""

from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline

from sklearn_allconv import AudioTagger, STFTTransformer, eer_scorer
from sklearn_allconv.datasets import make_domestic_tags

clips, Y, segments = make_domestic_tags(random_state=0)
pipe = Pipeline(
    [
        ("stft", STFTTransformer(sample_rate=16000)),  # 201 bins per frame
        ("clf", AudioTagger(max_epochs=10, random_state=0)),
    ]
)
search = GridSearchCV(
    pipe, {"clf__lr": [1e-3, 3e-4]}, cv=GroupKFold(3), scoring=eer_scorer
)
search.fit(clips, Y, groups=segments)

# %%
for lr, score in zip(
    search.cv_results_["param_clf__lr"],
    search.cv_results_["mean_test_score"],
    strict=True,
):
    print(f"lr={lr:g}: mean EER {-score:.3f}")
print("best:", search.best_params_)
