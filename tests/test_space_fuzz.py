"""Fuzzing the space parser: any text, however broken, either compiles or raises one located SpaceError.

Inputs: the shipped spaces with lines deleted, duplicated or swapped and tokens replaced; random YAML-ish
text; random spaces and nested structures over the DSL's own vocabulary, dumped with yaml.safe_dump; and
the inputs that once escaped as other exceptions (or took minutes), kept as fixed cases. Deterministic
(derandomize=True, no example database), so a failure reproduces on every run.
"""

from __future__ import annotations

import random
import time

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import SPACES
from mixsearch.errors import SpaceError
from mixsearch.ops import OPS
from mixsearch.space.graph import compile_space
from mixsearch.space.schema import NODE_KEYS, TOP_LEVEL_KEYS, parse_space

FUZZ = settings(
    database=None,
    derandomize=True,
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SPACE_LINES = [path.read_text().splitlines() for path in SPACES]
PARAM_NAMES = sorted({name for info in OPS for name in info.params()})
NODE_NAMES = [
    "input",
    "a",
    "b",
    "chan",
    "spat",
    "out",
    "sum",
    "class",
    "gamma_x",
    "_x",
    "x-y",
    "",
]
VOCABULARY = [
    *TOP_LEVEL_KEYS,
    *NODE_KEYS,
    *OPS.names(),
    *PARAM_NAMES,
    *NODE_NAMES,
    "paper",
    "timm",
    "classification",
    "channel_ops",
]
TOKENS = [
    *VOCABULARY,
    *":-[]{},#&*!|>'\"?%@`",
    "true",
    "false",
    "null",
    "~",
    "0",
    "-1",
    "1e999",
    ".nan",
    ".inf",
    "3.5",
    "10000000000000000000000",
    "[]",
    "{}",
    "&a",
    "*a",
    "!!python/object:os.system",
    "!!binary",
    "!!set",
    "!!timestamp",
    "<<",
    "---",
    "...",
    "\t",
    "\n",
    "  ",
]

# Text YAML can read (no control characters), so the fuzzing gets past the reader.
PRINTABLE = st.text(st.characters(exclude_categories=["Cc", "Cs"]), max_size=6)


def check(text: str) -> None:
    """parse + compile succeed (and then sampling gives a valid Arch) or raise a SpaceError with a line."""
    try:
        graph = compile_space(parse_space(text, "fuzz.yaml"))
    except SpaceError as error:
        assert error.path == "fuzz.yaml"
        assert isinstance(error.line, int) and error.line >= 1, f"no line in: {error}"
        assert "\n" not in str(error)
        return
    arch = graph.sample(random.Random(0))
    arch.validate()


# --- inputs that once escaped as other exceptions, or took minutes ----------------------------------------


def _space(*nodes: str, ops: str = "", tail: str = "") -> str:
    """A space text: name, optional `ops:` body, the given graph lines, optional trailing text."""
    ops_part = f"ops:\n{ops}" if ops else ""
    return (
        "name: t\n" + ops_part + "graph:\n" + "".join(f"  {n}\n" for n in nodes) + tail
    )


# Candidate sets nobody uses may hold anything: 9**9 leaves through aliases, in nine lines of text.
_BOMB = "".join(
    f"  b{i}: &b{i} [{', '.join([f'*b{i - 1}' if i else 'x'] * 9)}]\n" for i in range(9)
)
_C, _D = "c: {op: se, from: input}", "d: {op: eca, from: input}"
_BIG = "1" + "0" * 30
KNOWN_BAD = {
    "control character": _space("c: {op: se\x1f, from: input}"),
    "nul character": "name: t\x00\n",
    "huge int through a check": _space(
        f"c: {{op: {{eca: {{beta: {_BIG}}}}}, from: input}}"
    ),
    "int too big for float": _space(
        _C,
        _D,
        f"o: {{fuse: {{fixed_weights: {{weights: [{'9' * 400}, 1]}}}}, from: [c, d]}}",
    ),
    "nan weight": _space(
        _C, _D, "o: {fuse: {fixed_weights: {weights: [.nan, 1]}}, from: [c, d]}"
    ),
    "inf blend": _space(
        _C, _D, "o: {fuse: {cross_level: {blend: .inf}}, from: [c, d]}"
    ),
    "nested too deeply": _space(f"c: {{op: {'[' * 3000}se{']' * 3000}, from: input}}"),
    "alias bomb as candidate": _space("c: {op: [*b8], from: input}", ops=_BOMB),
    "alias bomb as input": _space("c: {op: se, from: [*b8]}", ops=_BOMB),
    "alias bomb as parameter": _space(
        "c: {op: {se: {reduction: *b8}}, from: input}", ops=_BOMB
    ),
    "alias bomb as weights": _space(
        _C, _D, "o: {fuse: {fixed_weights: {weights: *b8}}, from: [c, d]}", ops=_BOMB
    ),
    "alias bomb as class name": _space(_C, ops=_BOMB, tail="class_name: *b8\n"),
    "bad !!timestamp": "name: t\ndescription: !!timestamp soon\n",
    "bad !!bool": "name: t\ndescription: !!bool maybe\n",
    "bad !!int": _space("c: {op: {se: {reduction: !!int x}}, from: input}"),
    "cycle with no sink": _space(
        "a: {op: se, from: [input, b]}", "b: {op: se, from: a}"
    ),
}


@pytest.mark.parametrize("text", KNOWN_BAD.values(), ids=KNOWN_BAD)
def test_known_bad_inputs_raise_a_short_space_error(text):
    start = time.perf_counter()
    with pytest.raises(SpaceError) as caught:
        compile_space(parse_space(text, "fuzz.yaml"))
    assert time.perf_counter() - start < 5
    assert caught.value.line is not None
    assert "\n" not in str(caught.value)
    assert len(str(caught.value)) < 300


# --- mutations of the shipped spaces -----------------------------------------------------------------------


@st.composite
def mutated_space(draw) -> str:
    lines = list(draw(st.sampled_from(SPACE_LINES)))
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(
            st.sampled_from(
                ["delete", "duplicate", "swap", "token", "indent", "truncate"]
            )
        )
        if kind == "delete":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "indent":
            lines[i] = " " * draw(st.integers(0, 6)) + lines[i].lstrip()
        elif kind == "truncate":
            lines[i] = lines[i][: draw(st.integers(0, max(len(lines[i]) - 1, 0)))]
        else:
            words = lines[i].split(" ")
            j = draw(st.integers(0, len(words) - 1))
            words[j] = draw(st.one_of(st.sampled_from(TOKENS), PRINTABLE))
            lines[i] = " ".join(words)
    return "\n".join(lines)


@FUZZ
@given(mutated_space())
def test_mutated_spaces_compile_or_raise_space_error(text):
    check(text)


# --- random YAML-ish text ----------------------------------------------------------------------------------


@FUZZ
@given(st.lists(st.one_of(st.sampled_from(TOKENS), PRINTABLE), max_size=40))
def test_random_yamlish_text_compiles_or_raises_space_error(tokens):
    check(" ".join(tokens))


@FUZZ
@given(st.text(max_size=200))
def test_random_text_compiles_or_raises_space_error(text):
    check(text)


# --- random structures over the DSL's vocabulary -----------------------------------------------------------

SCALARS = st.one_of(
    st.sampled_from(VOCABULARY),
    st.integers(-3, 40),
    st.sampled_from([10**30, -(10**30), 10**400]),
    st.sampled_from([0.0, 0.5, -1.5, 1e300, float("inf"), float("nan")]),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
)
KEYS = st.one_of(
    st.sampled_from(VOCABULARY), st.integers(-2, 3), st.booleans(), st.none()
)
STRUCTURES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(KEYS, children, max_size=4),
    ),
    max_leaves=25,
)
GOOD_NAMES = ["a", "b", "c", "chan", "spat", "out"]
SET_NAMES = ["set_a", "set_b"]


