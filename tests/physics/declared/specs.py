"""Declared specs of the built-in rate models (issue 14 §1's format) used by several tests."""

CQD_SPEC = {
    "kind": "dots",
    "orbitals": {"L": {"energy": "eps_L"}, "R": {"energy": "eps_R"}},
    "coulomb": [["L", "R", "kappa"]],
    "leads": {
        "a": {"T": "T_a", "mu": "mu_a", "couples": {"L": "gamma_a"}},
        "b": {"T": "T_b", "mu": "mu_b", "couples": {"L": "gamma_b"}},
        "r": {"T": "T_r", "mu": "mu_r", "couples": {"R": "gamma_r"}},
    },
    "states": {"A": [], "B": ["L"], "C": ["R"], "D": ["L", "R"]},
}

SQD_SPEC = {
    "kind": "dots",
    "orbitals": {"d": {"energy": "eps"}},
    "leads": {
        "l": {"T": "T_l", "mu": "mu_l", "couples": {"d": "gamma_l"}},
        "r": {"T": "T_r", "mu": "mu_r", "couples": {"d": "gamma_r"}},
    },
    "states": ["0", "1"],
    "reference_lead": "r",
}

ANDERSON_SPEC = {  # spinful level: two orbitals (up, down) with on-site U, two leads coupling to both spins
    "kind": "dots",
    "orbitals": {"up": {"energy": "eps"}, "dn": {"energy": "eps_dn"}},
    "coulomb": [["up", "dn", "U"]],
    "leads": {
        "L": {"T": "T_L", "mu": "mu_L", "couples": {"up": "gamma_L", "dn": "gamma_L"}},
        "R": {"T": "T_R", "mu": "mu_R", "couples": {"up": "gamma_R", "dn": "gamma_R"}},
    },
}

TRIPLE_SPEC = {  # serial triple dot: ends on leads; the middle dot couples to a third (probe) lead;
    # nearest-neighbour Coulomb; at most two electrons
    "kind": "dots",
    "orbitals": {"d1": "e1", "d2": "e2", "d3": "e3"},
    "coulomb": [["d1", "d2", "U12"], ["d2", "d3", "U23"], ["d1", "d3", 0.3]],
    "leads": {
        "L": {"T": "T_L", "mu": "mu_L", "couples": {"d1": "g_L"}},
        "M": {"T": "T_M", "mu": "mu_M", "couples": {"d2": "g_M", "d1": 0.2}},
        "R": {"T": "T_R", "mu": "mu_R", "couples": {"d3": "g_R", "d2": "g_M"}},
    },
    "electrons": [0, 2],
}
