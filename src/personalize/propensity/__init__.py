"""Propensity models: in-session purchase, repeat purchase/dormancy, shipping-fee sensitivity.

Serving needs only :class:`personalize.propensity.serving.PurchasePropensity` (numpy, no
scikit-learn), :func:`personalize.propensity.scores.parse_scores` for the batch scores hash, and
:mod:`personalize.propensity.shipping` for the online shipping estimate. Training lives in
``purchase``, ``repeat``, ``customer_scores`` and the ``train-propensity`` command.
"""
