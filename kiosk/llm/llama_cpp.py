"""llama-cpp-python backend: one GGUF model in memory, streamed token by token.

Cancel and the wall-clock budget are checked between tokens, so stopping costs at most
one token's time (tens of milliseconds on the small models). The prompt style follows
the manifest: base models get a plain completion, instruct models the chat template
stored in their GGUF metadata (llama.cpp applies it).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
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
        self.name = name or f"llama.cpp:{model_path.name}"
        if prompt_style == "auto":
            has_template = bool(self._llm.metadata.get("tokenizer.chat_template"))
            prompt_style = "chat" if has_template else "completion"
        self.prompt_style: PromptStyle = prompt_style  # type: ignore[assignment]
        self._lock = threading.Lock()

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
            try:
                for text in texts:
                    if cancel.is_set():
                        return
                    if request.deadline is not None and time.monotonic() > request.deadline:
                        return
                    if text:
                        yield text
            except (RuntimeError, ValueError) as e:
                raise LLMError("llm.generate", f"generation failed: {e}", "run: kiosk doctor") from e
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
