"""
Learning curves from the training history
=========================================

Every fitted estimator keeps skorch's ``history_``: per epoch, the training and
validation loss and the learning rate, which the paper's recipe halves when the
validation loss stops improving. With ``recipe="paper"``, early stopping then
restores the weights of the best epoch (the default recipe keeps the weights of
the last epoch), and, as in ``reproduce``, the validation split holds out whole
recording locations (the default holds out clips).

To run in seconds and show both mechanisms within 40 epochs, this example
trains the paper's recipe with a smaller network (64 filters instead of 256), a
higher learning rate (3e-3), smaller batches and shorter patiences: the learning
rate halves after 2 epochs without improvement, training stops after 8.
"""

import matplotlib.pyplot as plt

from sklearn_allconv import (
    GroupValidSplit,
    SceneClassifier,
    STFTTransformer,
    TrainingHistoryDisplay,
)
from sklearn_allconv.datasets import make_acoustic_scenes

clips, y, locations = make_acoustic_scenes(sample_rate=16000, random_state=0)
features = STFTTransformer(sample_rate=16000).fit_transform(clips)
clf = SceneClassifier(
    max_epochs=40,
    batch_size=16,
    lr=3e-3,
    recipe="paper",
    train_split=GroupValidSplit(0.2, stratified=True, hold_out="groups"),
    module__n_filters=64,
    callbacks__lr_plateau__patience=2,
    callbacks__early_stopping__patience=8,
    verbose=1,  # print skorch's epoch table
    random_state=0,
)
clf.fit(features, y, groups=locations)

# %%
# :class:`~sklearn_allconv.TrainingHistoryDisplay` draws ``history_``: the
# training and validation loss, the best epoch (whose weights early stopping
# restored) and, below, the learning rate, halved at each plateau.
TrainingHistoryDisplay.from_estimator(clf)
plt.show()

# %%
# The same numbers are in ``history_``, one dict per epoch, for anything else:
history = clf.history_
rates = sorted(set(history[:, "event_lr"]), reverse=True)
print(f"{len(history)} epochs; learning rates: {rates}")
