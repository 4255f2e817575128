# Figure rules (phase diagrams / force-space maps of the sweeps) go here.
# A rule reads sweep_store(sweep) and takes sweep_summary(sweep) as input, and adds its
# outputs to the default target with one line, e.g.
#
#   TARGETS.extend(f"{RESULTS}/{s}/figures/map.pdf" for s in SWEEPS)