def spoil(draw, noisy: bool, bad, good, one_in: int = 5):
    """A draw from `good`; in a noisy example, one time in `one_in` a draw from `bad` instead."""
    # Hypothesis favours the first option of sampled_from (the simplest): make that the good one.
    if noisy and draw(st.sampled_from([False] * (one_in - 1) + [True])):
        return draw(bad)
    return draw(good)


@st.composite
def param_value(draw, noisy: bool):
    value = st.one_of(
        st.integers(-2, 40),
        st.sampled_from([0.5, 1.0, 3.0, 1e-4, float("nan"), 10**30]),
        st.sampled_from(["paper", "timm", "light", "add", "conv", "detection"]),
        st.booleans(),
        st.lists(st.floats(-1, 2, allow_nan=False), max_size=4),
    )
    return spoil(draw, noisy, STRUCTURES, st.one_of(value, st.lists(value, max_size=3)))


@st.composite
def candidate(draw, fusion: bool, noisy: bool):
    """An op (or fusion) name, a set name, or `name: {param: value}` with the op's own parameter names."""
    names = OPS.names(lambda info: info.is_fusion == fusion)
    wrong = [*OPS.names(lambda info: info.is_fusion != fusion), "nope"]
    name = spoil(
        draw, noisy, st.sampled_from(wrong), st.sampled_from([*names, *SET_NAMES])
    )
    if name not in OPS or draw(st.booleans()):
        return name
    specs = OPS.get(name).params()
    if not specs:
        return name
    keys = draw(st.lists(st.sampled_from(list(specs)), max_size=3, unique=True))
    params = {key: draw(typed_value(specs[key], noisy)) for key in keys}
    if noisy and draw(st.sampled_from([False] * 4 + [True])):
        params["nope"] = 1
    return {name: params}


