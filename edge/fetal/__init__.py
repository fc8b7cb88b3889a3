"""The fetal heart from abdominal leads: maternal and fetal QRS, maternal cancellation, FHR.

Pipeline (each stage its own module; all of it NumPy plus SciPy filters, no TensorFlow):
``prep`` band-pass and mains notch -> ``mqrs`` maternal QRS over all leads -> ``cancel`` maternal
ECG subtraction per lead -> ``fqrs`` fetal QRS on the residuals (leads fused by periodicity) ->
``fhr`` beat intervals to an FHR series. ``beats.BeatTracker`` runs the chain on overlapping
blocks of a few seconds, so a live stream and a file give the same peaks with bounded latency.
``records`` reads EDF and WFDB recordings in blocks. The signal-quality detectors (``quality``)
and FHR events (``fhr_events``) are separate modules of the same package. ``chain.FetalChain``
runs beats, FHR, quality and their decisions (thresholds: the bundle's FetalSettings) for
`vigil beats` (``analyze``) and for the live stage of ECG streams (``stage``).
"""
