# Counting statistics (issue 12): the TUR / Fano maps and the "beats the classical TUR" figure of
# config/sweeps/noise.yaml (included by config/config.yaml).  The figures are ordinary entries of
# `figures:` (drawn by `rule figure`, each a report item with its description); this file only
# names them as a target:
#     snakemake noise --cores 2
# (NOISE_FIGURES: common.smk)


rule noise:
    input:
        [figure_file(f) for f in NOISE_FIGURES],
    localrule: True