def typed_value(spec, noisy: bool):
    """A value (or a choice list of values) of the parameter's type; in noisy examples, sometimes anything."""
    if spec.allowed:
        one = st.sampled_from(spec.allowed)
    elif spec.type is bool:
        one = st.booleans()
    elif spec.type is int:
        one = st.integers(1, 32)
    elif spec.type is float:
        one = st.floats(0.01, 10)
    elif spec.type is tuple:
        one = st.lists(st.floats(0, 2), min_size=1, max_size=3)
    else:
        one = st.text(max_size=5)
    good = st.one_of(one, st.lists(one, min_size=1, max_size=3))
    return good if not noisy else st.one_of(good, param_value(noisy))


def node_options(fusion: bool, noisy: bool):
    one = candidate(fusion, noisy)
    return st.one_of(one, st.lists(one, min_size=1, max_size=4))


@st.composite
def space_like(draw) -> dict:
    """Spaces built from the DSL's own vocabulary, half of them free of deliberate mistakes, so the
    parser's deeper checks (parameters, op building, graph) are reached, not only its first ones.
    """
    noisy = draw(st.booleans())
    names = draw(
        st.lists(st.sampled_from(GOOD_NAMES), min_size=1, max_size=4, unique=True)
    )
    if noisy and draw(st.booleans()):
        names[-1] = draw(st.sampled_from(NODE_NAMES))
    graph = {}
    for i, name in enumerate(names):
        # Inputs from earlier nodes (a DAG); in noisy examples sometimes any name, even a missing one.
        earlier = st.sampled_from(["input", *names[:i]])
        anywhere = st.sampled_from(["input", *names, "nope"])
        sources = spoil(draw, noisy, st.just(anywhere), st.just(earlier))
        slot = st.one_of(
            sources, st.lists(sources, min_size=1, max_size=3, unique=True)
        )
        fusion = draw(st.booleans())
        node = {
            "fuse" if fusion else "op": spoil(
                draw, noisy, STRUCTURES, node_options(fusion, noisy)
            )
        }
        if fusion:
            node["from"] = spoil(
                draw, noisy, slot, st.lists(slot, min_size=2, max_size=4)
            )
        else:
            node["from"] = draw(slot)
        if draw(st.booleans()):
            node["residual"] = spoil(
                draw, noisy, STRUCTURES, st.sampled_from([True, False, [True, False]])
            )
        if spoil(draw, noisy, st.just(True), st.just(False), one_in=10):
            node[draw(KEYS)] = draw(STRUCTURES)
        graph[name] = node
    space = {"name": spoil(draw, noisy, SCALARS, st.just("fuzz"), one_in=10)}
    if draw(st.booleans()):
        set_names = spoil(
            draw,
            noisy,
            st.just(st.sampled_from(["se", "class", 3])),
            st.just(st.sampled_from(SET_NAMES)),
        )
        space["ops"] = draw(
            st.dictionaries(
                set_names, node_options(draw(st.booleans()), noisy), max_size=2
            )
        )
    space["graph"] = graph
    if draw(st.sampled_from([False, False, False, True])):
        space["output"] = spoil(draw, noisy, SCALARS, st.sampled_from(names))
    if spoil(draw, noisy, st.just(True), st.just(False), one_in=10):
        space[draw(KEYS)] = draw(STRUCTURES)
    return space


@FUZZ
@given(space_like())
def test_random_spaces_compile_or_raise_space_error(data):
    check(yaml.safe_dump(data, sort_keys=False))


@FUZZ
@given(STRUCTURES)
def test_random_structures_compile_or_raise_space_error(data):
    check(yaml.safe_dump(data, sort_keys=False))
