"""How the official harnesses compare an answer with the expected one: EvalPlus (`call` jobs) and LiveCodeBench
(stdin/stdout and functional). Pure functions on plain data; the sandbox's worker calls them on the trusted side only, after
the program's output has been decoded into exact builtin values. Change a benchmark's rule here.

    compare_call(out, expected, args, atol_state, compare)   one EvalPlus / LiveCodeBench-functional comparison
    lcb_stdio_equal(got, want)                               LiveCodeBench's stdin/stdout grader
    evalplus_compare(dataset, entry_point)                   which special oracle EvalPlus applies to a task
"""

import math

# EvalPlus special oracles (evalplus/eval/__init__.py, _special_oracle.py) and LiveCodeBench functional judging
COMPARES = ("lcb", "set_eq", "not_none", "always", "or_zero", "surface_area", "digit_distance", "poly_root")
VALUE_BLIND = ("always", "not_none")   # oracles that never look at the value: a Digest is judged like any output
_EVALPLUS_MBPP_SPECIAL = {"are_equivalent": "always", "sum_div": "or_zero", "surface_Area": "surface_area",
                          "digit_distance_nums": "digit_distance"}
_EVALPLUS_MBPP_SET_EQ = {"similar_elements", "find_char_long", "common_in_nested_lists", "extract_singly",
                         "larg_nnum", "intersection_array", "find_dissimilar", "Diff"}
_EVALPLUS_MBPP_NOT_NONE = {"check_str", "text_match_three", "text_starta_endb"}


def evalplus_compare(dataset, entry_point):
    """The `compare` name EvalPlus applies to (dataset "humaneval"|"mbpp", entry_point), or None for plain ==."""
    if dataset == "humaneval":
        return "poly_root" if entry_point == "find_zero" else None
    if dataset == "mbpp":
        if entry_point in _EVALPLUS_MBPP_SPECIAL:
            return _EVALPLUS_MBPP_SPECIAL[entry_point]
        if entry_point in _EVALPLUS_MBPP_SET_EQ:
            return "set_eq"
        if entry_point in _EVALPLUS_MBPP_NOT_NONE:
            return "not_none"
    return None


def lcb_stdio_equal(got, want):
    """LiveCodeBench's stdio grader: strip, split lines, strip each; equal lines, else equal as Decimal tokens.
    A token the official grader cannot compare (a signalling NaN raises InvalidOperation) makes the line unequal."""
    from decimal import Decimal, InvalidOperation

    def lines(s):
        return [ln.strip() for ln in s.strip().split("\n")]

    def decimals(line):
        try:
            return [Decimal(t) for t in line.split()]
        except (InvalidOperation, ValueError):
            return None
    a, b = lines(got), lines(want)
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x == y:
            continue
        dx, dy = decimals(x), decimals(y)
        if dx is None or dy is None:
            return False
        try:
            if dx != dy:
                return False
        except InvalidOperation:   # Decimal('sNaN') refuses to compare
            return False
    return True


def _is_floats(x):
    if type(x) is float:
        return True
    if type(x) in (list, tuple) and x:
        return all(type(i) is float for i in x)
    return False


def compare_call(out, exp, args, atol_state, compare):
    """One EvalPlus (evalplus/eval/__init__.py unsafe_execute) or LiveCodeBench functional comparison.
    `atol_state` is a one-item list: EvalPlus's atol, which becomes 1e-6 for the rest of a run once an expected
    value is a float (a quirk of its loop, kept on purpose; its base and plus inputs are two runs, each from the
    task's atol: the caller starts a new list there, as sandbox's "atol_reset_at")."""
    if compare == "lcb":
        if type(out) is tuple:
            out = list(out)
        return out == exp
    if compare == "poly_root":  # HumanEval/32 find_zero: |poly(xs, out)| <= atol
        xs = args[0]
        if type(out) not in (int, float):
            return False
        return abs(sum(c * math.pow(out, i) for i, c in enumerate(xs))) <= atol_state[0]
    exact = out == exp
    if compare == "always":
        exact = True
    elif compare == "or_zero":
        exact = exact or out == 0
    elif compare == "surface_area":
        b, h = args
        ref = round(b ** 2 + 4 * (b * math.sqrt((b / 2) ** 2 + h ** 2)) / 2)
        exact = exact or (type(out) in (int, float) and abs(out - ref) <= atol_state[0])
    elif compare == "digit_distance":
        s1, s2 = str(args[0]), str(args[1])
        m = max(len(s1), len(s2))
        ref = sum(abs(int(a) - int(b)) for a, b in zip(s1.zfill(m), s2.zfill(m)))
        exact = exact or out == ref
    elif compare == "set_eq":
        try:
            exact = set(out) == set(exp)
        except TypeError:
            exact = False
    elif compare == "not_none":
        exact = (out == exp) if type(out) is bool else (exp == (out is not None))
    if atol_state[0] == 0 and _is_floats(exp):
        atol_state[0] = 1e-6
    if not exact and atol_state[0] != 0:
        import numpy as np
        if type(out) is not type(exp):
            return False
        if isinstance(exp, (list, tuple)) and len(out) != len(exp):
            return False
        return bool(np.allclose(out, exp, rtol=1e-07, atol=atol_state[0]))
    return bool(exact)
