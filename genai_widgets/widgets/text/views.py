"""The text family's views from the current weights (parts of the TextDashboard): steering
(a prompt, temperature, top-k and length, and Generate), the surprisal of the held-out passage
and the attention heatmap on its last tokens.

No torch work runs on the comm thread or the trainer: a Generate click starts a worker thread
(one at a time; a click while one runs waits for it, the newest wins), and the flusher starts
one for the surprisal and attention when the step changed and `views_refresh_seconds` have
passed. The workers read a copy of the weights (`run.generate`, `run.surprisal`,
`run.attention`) and leave their results under a lock; the flusher writes them into traits."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import numpy as np
import traitlets as t

from ...engine.threads import foreground_torch
from ...families.text.tokenizer import visible
from .._base import Panel
from ..flusher import Pacer, Tick

MAX_NEW_TOKENS = 2000
ATTENTION_TOKENS = 64


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def parse_generate(content: dict[str, Any]) -> dict[str, Any]:
    """The Generate message's fields -> `run.generate` keyword arguments; ValueError says why
    not (temperature > 0, top-k >= 1 or empty, length 1-2000)."""
    prompt = content.get("prompt", "")
    if not isinstance(prompt, str):
        raise ValueError(f"the prompt must be text, got {type(prompt).__name__}")
    try:
        temperature = float(content.get("temperature", 0.8))
    except (TypeError, ValueError):
        raise ValueError(
            f"temperature must be a number > 0, got {content.get('temperature')!r}"
        ) from None
    if not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a number > 0, got {temperature:g}")
    raw_k = content.get("top_k")
    top_k: int | None = None
    if raw_k not in (None, "", 0, "0"):
        try:
            k = float(raw_k)
        except (TypeError, ValueError):
            raise ValueError(f"top-k must be a whole number >= 1 or empty, got {raw_k!r}") from None
        if not k.is_integer() or k < 1:
            raise ValueError(f"top-k must be a whole number >= 1 or empty, got {raw_k!r}")
        top_k = int(k)
    try:
        length = float(content.get("max_new_tokens", 200))
    except (TypeError, ValueError):
        raise ValueError(
            f"length must be a whole number of characters, got {content.get('max_new_tokens')!r}"
        ) from None
    if not length.is_integer() or not 1 <= length <= MAX_NEW_TOKENS:
        raise ValueError(f"length must be a whole number in [1, {MAX_NEW_TOKENS}], got {length:g}")
    seed = content.get("seed")
    return {
        "prompt": prompt,
        "max_new_tokens": int(length),
        "temperature": temperature,
        "top_k": top_k,
        "seed": None if seed in (None, "") else int(seed),
    }


class SteeringPanel(Panel):
    """Traits and logic of the Generate panel."""

    gen_prompt = t.Unicode("").tag(sync=True)
    """str: the prompt box's initial text (default: the strip's fixed prompt)."""

    gen_temperature = t.Float(0.8).tag(sync=True)
    """float: the temperature field's initial value (> 0)."""

    gen_top_k = t.Int(0, min=0).tag(sync=True)
    """int: the top-k field's initial value (0: no top-k)."""

    gen_length = t.Int(200, min=1, max=MAX_NEW_TOKENS).tag(sync=True)
    """int: the length field's initial value (new characters, 1-2000)."""

    gen_busy = t.Bool(False).tag(sync=True)
    """bool: an answer is being generated."""

    gen_result = t.Dict().tag(sync=True)
    """dict: the last answer: {"id", "prompt", "text" (the prompt and its continuation),
    "step" (of the weights), "seconds", "error" ('' or one line)} ({} before the first)."""

    def _init_panel(self, run: Any) -> None:
        self._gen_lock = threading.Lock()
        self._gen_pending: dict[str, Any] | None = None  # the newest request not yet started
        self._gen_thread: threading.Thread | None = None
        self._gen_answer: dict[str, Any] | None = None
        self._gen_id = 0
        self._gen_closed = False
        if not self.gen_prompt:
            self.gen_prompt = str(getattr(run.family, "strip_prompt", "") or "")

    def _flush_panel(self, tick: Tick) -> None:
        with self._gen_lock:
            answer, self._gen_answer = self._gen_answer, None
            busy = self._gen_thread is not None or self._gen_pending is not None
        if answer is not None:
            self.gen_result = answer
        if busy != self.gen_busy:
            self.gen_busy = busy

    def _handle_message(self, content: dict[str, Any]) -> bool:
        if content.get("type") != "generate":
            return False
        self._gen_id += 1
        request_id = int(content.get("id", self._gen_id))
        try:
            options = parse_generate(content)
        except ValueError as error:
            with self._gen_lock:
                self._gen_answer = self._gen_error(request_id, content, str(error))
            return True
        with self._gen_lock:
            self._gen_pending = {"id": request_id, **options}
            if self._gen_thread is None and not self._gen_closed:
                self._gen_thread = threading.Thread(
                    target=self._gen_work, name="genai-widgets-text-generate", daemon=True
                )
                self._gen_thread.start()
        return True

    @staticmethod
    def _gen_error(request_id: int, content: dict[str, Any], text: str) -> dict[str, Any]:
        prompt = content.get("prompt", "")
        return {
            "id": request_id,
            "prompt": prompt if isinstance(prompt, str) else "",
            "text": "",
            "step": -1,
            "seconds": 0.0,
            "error": text,
        }

    def _gen_work(self) -> None:
        while True:
            with self._gen_lock:
                request, self._gen_pending = self._gen_pending, None
                if request is None or self._gen_closed:
                    self._gen_thread = None
                    return
            request_id = request.pop("id")
            started = time.perf_counter()
            step = int(self.run.step)
            try:
                with foreground_torch():
                    text = self.run.generate(**request)
                answer = {
                    "id": request_id,
                    "prompt": request["prompt"],
                    "text": text,
                    "step": step,
                    "seconds": round(time.perf_counter() - started, 3),
                    "error": "",
                }
            except Exception as error:  # shown in the panel, one line
                answer = self._gen_error(request_id, request, _one_line(error))
            with self._gen_lock:
                self._gen_answer = answer

    def generate(
        self,
        prompt: str,
        max_new_tokens: int = 200,
        temperature: float = 0.8,
        top_k: int | None = None,
        seed: int | None = None,
    ) -> None:
        """What typing `prompt` and clicking Generate does (for scripts and tests): the answer
        lands in `gen_result` (a worker thread computes it; the flusher writes it)."""
        self._on_custom_message(  # every panel's handler, as a message from the browser
            self,
            {
                "type": "generate",
                "prompt": prompt,
                "max_new_tokens": max_new_tokens,
                "temperature": temperature,
                "top_k": top_k,
                "seed": seed,
            },
            [],
        )

    def _gen_close(self) -> None:
        if not hasattr(self, "_gen_lock"):  # refused before its panels were set up
            return
        with self._gen_lock:
            self._gen_closed = True
            self._gen_pending = None


