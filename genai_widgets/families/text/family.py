"""The text family: a character- (or byte-) level language model trained by AdamW on random
windows of the training text, with warm-up and cosine decay, a held-out loss every
`eval_every` steps, and a live sample strip (one sample from a fixed prompt and seed every
`sample_every` steps, stored with the run). Its capability `TEXT_GENERATION` is what a run
offers beyond the shared engine: `run.generate`, `run.bits_per_char`, `run.next_token_probs`,
`run.attention`, `run.surprisal`, `run.evaluate`, `run.baselines`, `run.memorisation`. All of
them read a copy of the weights taken between two steps (`Run.inference_copy`)."""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...engine.config import settings_of
from ...engine.family import (
    Built,
    Capability,
    Columns,
    Family,
    NextBatch,
    NonFiniteLossError,
    Settings,
    Warnings,
)
from ...engine.gradients import clip_grad_norm
from ...engine.registry import register_family
from .config import TextConfig, lr_at
from .data import TextSource, split_text
from .generation import (
    LN2,
    check_sampling,
    generate_ids,
    logits_of,
    mean_loss,
    surprisal_bits,
    token_logits,
)
from .tokenizer import tokenizer_from_state, visible

if TYPE_CHECKING:
    from ...engine.run import Run

TEXT_METRICS = ("loss", "bpc", "val_loss", "val_bpc", "lr", "tokens_per_s")

TEXT_GENERATION = Capability(
    "text generation",
    "text generation",
    methods=(
        "generate",
        "bits_per_char",
        "next_token_probs",
        "attention",
        "surprisal",
        "evaluate",
        "baselines",
        "memorisation",
    ),
    attributes=("tokenizer", "block_size", "vocab_size"),
)
#: Characters of held-out text the surprisal and attention views show by default.
PASSAGE_CHARS = 400
STRIP_SEED_OFFSET = 7  # the strip's samples draw from seed + this
DROPOUT_SEED_OFFSET = 5  # the training step's own random stream (dropout): seed + this
#: Held while torch's global generator is swapped (a dropout step) or seeded (building a
#: model): two text runs, or a run and a build in the notebook, never interleave there.
GLOBAL_RNG_LOCK = threading.Lock()
OVERFIT_WINDOW = 3  # samples / held-out losses per side of the over-fitting comparison


