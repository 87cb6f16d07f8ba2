"""
Tuning the learning rate with GridSearchCV
==========================================

Every part of the training is a scikit-learn parameter of the pipeline
(``clf__lr``, ``clf__module__n_filters``, ``clf__optimizer__weight_decay``,
``clf__callbacks__early_stopping__patience``, ...), so ``GridSearchCV`` can tune
it. The tagging task is scored with the official DCASE 2016 equal error rate;
``eer_scorer`` returns its negative, since scikit-learn maximizes scores.

To run in well under a minute, the example trains a smaller network (32 filters
instead of the paper's 256) for 8 epochs per fit.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline

from sklearn_allconv import AudioTagger, STFTTransformer, eer_scorer
from sklearn_allconv.datasets import make_domestic_tags

clips, Y, segments = make_domestic_tags(random_state=0)
pipe = Pipeline(
    [
        ("stft", STFTTransformer(sample_rate=16000)),  # 128 mel bands per frame
        (
            "clf",
            AudioTagger(
                max_epochs=8, batch_size=16, module__n_filters=32, random_state=0
            ),
        ),
    ]
)
search = GridSearchCV(
    pipe,
    {"clf__lr": [3e-2, 1e-2, 3e-3, 1e-3, 3e-4]},
    cv=GroupKFold(3),  # clips of one recording segment stay together
    scoring=eer_scorer,
    return_train_score=True,
)
search.fit(clips, Y, groups=segments)

# %%
# ``cv_results_`` holds each learning rate's score on every fold; the EER is
# the negative of the score.
results = search.cv_results_
learning_rates = np.asarray(results["param_clf__lr"], dtype=float)
for lr, mean, std in zip(
    learning_rates, -results["mean_test_score"], results["std_test_score"], strict=True
):
    print(f"lr={lr:g}: mean EER {mean:.3f} +- {std:.3f} over the folds")
print("best:", search.best_params_)

# %%
# Held-out EER (mean and standard deviation over the folds) against the
# learning rate, with the training EER for comparison: a gap between the two
# lines is over-fitting, two high lines are under-fitting. A best value at the
# edge of the grid means the grid should be extended.
fig, ax = plt.subplots(figsize=(6, 4))
for split, marker in [("train", "s"), ("test", "o")]:
    ax.errorbar(
        learning_rates,
        -results[f"mean_{split}_score"],
        yerr=results[f"std_{split}_score"],
        marker=marker,
        capsize=3,
        label="training folds" if split == "train" else "held-out fold",
    )
best = search.best_params_["clf__lr"]
ax.axvline(best, color="grey", linestyle=":", label=f"best lr = {best:g}")
ax.set_xscale("log")
ax.set_xlabel("learning rate (clf__lr)")
ax.set_ylabel("mean equal error rate over tags")
ax.set_title("GridSearchCV over the learning rate, GroupKFold(3)")
ax.legend()
fig.tight_layout()
plt.show()
