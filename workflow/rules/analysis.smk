# Analysis rules (ICC / operating-mode classification of the sweeps) go here.
# A rule reads sweep_store(sweep) and takes sweep_summary(sweep) as input, e.g.
#
#   rule classify:
#       input: lambda w: sweep_summary(w.sweep)
#       output: f"{RESULTS}/{{sweep}}/classification.zarr"
#       ...
#
# and adds its final outputs to the default target with one line:
#
#   TARGETS.extend(f"{RESULTS}/{s}/classification.zarr" for s in SWEEPS)