class TextFamily(Family):
    """A language model over the tokens of `tokenizer`, trained on `train` (a TextSource)."""

    name = "text"
    config_class = TextConfig
    module_names = ("model",)
    sample_kind = "text"
    capabilities = (TEXT_GENERATION,)
    dashboard = "genai_widgets.widgets.text.dashboard:TextDashboard"
    panels = (
        "controls",
        "curves",
        "sample strip",
        "generate",
        "surprisal",
        "attention",
        "memorisation",
    )
    description = "character-level Transformer: text"
    metric_names = TEXT_METRICS
    #: Columns that are NaN at steps where they are not measured (the held-out loss).
    sparse_metrics = ("val_loss", "val_bpc")

    def __init__(
        self,
        config: TextConfig,
        model: nn.Module,
        tokenizer: Any,
        device: torch.device,
        train: TextSource | None,
        held: TextSource | None,
    ):
        self.config = config
        self.model = model.to(device)
        self.model.train()
        self.tokenizer = tokenizer
        self.device = device
        self.train = train
        self.held = held
        self.block_size = int(config.block_size)
        self.vocab_size = int(tokenizer.vocab_size)
        self.tokens_per_step = config.batch_size * config.block_size
        # Characters per token of each split: bits per token -> bits per character.
        self.train_cpt = train.chars_per_token if train is not None else 1.0
        self.held_cpt = held.chars_per_token if held is not None else self.train_cpt
        self.eval_windows = held.windows(config.eval_tokens) if held is not None else None
        self.optimizer = _adamw(model, settings_of(config))
        self.parts = self.optimizer
        self._baselines: dict[str, Any] = {}
        self._baselines_done = threading.Event()
        self._ngram_index: set[str] | None = None
        self._novelty: list[float] = []  # the strip's novel 8-gram shares, oldest first
        self.strip_prompt = self._strip_prompt(config)
        self._rng = self._seeded_rng(config.seed + DROPOUT_SEED_OFFSET)
        self._random_step = _draws_at_random(model)

    # ------------------------------------------------------------------ the step's randomness
    def _seeded_rng(self, seed: int) -> dict[str, Tensor]:
        """The step's own random state (CPU, and the run's GPU): dropout draws from it, so the
        seed fixes those draws whatever else in the process uses torch's global generator."""
        state = {"cpu": torch.Generator().manual_seed(seed).get_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.Generator(device=self.device).manual_seed(seed).get_state()
        return state

    def rank_streams(self, rank: int, seed: int) -> None:
        """A rank's own dropout draws in a torchrun job."""
        self._rng = self._seeded_rng(seed + DROPOUT_SEED_OFFSET)

    @contextlib.contextmanager
    def _own_rng(self) -> Iterator[None]:
        """Run the block on the step's random state; torch's global generators are put back
        afterwards."""
        if not self._random_step:  # nothing draws: leave the global generator alone
            yield
            return
        cuda = "cuda" in self._rng
        with GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=[self.device] if cuda else []):
            torch.set_rng_state(self._rng["cpu"])
            if cuda:
                torch.cuda.set_rng_state(self._rng["cuda"], self.device)
            yield
            self._rng["cpu"] = torch.get_rng_state()
            if cuda:
                self._rng["cuda"] = torch.cuda.get_rng_state(self.device)

    # ------------------------------------------------------------------ training
    def step(
        self, next_batch: NextBatch, settings: Settings, step: int, *, check_finite: bool
    ) -> Tensor:
        started = time.perf_counter()
        lr = lr_at(step, settings)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        batch = next_batch()
        x, y = batch[:, :-1], batch[:, 1:]
        with self._own_rng():
            logits = logits_of(self.model, x)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            if check_finite and not math.isfinite(value := float(loss.detach())):
                raise NonFiniteLossError("loss", value)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
        if settings["grad_clip"]:
            # Through the engine: in a torchrun job it clips the gradient averaged over ranks.
            clip_grad_norm(self.model.parameters(), settings["grad_clip"])
        self.optimizer.step()
        loss = loss.detach()
        val = math.nan
        if self.eval_windows is not None and step % settings["eval_every"] == 0:
            val = self.held_loss(self.model, self.eval_windows)
        seconds = max(time.perf_counter() - started, 1e-9)
        bpc = loss / LN2 / self.train_cpt
        return torch.stack(
            [
                loss,
                bpc,
                torch.tensor(val, device=loss.device),
                torch.tensor(val / LN2 / self.held_cpt, device=loss.device),
                torch.tensor(lr, device=loss.device),
                torch.tensor(self.tokens_per_step / seconds, device=loss.device),
            ]
        ).float()

    def held_loss(self, model: nn.Module, windows: Tensor) -> float:
        """Mean held-out loss (nats per token) of `model` on `windows`, in eval mode."""
        was_training = model.training
        model.eval()
        try:
            return mean_loss(model, windows, self.config.batch_size, self.device)
        finally:
            model.train(was_training)

    def apply_settings(self, settings: dict[str, Any]) -> None:
        for group in self.optimizer.param_groups:
            group["betas"] = (settings["beta1"], settings["beta2"])
            if group["weight_decay"]:
                group["weight_decay"] = settings["weight_decay"]

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "tokenizer": self.tokenizer.state(),
            "step_rng": {key: value.clone() for key, value in self._rng.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        saved = state.get("step_rng") or {}
        for key in self._rng:
            if isinstance(saved.get(key), Tensor):
                self._rng[key] = saved[key]

    def store_meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "tokenizer": self.tokenizer.state(),
            "block_size": self.block_size,
            "vocab_size": self.vocab_size,
            "strip_prompt": self.strip_prompt,
        }
        if self._baselines:
            meta["baselines"] = self._baselines
        return meta

    # ------------------------------------------------------------------ modules
    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def result(self) -> Any:
        return self.model

    # ------------------------------------------------------------------ the strip
    def _strip_prompt(self, config: TextConfig) -> str:
        if config.sample_prompt is not None:
            return config.sample_prompt
        if self.held is not None and self.held.text:
            # The first words of the held-out text's first line with words on it.
            for line in self.held.text[1:2000].splitlines()[1:]:
                words = line.split()
                if len(words) >= 3:
                    return " ".join(words[:3]) + " "
        return ""

    def snapshot(self, run: Run) -> dict[str, Any] | None:
        """The strip's sample at this step: a fixed prompt and seed, the live weights in eval
        mode (called between steps), with its memorisation measures."""
        c = self.config
        generator = torch.Generator(device=self.device)
        generator.manual_seed(c.seed + STRIP_SEED_OFFSET)
        model = self.model
        was_training = model.training
        model.eval()
        try:
            text = self._generate(
                model,
                self._prompt_ids(self.strip_prompt),
                c.sample_tokens,
                c.sample_temperature,
                None,
                None,
                generator,
            )
        finally:
            model.train(was_training)
        record: dict[str, Any] = {
            "prompt": self.strip_prompt,
            "text": text,
            "seed": c.seed + STRIP_SEED_OFFSET,
            "temperature": c.sample_temperature,
        }
        if self.train is not None and self.train.text is not None:
            record.update(self.memorisation(run, text))
            self._novelty.append(float(record["novel_8grams"]))
            del self._novelty[: -OVERFIT_WINDOW * 4]
        return record

    def health(
        self, history: Columns, step: int, settings: Settings, evaluations: Columns | None = None
    ) -> Warnings:
        """Over-fitting: the strip's samples copy more of the training text (their novel
        8-gram share falls) while the held-out loss rises, over the last OVERFIT_WINDOW
        samples and held-out losses against the ones before."""
        from .memorisation import overfitting_warning

        val = [v for v in history.get("val_loss", ()) if v == v]  # the measured rows
        text = overfitting_warning(self._novelty, val, OVERFIT_WINDOW)
        return [("OverfittingSuspected", text)] if text else []

    # ------------------------------------------------------------------ generation
    def _prompt_ids(self, prompt: str, what: str = "the prompt") -> list[int]:
        if not isinstance(prompt, str):
            raise TypeError(f"{what} must be a str, got {type(prompt).__name__}")
        ids = self.tokenizer.encode(prompt, what=what) if prompt else []
        if not ids:  # no prompt: start after a newline (or the first token)
            newline = self.tokenizer.unknown("\n") == [] and self.tokenizer.kind != "ids"
            ids = self.tokenizer.encode("\n") if newline else [0]
        return ids

    def _generate(
        self,
        model: nn.Module,
        ids: list[int],
        max_new_tokens: int,
        temperature: float,
        top_k: int | None,
        top_p: float | None,
        generator: torch.Generator | None,
        use_cache: bool = True,
    ) -> str:
        """The text of `max_new_tokens` tokens sampled after the prompt's token `ids`."""
        new = generate_ids(
            model,
            ids,
            max_new_tokens,
            self.block_size,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            generator=generator,
            use_cache=use_cache,
            device=self.device,
            vocab_size=self.vocab_size,
        )
        return self.tokenizer.decode(new)

    def generate(
        self,
        run: Run,
        prompt: str = "",
        max_new_tokens: int = 200,
        temperature: float = 0.8,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        *,
        use_cache: bool = True,
    ) -> str:
        """The prompt followed by `max_new_tokens` sampled tokens from the current weights
        (a copy taken between two steps; training goes on). `temperature` > 0 scales the
        logits; `top_k` keeps the k likeliest tokens, `top_p` the smallest set whose
        probability reaches p; `seed` makes the draw repeatable. `use_cache=False` re-runs
        the context for every token (what the KV cache saves)."""
        check_sampling(temperature, top_k, top_p)
        if (
            isinstance(max_new_tokens, bool)
            or not isinstance(max_new_tokens, int)
            or max_new_tokens < 0
        ):
            raise ValueError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
        ids = self._prompt_ids(prompt)  # bad characters fail before a copy is taken
        generator = None
        if seed is not None:
            generator = torch.Generator(device=self.device)
            generator.manual_seed(int(seed))
        with run.inference_copy("model") as model:
            text = self._generate(
                model, ids, max_new_tokens, temperature, top_k, top_p, generator, use_cache
            )
        if self.tokenizer.kind == "ids" and prompt and text:
            return f"{prompt} {text}"  # ids are separated by spaces
        return prompt + text

    def sample(self, run: Run, n: int = 1, **options: Any) -> list[str]:
        """`n` generated texts (options as for `generate`; seeds `seed`, `seed + 1`, ...)."""
        seed = options.pop("seed", None)
        return [
            self.generate(run, seed=None if seed is None else seed + i, **options) for i in range(n)
        ]

    # ------------------------------------------------------------------ scoring
    def _scored(self, run: Run, text: str) -> tuple[list[int], Tensor]:
        ids = self._prompt_ids(text, what="the text") if text else []
        if len(ids) < 2:
            raise ValueError(f"the text must have at least 2 tokens to score; got {text!r}")
        with run.inference_copy("model") as model:
            logits = token_logits(model, ids, self.block_size)
        return ids, logits

    def bits_per_char(self, run: Run, text: str) -> float:
        """Bits per character of `text` under the current weights: every character after the
        first is predicted from up to `block_size` tokens before it."""
        ids, logits = self._scored(run, text)
        bits = surprisal_bits(logits, torch.tensor(ids[1:]))
        chars = len(text) - len(self.tokenizer.decode(ids[:1]))
        return float(bits.sum()) / max(1, chars)

    def next_token_probs(self, run: Run, text: str, k: int = 10) -> list[tuple[str, float]]:
        """The `k` likeliest next tokens after `text`, with their probabilities."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
        ids = self._prompt_ids(text, what="the text")
        with run.inference_copy("model") as model:
            context = torch.tensor([ids[-self.block_size :]], device=self.device)
            probs = logits_of(model, context)[0, -1, : self.vocab_size].float().softmax(-1)
        top = torch.topk(probs, min(k, len(probs)))
        return [
            (self.tokenizer.token_text(int(i)), float(p))
            for p, i in zip(top.values, top.indices, strict=True)
        ]

    def attention(self, run: Run, text: str | None = None) -> Tensor:
        """(n_layer, n_head, T, T) attention weights of the current weights on `text` (its
        last block_size tokens; None: the held-out passage), from an explicit softmax on a
        copy (training keeps the fused kernel). Needs a model with `attention_weights`."""
        text = self.passage() if text is None else text
        ids = self._prompt_ids(text, what="the text")[-self.block_size :]
        with run.inference_copy("model") as model:
            weights_of = getattr(model, "attention_weights", None)
            if not callable(weights_of):
                raise TypeError(
                    f"attention() needs a model with attention_weights(idx) returning "
                    f"(n_layer, B, n_head, T, T) (the built-in char-gpt has it); "
                    f"{type(model).__name__} does not"
                )
            weights = weights_of(torch.tensor([ids], device=self.device))
        return weights[:, 0].float().cpu()

    def passage(self) -> str:
        """The held-out passage the surprisal and attention views show: the start of the
        held-out text (at a line start), `block_size` tokens at most."""
        if self.held is None or not self.held.text:
            return self.strip_prompt
        text = self.held.text
        start = text.find("\n") + 1 if "\n" in text[:200] else 0
        passage = text[start : start + PASSAGE_CHARS]
        ids = self.tokenizer.encode(passage)[: self.block_size]
        return self.tokenizer.decode(ids)

    def surprisal(self, run: Run, text: str | None = None, k: int = 5) -> dict[str, Any]:
        """Per token of `text` (None: the held-out passage): its bits under the current
        weights, the `k` likeliest tokens there and the true token's rank (1: the likeliest).
        The first token has no prediction (bits NaN)."""
        text = self.passage() if text is None else text
        ids, logits = self._scored(run, text)
        logits = logits[:, : self.vocab_size]
        targets = torch.tensor(ids[1:])
        bits = surprisal_bits(logits, targets)
        probs = logits.softmax(-1)
        top = torch.topk(probs, min(k, probs.shape[-1]), dim=-1)
        rank = (probs > probs.gather(1, targets[:, None].to(probs.device))).sum(-1) + 1
        tokens = [self.tokenizer.token_text(i) for i in ids]
        return {
            "tokens": tokens,
            "bits": [math.nan, *bits.tolist()],
            "top": [[]]
            + [
                [
                    (visible(self.tokenizer.token_text(int(i))), float(p))
                    for p, i in zip(pv, iv, strict=True)
                ]
                for pv, iv in zip(top.values, top.indices, strict=True)
            ],
            "rank": [0, *rank.tolist()],
            "step": run.step,
        }

    def evaluate(self, run: Run) -> dict[str, float]:
        """Held-out loss (nats per token) and bits per character over the whole held-out
        split, with the current weights."""
        if self.held is None:
            raise RuntimeError("this run was opened without its text; pass data= to gw.load_run")
        windows = self.held.windows()
        with run.inference_copy("model") as model:
            loss = mean_loss(model, windows, self.config.batch_size, self.device)
        return {
            "val_loss": loss,
            "val_bpc": loss / LN2 / self.held_cpt,
            "tokens": int(windows[:, 1:].numel()),
            "step": run.step,
        }

    # ------------------------------------------------------------------ baselines, memorisation
    def start_baselines(self) -> None:
        """Compute the reference lines (unigram, Kneser-Ney n-grams, lzma) off the trainer,
        once per text (cached on disk)."""
        if self.train is None or self.held is None or not self.train.text:
            self._baselines_done.set()
            return

        def work() -> None:
            from .baselines import cached_baselines

            try:
                self._baselines = dict(cached_baselines(self.train.text, self.held.text))
            except Exception as exc:  # a reference line must not take the run down
                self._baselines = {"error": f"{type(exc).__name__}: {exc}"}
            finally:
                self._baselines_done.set()

        threading.Thread(target=work, name="genai-widgets-text-baselines", daemon=True).start()

    def baselines(
        self, run: Run, wait: bool = False, timeout: float | None = 60.0
    ) -> dict[str, Any]:
        """Held-out bits per character of the baselines, computed once on the training split:
        "unigram", "kn3" / "kn5" / "kn7" (character n-grams, Kneser-Ney), "lzma" (its
        compressed size of the held-out text given the training text) and "best_ngram"; {}
        until ready (`wait=True` blocks up to `timeout`)."""
        if wait:
            self._baselines_done.wait(timeout)
        return dict(self._baselines)

    def memorisation(self, run: Run, sample: str) -> dict[str, Any]:
        """How much of `sample` is copied from the training text: the longest substring it
        shares with it ("longest", "longest_text") and its share of 8-grams that are not in
        the training text ("novel_8grams")."""
        from .memorisation import memorisation, ngram_index

        if self.train is None or self.train.text is None:
            raise RuntimeError("this run was opened without its text; pass data= to gw.load_run")
        if self._ngram_index is None:
            self._ngram_index = ngram_index(self.train.text, 8)
        return memorisation(sample, self.train.text, 8, index=self._ngram_index)

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, config: TextConfig, device: torch.device) -> Built:  # type: ignore[override]
        train, held, tokenizer = split_text(
            config.data, config.tokenizer, config.block_size, config.val_fraction
        )
        model = build_text_model(config, tokenizer.vocab_size, device)
        family = cls(config, model, tokenizer, device, train, held)
        if config.sample_prompt is not None:
            family._prompt_ids(config.sample_prompt, what="sample_prompt")
        family.start_baselines()
        return Built(family, config, train, held)

    @classmethod
    def load(  # type: ignore[override]
        cls, config: TextConfig, state: dict[str, Any], device: torch.device, *, data: bool
    ) -> Built:
        tokenizer = tokenizer_from_state(state["tokenizer"])
        train = held = None
        if data:
            train, held, _ = split_text(
                config.data, config.tokenizer, config.block_size, config.val_fraction, tokenizer
            )
        model = build_text_model(config, tokenizer.vocab_size, device, probe=False)
        family = cls(config, model, tokenizer, device, train, held)
        family.start_baselines()
        return Built(family, config, train, held)


def _draws_at_random(model: nn.Module) -> bool:
    """Whether a training step of `model` draws random numbers: it holds a dropout layer with
    p > 0 (char-gpt with dropout > 0 does; its attention dropout goes with them)."""
    from torch.nn.modules.dropout import _DropoutNd

    return any(isinstance(m, _DropoutNd) and m.p > 0 for m in model.modules())


def _adamw(model: nn.Module, settings: Settings) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (nanoGPT's `configure_optimizers`)."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": settings["weight_decay"]},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(
        groups, lr=settings["lr"], betas=(settings["beta1"], settings["beta2"])
    )


def build_text_model(
    config: TextConfig, vocab_size: int, device: torch.device, *, probe: bool = True
) -> nn.Module:
    """The registered model (seeded by config.seed) or the user's module, checked on one
    window of block_size tokens."""
    from ...models import check_model_name, get_model

    model = config.model
    if isinstance(model, str):
        check_model_name(model, "text")
        with GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            return get_model(
                model,
                vocab_size=vocab_size,
                block_size=config.block_size,
                n_layer=config.n_layer,
                n_head=config.n_head,
                n_embd=config.n_embd,
                dropout=config.dropout,
            )
    if isinstance(model, type) and issubclass(model, nn.Module):
        raise TypeError(
            f"model is the class {model.__name__}; pass an instance: {model.__name__}(...)"
        )
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be 'char-gpt' or an nn.Module mapping (B, T) token ids to (B, T, "
            f"vocab) logits; got {type(model).__name__}"
        )
    if probe:
        probe_text_model(model, config.block_size, vocab_size, device)
    return model


def probe_text_model(
    model: nn.Module, block_size: int, vocab_size: int, device: torch.device
) -> None:
    """One window of `block_size` tokens through a user's model: it must accept that many
    positions and give at least `vocab_size` logits per position."""
    own = getattr(model, "block_size", None)
    if isinstance(own, int) and own < block_size:
        raise ValueError(
            f"block_size={block_size} is larger than the model accepts: its block_size is "
            f"{own}; pass block_size={own} or less"
        )
    was_training = model.training
    model.to(device).eval()
    try:
        with torch.no_grad():
            idx = torch.zeros(2, block_size, dtype=torch.long, device=device)
            try:
                out = logits_of(model, idx)
            except Exception as exc:
                raise ValueError(
                    f"the model failed on a batch of shape (2, block_size={block_size}) of "
                    f"token ids: {type(exc).__name__}: {exc}; if it accepts fewer positions, "
                    f"lower block_size"
                ) from exc
    finally:
        model.train(was_training)
    if not isinstance(out, Tensor) or out.dim() != 3 or out.shape[:2] != (2, block_size):
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(
            f"the model must map (B, T) token ids to (B, T, vocab) logits: for (2, "
            f"{block_size}) it gave {shape}"
        )
    if out.shape[2] < vocab_size:
        raise ValueError(
            f"the model gives {out.shape[2]} logits per position but the tokenizer has "
            f"{vocab_size} tokens; its output layer needs at least {vocab_size}"
        )


register_family(TextFamily)