def _round(values: Any, digits: int) -> list[float | None]:
    out: list[float | None] = []
    for v in values:
        v = float(v)
        out.append(round(v, digits) if math.isfinite(v) else None)
    return out


def surprisal_payload(result: dict[str, Any]) -> dict[str, Any]:
    """`run.surprisal()` as it travels: JSON-safe (NaN -> None) and rounded."""
    return {
        "tokens": [str(tok) for tok in result["tokens"]],
        "bits": _round(result["bits"], 3),
        "top": [[[str(tok), round(float(p), 4)] for tok, p in top] for top in result["top"]],
        "rank": [int(r) for r in result["rank"]],
        "step": int(result.get("step", -1)),
    }


class TextViewsPanel(Panel):
    """Traits and flush logic of the surprisal view and the attention heatmap."""

    views_refresh_seconds = t.Float(2.0, min=0.2).tag(sync=True)
    """float: at most one automatic update of the surprisal and attention per this many seconds
    while training (default 2), and only when the step changed; fewer where an update costs
    more than VIEW_DUTY of the time (`flusher.Pacer`)."""

    views_auto = t.Bool(True).tag(sync=True)
    """bool: follow the training (default True); False: on a "views_refresh" message."""

    views_busy = t.Bool(False).tag(sync=True)
    """bool: the surprisal and attention are being computed."""

    views_error = t.Unicode("").tag(sync=True)
    """str: why the views could not be computed ('' if they were)."""

    surprisal = t.Dict().tag(sync=True)
    """dict: the held-out passage scored by the current weights: "tokens" [str], "bits"
    [float | None] (None: the first token, with no prediction), "top" [[[token, p]] * 5]
    (the likeliest next tokens there), "rank" [int] (the true token's, 1: the likeliest),
    "step" ({} before the first)."""

    surprisal_scale = t.Float(8.0).tag(sync=True)
    """float: bits at the dark end of the colour scale (log2 of the vocabulary size)."""

    attention_layer = t.Int(0, min=0).tag(sync=True)
    """int: the layer the heatmap shows (the picker sets it)."""

    attention_head = t.Int(0, min=0).tag(sync=True)
    """int: the head the heatmap shows (the picker sets it)."""

    attention_shape = t.List(t.Int(), default_value=[0, 0]).tag(sync=True)
    """list[int]: [n_layer, n_head] of the model."""

    attention_tokens = t.List(t.Unicode(), default_value=[]).tag(sync=True)
    """list[str]: the heatmap's axis labels: the passage's last tokens, made visible."""

    attention_weights = t.Bytes(b"").tag(sync=True)
    """bytes: float32 (T, T), row = query position, column = key position, of the picked
    layer and head (b"" before the first)."""

    attention_step = t.Int(-1).tag(sync=True)
    """int: training step of the weights of the heatmap and the surprisal (-1: not yet)."""

    def _init_panel(self, run: Any) -> None:
        self._views_lock = threading.Lock()
        self._views_dirty = True
        self._views_pacer = Pacer()  # following training costs at most VIEW_DUTY
        self._views_thread: threading.Thread | None = None
        self._views_done: dict[str, Any] | None = None
        self._attention_full: np.ndarray | None = None
        self._attention_shown: tuple[int, int, int] = (-1, -1, -1)
        vocab = int(getattr(run.family, "vocab_size", 256) or 256)
        self.surprisal_scale = float(max(1.0, math.ceil(math.log2(max(2, vocab)))))
        self.observe(self._attention_pick, names=["attention_layer", "attention_head"])

    def _attention_pick(self, _change: Any = None) -> None:
        with self._views_lock:
            self._attention_shown = (-1, -1, -1)

    def _flush_panel(self, tick: Tick) -> None:
        with self._views_lock:
            done, self._views_done = self._views_done, None
            running = self._views_thread is not None
            dirty = self._views_dirty
        if done is not None:
            self._views_write(done)
        self._attention_write()
        if running != self.views_busy:
            self.views_busy = running
        if running:
            return
        due = (
            self.views_auto
            and tick.step != self.attention_step
            and tick.step > 0
            and self._views_pacer.due(tick.time)
        )
        if not (dirty or due):
            return
        if int(tick.step) <= 0 and not dirty:
            return
        with self._views_lock:
            self._views_dirty = False
            self._views_thread = threading.Thread(
                target=self._views_work, name="genai-widgets-text-views", daemon=True
            )
            self._views_thread.start()
        self.views_busy = True

    def _views_work(self) -> None:
        run = self.run
        done: dict[str, Any] = {}
        self._views_pacer.min_interval = self.views_refresh_seconds
        try:
            with foreground_torch(), self._views_pacer.timed():
                result = run.surprisal(k=5)
                done["surprisal"] = surprisal_payload(result)
                tokenizer = run.family.tokenizer
                passage = "".join(result["tokens"])
                ids = tokenizer.encode(passage)[-ATTENTION_TOKENS:]
                done["attention_tokens"] = [visible(tokenizer.token_text(i)) for i in ids]
                window = tokenizer.decode(ids)
                done["attention"] = run.attention(window).numpy().astype(np.float32)
                done["step"] = int(result.get("step", run.step))
        except Exception as error:  # shown in the panel, one line
            done["error"] = _one_line(error)
        with self._views_lock:
            self._views_done = done
            self._views_thread = None

    def _views_write(self, done: dict[str, Any]) -> None:
        if "error" in done:
            self.views_error = done["error"]
            return
        self.views_error = ""
        self.surprisal = done["surprisal"]
        weights = done["attention"]
        tokens = done["attention_tokens"]
        if weights.shape[-1] != len(tokens):  # a decode/encode round trip changed the count
            tokens = (tokens + ["?"] * weights.shape[-1])[: weights.shape[-1]]
        self._attention_full = weights
        self.attention_tokens = tokens
        self.attention_shape = [int(weights.shape[0]), int(weights.shape[1])]
        self.attention_step = done["step"]
        with self._views_lock:
            self._attention_shown = (-1, -1, -1)

    def _attention_write(self) -> None:
        weights = self._attention_full
        if weights is None:
            return
        layer = min(self.attention_layer, weights.shape[0] - 1)
        head = min(self.attention_head, weights.shape[1] - 1)
        key = (layer, head, self.attention_step)
        with self._views_lock:
            if key == self._attention_shown:
                return
            self._attention_shown = key
        self.attention_weights = np.ascontiguousarray(weights[layer, head]).tobytes()

    def _handle_message(self, content: dict[str, Any]) -> bool:
        if content.get("type") == "views_refresh":
            with self._views_lock:
                self._views_dirty = True
            return True
        return False

    def attention_matrix(self) -> np.ndarray | None:
        """The (T, T) weights of the picked layer and head as shown (None before the first)."""
        if not self.attention_weights:
            return None
        n = len(self.attention_tokens)
        return np.frombuffer(self.attention_weights, dtype=np.float32).reshape(n, n)
