"""What `thinksafe eval` checks before any model is loaded or called: one ArgumentError line (exit 2)."""

from __future__ import annotations

from pathlib import Path

from thinksafe.errors import ArgumentError, OptionError

DEFAULT_TIMEOUT_S = 900.0  # total per request: a reasoning model may think for many minutes


MODEL_SPEC_HELP = "hf:<id or path>[+<adapter>], openai:<model>[@<base-url>] or vllm:<id or path>[#key=value,...]"


def parse_options(items: list[str] | None) -> dict[str, str]:
    """`--option KEY=VALUE` items as a dict; an item without `=` or without a key is an error."""
    parsed: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ArgumentError(f"--option takes KEY=VALUE, got {item!r}")
        parsed[key.strip()] = value.strip()
    return parsed


def check_model_spec(spec: str, flag: str, *, judge: bool = False) -> None:
    """A model spec that cannot work: unknown backend, empty name, bad URL, a local path that does not exist."""
    from thinksafe.models.base import _BACKENDS, parse_spec
    from thinksafe.models.hf_loading import missing_local_path

    text = spec.partition("#")[0].strip() if judge else spec.strip()  # judge specs may end in #key=value options
    if judge and not text and "#" in spec:
        return  # options only (e.g. turning-point=#inner=refusal-rules): the judge itself needs no model
    try:
        scheme, name, base_url = parse_spec(text)
    except ValueError:
        raise ArgumentError(f"{flag} {spec!r} is not a model spec: use {MODEL_SPEC_HELP}") from None
    known = {"hf", "openai", "vllm", *_BACKENDS}
    if scheme not in known:
        raise ArgumentError(f"{flag} {spec!r}: unknown model backend {scheme!r}; known: {', '.join(sorted(known))}")
    if not name.strip() or (scheme in ("hf", "vllm") and not name.partition("+")[0].strip()):
        raise ArgumentError(f"{flag} {spec!r} names no model: use {MODEL_SPEC_HELP}")
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        raise ArgumentError(f"{flag} {spec!r}: the server URL after @ must start with http:// or https://")
    if scheme in ("hf", "vllm"):
        missing = missing_local_path(name)
        if missing:
            raise ArgumentError(f"{flag} {spec}: {missing}")


def _check_numbers(**given: tuple[float | int | None, str]) -> None:
    for flag, (value, rule) in given.items():
        if value is None:
            continue
        ok = {">0": value > 0, ">=0": value >= 0, ">=1": value >= 1, "(0,1]": 0 < value <= 1}[rule]
        if not ok:
            need = {">0": "more than 0", ">=0": "0 or more", ">=1": "1 or more", "(0,1]": "in (0, 1]"}[rule]
            raise ArgumentError(f"--{flag.replace('_', '-')} must be {need}, got {value}")


def _member_benchmarks(benchmark: str, options: dict[str, str], judge_model: str | None) -> list:
    """The benchmark (or each suite member), built with its options: unknown names and options fail here."""
    from thinksafe.benchmarks.base import (
        ALWAYS_ALLOWED_OPTIONS,
        benchmark_names,
        check_option_value,
        get_benchmark,
        member_options,
        suite_names,
    )

    benchmarks, suites = benchmark_names(), suite_names()
    with_judge = dict(options)
    if judge_model is not None:
        with_judge.setdefault("judge_model", judge_model)
    if benchmark in suites:
        members = suites[benchmark].members
        for member in members:
            if member not in benchmarks:
                raise ArgumentError(f"suite {benchmark!r} names benchmark {member!r}, which is not registered")
        declared = {m: {o.name: o for o in getattr(benchmarks[m], "declared_options", ())} for m in members}
        for key, value in options.items():
            if key in ALWAYS_ALLOWED_OPTIONS:
                continue
            owners = [m for m in members if key in declared[m]]
            if not owners:
                known = sorted({name for d in declared.values() for name in d})
                raise OptionError(f"no member of suite {benchmark!r} has option {key!r}; their options: {', '.join(known) or 'none'}")
            for owner in owners:
                check_option_value(declared[owner][key], value, owner)
        return [get_benchmark(m, **member_options(m, with_judge)) for m in members]
    if benchmark not in benchmarks:
        raise ArgumentError(
            f"unknown benchmark {benchmark!r}; benchmarks: {', '.join(benchmarks)}; suites: {', '.join(suites) or 'none'}"
        )
    return [get_benchmark(benchmark, **with_judge)]


