"""extract_code and solution_prompt (common.py, "code extraction and prompts") on real-looking model outputs."""

import pytest

from common import STDIN_INSTRUCTION, entry_names, extract_code, solution_prompt

ADD = "def add(a, b):\n    return a + b\n"

# (case name, completion, entry point, expected program)
CASES = [
    ("fenced with tag, prose both sides",
     "Here is the function:\n\n```python\ndef add(a, b):\n    return a + b\n```\n\nIt returns the sum of a and b.",
     "add", ADD),
    ("fence tag py3 and trailing spaces",
     "```py3   \ndef add(a, b):\n    return a + b\n```", "add", ADD),
    ("untagged fence", "Sure!\n```\ndef add(a, b):\n    return a + b\n```\n", "add", ADD),
    ("tilde fence", "~~~python\ndef add(a, b):\n    return a + b\n~~~\n", "add", ADD),
    ("solution then usage block: the block defining the entry point",
     "```python\ndef add(a, b):\n    return a + b\n```\nExample usage:\n```python\nprint(add(2, 3))  # 5\n```",
     "add", ADD),
    ("first try then corrected version: the last block defining it",
     "```python\ndef add(a, b):\n    return a - b\n```\nOops, that subtracts. Corrected:\n"
     "```python\ndef add(a, b):\n    return a + b\n```", "add", ADD),
    ("shell block and output block ignored",
     "Install nothing:\n```bash\npip install nothing\n```\n```python\ndef add(a, b):\n    return a + b\n```\n"
     "```text\n5\n```", "add", ADD),
    ("truncated inside a fence (max_new_tokens hit)",
     "```python\ndef add(a, b):\n    return a + b\n\ndef sub(a, b):\n    return a -", "add",
     "def add(a, b):\n    return a + b\n\ndef sub(a, b):\n    return a -\n"),
    ("bare code with trailing prose",
     "def add(a, b):\n    return a + b\n\nThis function adds two numbers and returns the result.", "add", ADD),
    ("prose, then bare code", "The answer is simple.\nimport math\ndef add(a, b):\n    return a + b\n", "add",
     "import math\ndef add(a, b):\n    return a + b\n"),
    ("bare code truncated mid-statement: cut to what parses",
     "def add(a, b):\n    return a + b\n\ndef mul(a, b):\n    return a * (", "add", ADD),
    ("closing fence only (prompt ended in ```python)",
     "def add(a, b):\n    return a + b\n```\n\nExplanation: adds.", "add", ADD),
    ("several functions in one block, helper kept",
     "```python\ndef _norm(x):\n    return int(x)\n\ndef add(a, b):\n    return _norm(a) + _norm(b)\n```", "add",
     "def _norm(x):\n    return int(x)\n\ndef add(a, b):\n    return _norm(a) + _norm(b)\n"),
    ("main guard removed",
     "```python\ndef add(a, b):\n    return a + b\n\nif __name__ == \"__main__\":\n    print(add(int(input()), 1))\n```",
     "add", ADD),
    ("LeetCode class entry point",
     "```python\nclass Solution:\n    def twoSum(self, nums, target):\n        return [0, 1]\n```\n"
     "```python\nprint(Solution().twoSum([2, 7], 9))\n```", "Solution().twoSum",
     "class Solution:\n    def twoSum(self, nums, target):\n        return [0, 1]\n"),
    ("indented block in a list item is dedented",
     "1. Define it:\n\n   ```python\n   def add(a, b):\n       return a + b\n   ```\n", "add", ADD),
    ("reasoning before </think> ignored",
     "<think>\n```python\ndef add(a, b):\n    return 0\n```\n</think>\n```python\ndef add(a, b):\n    return a + b\n```",
     "add", ADD),
    ("no entry point given: last block with a definition",
     "```python\ndef add(a, b):\n    return a + b\n```\n```python\nadd(1, 2)\n```", None, ADD),
    ("no code at all", "I'm sorry, I cannot help with that request.", "add", ""),
    ("empty completion", "", "add", ""),
    ("only whitespace in the fence", "```python\n\n```", "add", ""),
    ("garbage bytes from a random model", "\x13\ufffd^v\ufffd\x16s\ufffd;on= ranU\ufffd9", "add", ""),
]


