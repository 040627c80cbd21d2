"""Property tests of the flag parser (parse only, nothing trains): whatever the line, the
outcome is a valid GANConfig or a one-line UsageError; valid values round-trip exactly."""

from __future__ import annotations

import shlex

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

from genai_widgets.engine.config import DEVICES, validate_config
from genai_widgets.families.gan.config import LOSSES, GANConfig
from genai_widgets.magics import GanTrainArgs, flag_specs, parse_gan_train
from genai_widgets.models import list_models

SPECS = flag_specs()
FLAGS = [spec.flag for spec in SPECS.values()]
SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,  # leave no .hypothesis/ behind
    suppress_health_check=[HealthCheck.too_slow],
)

near_misses = (
    st.sampled_from(FLAGS)
    .map(lambda f: st.sampled_from([f.replace("-", "_"), f[:-1], f + "s", f.upper(), f[1:]]))
    .flatmap(lambda s: s)
)
flag_tokens = st.one_of(
    st.sampled_from(FLAGS + ["--as", "--help", "-h", "--", "-"]),
    near_misses,
    st.text(min_size=1, max_size=8).map(lambda s: "--" + s),
)
value_tokens = st.one_of(
    st.integers(-(10**6), 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["none", "None", "NONE", "", "nan", "inf", "-0", "1e-3", "1_000", "0x10"]),
    st.sampled_from(list(LOSSES) + list(DEVICES) + list(list_models()) + ["cuda:0", "cuda:x"]),
    st.sampled_from(["digits", "ring", "./images", "wgan", "gpu", "run", "1run", "class"]),
    st.text(max_size=12),
)


# Values a user might plausibly give each kind of flag: in range, out of range, or mistyped.
_PLAUSIBLE = {
    "int": st.one_of(st.integers(-3, 10**6).map(str), st.sampled_from(["2.5", "1e3", "ten"])),
    "float": st.one_of(
        st.floats(-1, 20).map(repr), st.sampled_from(["2e-4", "1", "fast", "nan", "1e400"])
    ),
    "loss": st.sampled_from([*LOSSES, "wgan", "Hinge"]),
    "device": st.sampled_from([*DEVICES, "cuda:0", "cuda:x", "gpu"]),
    "model": st.sampled_from([*list_models(), "dcgna", ""]),
    "data": st.sampled_from(["digits", "ring", "./my images", "mnist", ""]),
    "text": st.one_of(st.text(max_size=10), st.just("none")),
    "bool": st.sampled_from(["true", "false", "True", "no", "1", "maybe", ""]),
}


@st.composite
def flag_lines(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.integers(0, 4)) == 0:  # junk: unknown flags, stray words, bare values
            flag = draw(flag_tokens)
            parts.append(
                f"{flag} {shlex.quote(draw(value_tokens))}" if draw(st.booleans()) else flag
            )
            continue
        if draw(st.integers(0, 9)) == 0:
            parts.append(f"--as {draw(st.sampled_from(['gan', 'run2', '1x', 'def', '']))}")
            continue
        spec = SPECS[draw(st.sampled_from(list(SPECS)))]
        value = (
            "none"
            if spec.optional and draw(st.integers(0, 5)) == 0
            else draw(_PLAUSIBLE[spec.kind])
        )
        sep = "=" if draw(st.booleans()) else " "
        parts.append(f"{spec.flag}{sep}{shlex.quote(value)}")
    return " ".join(parts)


def check_outcome(line: str) -> None:
    try:
        args = parse_gan_train(line)
    except UsageError as exc:
        message = str(exc)
        assert message and "\n" not in message, repr(message)
        return
    assert isinstance(args, GanTrainArgs) and isinstance(args.config, GANConfig)
    validate_config(args.config)  # raises if the parser let an invalid value through
    assert args.as_name.isidentifier()


@SETTINGS
@given(flag_lines())
def test_flag_lines_give_a_valid_config_or_a_usage_error(line):
    check_outcome(line)


@SETTINGS
@given(st.text(max_size=80))
def test_arbitrary_text_gives_a_valid_config_or_a_usage_error(line):
    check_outcome(line)


# Values every field accepts (ranges inside what validate_config allows).
_names = st.from_regex(r"[A-Za-z0-9_./-]{1,12}", fullmatch=True).filter(
    lambda s: s.lower() != "none"
)
_VALUES = {
    "int": st.integers(4, 10**9),
    "float": st.floats(0.01, 0.99),
    "loss": st.sampled_from(LOSSES),
    "device": st.sampled_from(list(DEVICES) + ["cuda:1"]),
    "model": st.sampled_from(list_models()),
    "data": _names,
    "text": _names,
    "bool": st.booleans(),
}

# Fields whose text has a grammar of its own.
_FIELD_VALUES = {
    "augment": st.sampled_from(["none", "translation", "translation,cutout", "color,cutout"]),
    # torchrun's: a multi-node job names its rendezvous (a single-node one may too).
    "nproc": st.just(1),
    "nnodes": st.just(1),
    "rdzv_endpoint": st.sampled_from(["127.0.0.1:29500", "node0:1234"]),
    "rdzv_id": st.sampled_from(["job-1", "x.y_z"]),
}


@st.composite
def valid_assignments(draw: st.DrawFn) -> dict:
    fields = draw(st.lists(st.sampled_from(list(SPECS)), unique=True, max_size=len(SPECS)))
    out = {}
    for name in fields:
        spec = SPECS[name]
        if spec.optional and draw(st.integers(0, 4)) == 0:
            out[name] = None
        elif name in _FIELD_VALUES:
            out[name] = draw(_FIELD_VALUES[name])
        else:
            out[name] = draw(_VALUES[spec.kind])
    return out


def as_text(value) -> str:
    if value is None:
        return "none"
    return shlex.quote(repr(value) if isinstance(value, float) else str(value))


@SETTINGS
@given(valid_assignments(), st.booleans())
def test_valid_values_round_trip(values, equals_form):
    def pair(name, value):
        text = as_text(value)
        # A separate value that starts with -- reads as the next flag: that needs the = form.
        sep = "=" if equals_form or text.startswith("--") else " "
        return f"{SPECS[name].flag}{sep}{text}"

    line = " ".join(pair(k, v) for k, v in values.items())
    args = parse_gan_train(line + " --as trained")
    assert {k: getattr(args.config, k) for k in values} == values
    assert args.given == values and args.as_name == "trained"
