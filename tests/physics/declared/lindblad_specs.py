"""Declared Lindblad specs of the built-in machines qubit_fridge and chain."""


def qubit_fridge_spec(approach):
    filt = {lam: {"filtered": {"Gamma": f"Gamma_{lam}", "Omega": f"Omega_{lam}", "eps_c": "eps_c"}}
            for lam in "LRC"}
    return {
        "kind": "lindblad",
        "subsystems": {"q1": "qubit", "q2": "qubit"},
        "hamiltonian": [["eps1", "q1.n"], ["eps2", "q2.n"], ["delta_z", "q1.n q2.n"]],
        "interaction": [["delta_x", "q1.sp q2.sm + h.c."]],
        "baths": {"L": {"T": "T_L", "couples": "q1.sx", "spectrum": filt["L"]},
                  "R": {"T": "T_R", "couples": "q1.sx", "spectrum": filt["R"]},
                  "C": {"T": "T_C", "couples": "q2.sx", "spectrum": filt["C"]}},
        "approach": approach,
        "jumps": "transitions" if approach == "global" else "bohr",
        "reference_bath": "R",
    }


def chain_spec(N, approach):
    sites = [f"s{k}" for k in range(1, N + 1)]
    return {
        "kind": "lindblad",
        "subsystems": {s: "qubit" for s in sites},
        "hamiltonian": [["omega", f"{s}.n"] for s in sites],
        "interaction": [["g", f"{a}.sp {b}.sm + h.c."] for a, b in zip(sites, sites[1:])],
        "baths": {"L": {"T": "T_L", "couples": f"{sites[0]}.sx", "spectrum": {"flat": "gamma_L"}},
                  "R": {"T": "T_R", "couples": f"{sites[-1]}.sx", "spectrum": {"flat": "gamma_R"}}},
        "approach": approach,
        "jumps": "transitions" if approach == "global" else "bohr",
    }
