"""Which tests take the fast path: `assert ENTRY(literal args)[index]... == LITERAL` is parsed here
(ast.literal_eval), so the worker calls the entry point in C and compares on plain data; the literal never leaves
the worker."""

import sys


def _bound_names(tree):
    """Names a module binds anywhere (defs, classes, assignments, imports, `except ... as`)."""
    import ast
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.ExceptHandler)) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                names.add((a.asname or a.name).split(".")[0])
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def _fast_check(stmt, callees):
    """(name, args, kwargs, path, expected) for `assert NAME(literals)[literal]... == LITERAL[, msg]` (either side),
    (None, ...) for `assert True`, else None. Only the call runs in the program; indexing and == run here."""
    import ast
    if not isinstance(stmt, ast.Assert):
        return None
    t = stmt.test
    if isinstance(t, ast.Constant) and t.value is True:
        return (None, None, None, None, None)
    if not (isinstance(t, ast.Compare) and len(t.ops) == 1 and isinstance(t.ops[0], ast.Eq)):
        return None
    for call_side, lit_side in ((t.left, t.comparators[0]), (t.comparators[0], t.left)):
        try:
            expected = ast.literal_eval(lit_side)
            path = []
            node = call_side
            while isinstance(node, ast.Subscript):
                s = node.slice
                if isinstance(s, ast.Slice):
                    parts = [None if p is None else ast.literal_eval(p) for p in (s.lower, s.upper, s.step)]
                    path.append(slice(*parts))
                else:
                    path.append(ast.literal_eval(s))
                node = node.value
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in callees):
                continue
            if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
                continue
            args = tuple(ast.literal_eval(a) for a in node.args)
            kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        return (node.func.id, args, kwargs, tuple(reversed(path)), expected)
    return None


def _fast_plan(kind, tests, test, setup, entry_point):
    """Per test, the list of fast checks when every test is such an assert (or a check function made only of
    them, `assert True` and docstrings); None when the judge child J is needed."""
    import ast
    try:
        if kind == "assert":
            entry = _entry_of(kind, tests, setup, entry_point)
            plan = []
            for src in tests:
                mod = ast.parse(src)
                if len(mod.body) != 1:
                    return None
                p = _fast_check(mod.body[0], {entry})
                if p is None:
                    return None
                plan.append([p])
            return plan
        mod = ast.parse(test)
        checks = None
        for node in mod.body:
            if isinstance(node, ast.FunctionDef) and node.name == "check":
                a = node.args
                if (len(a.args) != 1 or a.args[0].arg != "candidate" or a.vararg or a.kwarg or a.kwonlyargs
                        or a.posonlyargs or node.decorator_list):
                    return None
                checks = []
                for stmt in node.body:
                    if isinstance(stmt, (ast.Pass,)) or (isinstance(stmt, ast.Expr)
                                                         and isinstance(stmt.value, ast.Constant)):
                        continue
                    p = _fast_check(stmt, {"candidate"})
                    if p is None:
                        return None
                    checks.append(p)
        return None if checks is None else [checks]
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _fast_plan_cached(kind, tests, test, setup, entry_point):
    """_fast_plan, once per task: the samples of a task share their tests."""
    key = (kind, tests, test, setup, entry_point)
    if key not in _PLANS:
        if len(_PLANS) > 4096:
            _PLANS.clear()
        _PLANS[key] = _fast_plan(kind, tests, test, setup, entry_point)
    return _PLANS[key]


_PLANS = {}


def _task_facts(kind, tests, test, setup, entry_point):
    """What C and J need to know of a task's trusted code, worked out once per task here rather than once per
    program in each child: the classes the setup (and a check test) define; the entry point's name; the names J
    takes from the program (the entry point, and names the setup uses without defining them: trusted code names
    those); the standard-library modules the setup and tests use without importing them (J imports them itself)."""
    import ast
    import builtins
    key = ("facts", kind, tests, test, setup, entry_point)
    if key not in _PLANS:
        entry = _entry_of(kind, tests, setup, entry_point)
        free, bound = [set(), set()], set(dir(builtins))
        for i, src in enumerate([setup] + ([test] if kind == "check" else list(tests))):
            try:
                tree = ast.parse(src)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                continue
            bound |= _bound_names(tree)
            free[min(i, 1)] |= _referenced(tree) - bound
        stdlib = getattr(sys, "stdlib_module_names", frozenset())
        _PLANS[key] = {"setup_classes": sorted(_class_names(setup)), "entry": entry,
                       "program_names": sorted(({entry} if entry else set()) | (free[0] - stdlib)),
                       "modules": sorted((free[0] | free[1]) & stdlib - {entry}),
                       "test_classes": sorted(_class_names(test)) if kind == "check" else []}
    return _PLANS[key]


def _entry_of(kind, tests, setup, entry_point):
    """The name a test takes from the program: the entry point's first name ("Solution().twoSum" -> "Solution");
    for an assert job without one, the first name its tests call that neither builtins nor the setup defines."""
    import ast
    import builtins
    import re
    # the first name, as common.entry_names reads it for the prompts and the code extracted (not imported from there:
    # the workers stay free of common's imports); tests/test_common.py holds the two to one answer
    m = re.match(r"\s*([A-Za-z_]\w*)", entry_point or "")
    if m or kind != "assert":
        return m.group(1) if m else None
    try:
        trusted = _bound_names(ast.parse(setup)) | set(dir(builtins))
        for src in tests:
            tree = ast.parse(src)
            for n in ast.walk(tree):
                if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id not in trusted:
                    return n.func.id
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        pass
    return None


def _referenced(tree):
    """Every name a piece of code mentions."""
    import ast
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def _class_names(src):
    """Classes a piece of code defines at its top level (imported classes are not its own)."""
    import ast
    try:
        return {n.name for n in ast.parse(src).body if isinstance(n, ast.ClassDef)}
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
