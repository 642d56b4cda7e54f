"""llama-cpp-python backend: one GGUF model in memory, streamed token by token.

Cancel and the wall-clock budget are checked between tokens, so stopping costs at most
one token's time (tens of milliseconds on the small models). The prompt style follows
the manifest: base models get a plain completion, instruct models the chat template
stored in their GGUF metadata (llama.cpp applies it).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kiosk.errors import LLMError, ModelError
from kiosk.llm.backend import GenerationRequest, PromptStyle


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """llama.cpp prints some notices straight to file descriptor 2 even when not verbose;
    on a full-screen kiosk that would scribble over the display."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class LlamaCppBackend:
    def __init__(
        self,
        model_path: Path,
        prompt_style: PromptStyle | str = "auto",
        n_ctx: int = 2048,
        threads: int = 0,
        name: str = "",
    ) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as e:
            raise LLMError(
                "llm.import", f"llama-cpp-python is not importable: {e}", "run os-image/install.sh"
            ) from e
        try:
            with _quiet_stderr():
                self._llm = Llama(
                    model_path=str(model_path),
                    n_ctx=n_ctx,
                    n_threads=threads or os.cpu_count() or 2,
                    verbose=False,
                    logits_all=False,
                )
        except (ValueError, RuntimeError) as e:
            raise ModelError(
                "model.load", f"llama.cpp could not load {model_path}: {e}", "check the file is a GGUF model"
            ) from e
        # llama.cpp reports an aborted decode (our own cancel) at ERROR level on stderr;
        # real failures reach us as exceptions, so its console chatter is switched off.
        logging.getLogger("llama-cpp-python").setLevel(logging.CRITICAL)
        self.name = name or f"llama.cpp:{model_path.name}"
        self.backend = "cpu"
        """The configured name of this backend ([llm] backends)."""
        if prompt_style == "auto":
            has_template = bool(self._llm.metadata.get("tokenizer.chat_template"))
            prompt_style = "chat" if has_template else "completion"
        self.prompt_style: PromptStyle = prompt_style  # type: ignore[assignment]
        self._lock = threading.Lock()
        # Every call into llama.cpp runs on this one thread. llama.cpp's OpenMP keeps a
        # spinning worker team per calling thread; calls from several threads leave several
        # teams competing for the cores (measured: generation ~1.6x slower on 2 cores).
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama")
        self._watch: tuple[threading.Event, float | None] | None = None
        self._install_abort()

    def _install_abort(self) -> None:
        """Let a cancel stop llama.cpp inside a prompt evaluation, not only between tokens.

        Reading a long prompt takes a second or more on a Pi, and a visitor's Escape (or
        the kiosk visitor preempting a web answer) should not wait for it. The callback is
        only installed while the prompt is read: llama.cpp calls it for every graph node,
        which costs about a tenth of the generation speed if left on.
        """
        import llama_cpp

        def should_abort(_data: object) -> bool:
            watch = self._watch
            if watch is None:
                return False
            cancel, deadline = watch
            return cancel.is_set() or (deadline is not None and time.monotonic() > deadline)

        self._abort_cb = llama_cpp.ggml_abort_callback(should_abort)
        self._no_abort_cb = ctypes.cast(None, llama_cpp.ggml_abort_callback)
        self._set_abort = lambda on: llama_cpp.llama_set_abort_callback(
            self._llm._ctx.ctx, self._abort_cb if on else self._no_abort_cb, None
        )

    @property
    def n_ctx(self) -> int:
        return int(self._llm.n_ctx())

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=True))

    def raw(self):
        """The underlying ``llama_cpp.Llama`` (for the benchmark's raw-library baseline)."""
        return self._llm

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[str]:
        with self._lock:  # llama.cpp contexts are not thread-safe
            if request.messages:
                chunks = self._llm.create_chat_completion(
                    messages=[{"role": m.role, "content": m.content} for m in request.messages],
                    max_tokens=request.max_tokens,
                    temperature=request.temperature,
                    seed=request.seed,
                    stop=request.stop or None,
                    stream=True,
                )
                texts = (c["choices"][0]["delta"].get("content") or "" for c in chunks)
            else:
                chunks = self._llm.create_completion(
                    prompt=request.prompt,
                    max_tokens=request.max_tokens,
                    temperature=request.temperature,
                    seed=request.seed,
                    stop=request.stop or None,
                    stream=True,
                )
                texts = (c["choices"][0]["text"] for c in chunks)
            self._watch = (cancel, request.deadline)
            self._set_abort(True)
            reading_prompt = True
            try:
                for text in texts:
                    if reading_prompt:
                        self._set_abort(False)
                        reading_prompt = False
                    if cancel.is_set():
                        return
                    if request.deadline is not None and time.monotonic() > request.deadline:
                        return
                    if text:
                        yield text
            except (RuntimeError, ValueError) as e:
                if cancel.is_set() or (request.deadline is not None and time.monotonic() > request.deadline):
                    return  # aborted on purpose while reading the prompt
                raise LLMError("llm.generate", f"generation failed: {e}", "run: kiosk doctor") from e
            finally:
                self._watch = None
                self._set_abort(False)
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
