"""A learning period on the gateway: a stream listens to its machine, then refits its bundle on what it heard.

While a stream's ``learn`` period runs, it scores and shows as usual but raises no event, and keeps
each window's feature row (``store``: bounded, on disk under the state directory, resumed after a
restart). At the end the fused bundle's closed-form members are refitted in NumPy (``refit``), the
thresholds re-chosen from out-of-fold scores of the learned windows, and the new bundle version is
put in place atomically with the previous one kept for rollback (``versions``); the stream then
scores with it and raises events (``learner`` ties these to a running stream).
"""