@pytest.mark.parametrize("name,completion,entry_point,expected", CASES, ids=[c[0] for c in CASES])
def test_extract_code_table(name, completion, entry_point, expected):
    assert extract_code(completion, entry_point) == expected


def test_extracted_programs_run():
    """Every non-empty extraction above is a program Python accepts (03 would otherwise report syntax errors)."""
    import ast
    for name, completion, ep, expected in CASES:
        code = extract_code(completion, ep)
        if code and "truncated inside a fence" not in name:
            ast.parse(code)


def test_entry_names():
    assert entry_names("Solution().twoSum") == ("Solution", "twoSum")
    assert entry_names("add") == ("add", "add")
    assert entry_names(None) == (None, None)


def test_solution_prompt_chat_and_base():
    chat = solution_prompt("Write a function to add two numbers.", "add", ["assert add(2, 3) == 5"])
    assert chat.startswith("Write a function to add two numbers.\n")
    assert "assert add(2, 3) == 5" in chat and "```python" in chat
    no_tests = solution_prompt("Add two numbers.", "add")
    assert "`add`" in no_tests
    base = solution_prompt("Add two numbers.", "add", ["assert add(2, 3) == 5"], chat=False)
    assert base == '"""\nAdd two numbers.\n\nYour code should pass these tests:\n\nassert add(2, 3) == 5\n"""\n'
    # stdin tests are not asserts: not shown; the task is asked for a program that reads stdin, writes stdout
    stdin = solution_prompt("Echo.", None, [{"input": "1\n", "output": "1\n"}])
    assert "1\n" not in stdin.replace("Echo.", "") and STDIN_INSTRUCTION in stdin
    assert STDIN_INSTRUCTION in solution_prompt("Echo.", None, [{"input": "1\n", "output": "1\n"}], chat=False)
    assert STDIN_INSTRUCTION not in chat and STDIN_INSTRUCTION not in base


# A stdin program as models write it: the work in main(), called from the `__main__` block (LiveCodeBench's stdin
# format asks for exactly this kind of program)
STDIN_MAIN = ("import sys\n\ndef main():\n    data = sys.stdin.read().split()\n    a, b = int(data[0]), int(data[1])\n"
              "    print(a + b)\n\nif __name__ == \"__main__\":\n    main()\n")


def test_stdin_program_keeps_its_main_block():
    completion = f"Read both numbers and print their sum.\n\n```python\n{STDIN_MAIN}```\n\nThis runs in O(1)."
    assert extract_code(completion, None) == STDIN_MAIN
    # a function task drops its demo block, unless the block defines the entry point itself
    demo = "def add(a, b):\n    return a + b\n\nif __name__ == '__main__':\n    print(add(1, 2))\n"
    assert extract_code(f"```python\n{demo}```", "add") == ADD
    inside = "if __name__ == '__main__':\n    def add(a, b):\n        return a + b\n"
    assert extract_code(f"```python\n{inside}```", "add") == inside


def test_base_stop_keeps_a_stdin_programs_entry():
    from common import BASE_STOP, base_stop
    stdin_tests = [{"input": "1 2\n", "output": "3\n"}]
    assert base_stop(["assert add(1, 2) == 3"]) == BASE_STOP
    stops = base_stop(stdin_tests)
    # a base model continuing the stdin prompt writes STDIN_MAIN: no stop string cuts it before its end
    cut = min((STDIN_MAIN.find(s) for s in stops if s in STDIN_MAIN), default=len(STDIN_MAIN))
    assert cut == len(STDIN_MAIN)
    assert any(s in STDIN_MAIN for s in BASE_STOP)  # the function-task stops would have cut it