def eval_endpoints(base_url: str | list[str] | None, base_urls_file: Path | None = None) -> list[str]:
    """The servers --base-url (repeatable) and --base-urls-file name, in order, repeats dropped."""
    from thinksafe.models.endpoints import normalise_urls, read_urls_file

    urls = [base_url] if isinstance(base_url, str) else list(base_url or [])
    if base_urls_file is not None:
        try:
            listed = read_urls_file(Path(base_urls_file).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as error:
            raise ArgumentError(f"--base-urls-file {base_urls_file}: cannot read it ({error})") from None
        if not listed:
            raise ArgumentError(f"--base-urls-file {base_urls_file} names no URL (one a line; # starts a comment)")
        urls += listed
    return normalise_urls(urls)


def check_eval_args(
    *,
    model: str,
    benchmark: str,
    judges: list[str] | None = None,
    judge_model: str | None = None,
    limit: int | None = None,
    base_url: str | list[str] | None = None,
    base_urls_file: Path | None = None,
    shard: str | None = None,
    concurrency: int = 32,
    max_retries: int = 6,
    batch_size: int = 16,
    max_new_tokens: int | None = None,
    temperature: float = 0.6,
    top_p: float = 0.95,
    samples: int = 1,
    timeout: float = DEFAULT_TIMEOUT_S,
    attacks: list[str] | None = None,
    benchmark_options: dict[str, str] | None = None,
    role_models: dict[str, str] | None = None,
) -> None:
    """Everything `thinksafe eval` can check before a model is loaded or called; raises ArgumentError."""
    from thinksafe.benchmarks.base import suite_names
    from thinksafe.judges.base import judge_names

    _check_numbers(
        limit=(limit, ">=1"), concurrency=(concurrency, ">=1"), max_retries=(max_retries, ">=0"),
        batch_size=(batch_size, ">=1"), max_new_tokens=(max_new_tokens, ">=1"), samples=(samples, ">=1"),
        timeout=(timeout, ">0"), temperature=(temperature, ">=0"), top_p=(top_p, "(0,1]"),
    )
    check_model_spec(model, "--model")
    urls = eval_endpoints(base_url, base_urls_file)
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise ArgumentError(f"--base-url {url!r} must start with http:// or https://")
    if len(urls) > 1 and model.startswith("openai:") and "@" in model:
        raise ArgumentError(f"--model {model!r} names its server after @, so the {len(urls)} --base-url servers "
                            "would go unused: drop the @URL to spread requests over them")
    if shard is not None:
        from thinksafe.sharding import parse_shard

        parse_shard(shard)
    if judge_model is not None:
        check_model_spec(judge_model, "--judge-model", judge=True)
    options = dict(benchmark_options or {})
    for key, flag in (("victim_model", "--victim-model"), ("expansion_model", "--expansion-model")):
        if options.get(key):
            check_model_spec(options[key], flag)
    members = _member_benchmarks(benchmark, options, judge_model)
    for role, spec in (role_models or {}).items():
        check_model_spec(spec, f"--{role}-model")
    if attacks:
        from thinksafe.attacks.base import AttackError, SolverAttack, plan_attacks

        for attack in plan_attacks(attacks):  # unknown names and options, and missing attack models, fail here
            needed = getattr(attack, "roles", ()) if isinstance(attack, SolverAttack) else ()
            have = {"judge": judge_model, **(role_models or {})}
            for role in needed:
                if not have.get(role):
                    raise AttackError(f"attack {attack.label!r} needs a model in the {role} role: pass --{role}-model SPEC")
    known = judge_names()
    suite = suite_names().get(benchmark)
    if judges:
        wanted = [(text, "--judge") for text in judges]
    elif suite is not None and suite.default_judges:
        wanted = [(text, f"a default judge of suite {benchmark}") for text in suite.default_judges]
    else:
        wanted = [(text, f"a default judge of {bench.name}") for bench in members for text in bench.default_judges]
    for text, origin in wanted:
        name, _, spec = text.partition("=")
        name, spec = name.strip(), spec.strip()
        if name not in known:
            raise ArgumentError(f"unknown judge {name!r} ({origin}); known: {', '.join(known)}")
        if spec:
            check_model_spec(spec, f"--judge {name}=", judge=True)
        elif known[name].needs_model and not judge_model:
            raise ArgumentError(
                f"judge {name!r} ({origin}) needs a model: pass --judge-model SPEC or --judge {name}=SPEC"
                + ("" if origin == "--judge" else ", or choose other judges with --judge")
            )
