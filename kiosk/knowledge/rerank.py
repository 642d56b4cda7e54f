"""Which retrieved entry answers: reranking by how likely the entry makes the question.

The sentence encoder (MiniLM) puts the right entry first for only ~72% of the questions
of venues nobody here had seen, but among its first five for ~96%. A small causal
language model reads each of those five entries and scores the visitor's question as the
continuation "Question a visitor asked about this: <question>": log P(question | entry),
the query-likelihood reranker of "Improving Passage Retrieval with Zero-Shot Question
Generation" (Sachan et al., 2022). Measured on three unseen venues (hospital, zoo, ferry;
160 questions) with gemma3-270m: right entry first 72.5% -> 82.5% when the likelihood is
added to the retrieval score, and 64% -> 83% in the uncertain band the kiosk would
otherwise phrase or refuse. It does NOT tell an off-topic question from a real one
(area under the curve 0.57: a near-domain trap is as likely given the nearest entry), so
it reorders and the decision still decides.

Cost: the model reads each entry once (~0.14 s here) and keeps the entry's key/value
state (llama.cpp's per-sequence state, ~1.3 MB); a question then costs only its own
tokens against five restored states, in one batch (~0.2 s). Measured on the theatre
venue (35 entries): +305 MB for the model and its buffers, +47 MB of states, 4.8 s to
read them all (in the background; see Knowledge.attach_reranker for large folders). It
runs only in the uncertain band, so an instant answer or a refusal never waits for it.
"""

from __future__ import annotations

import ctypes
import logging
import math
import os
import threading
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

CANDIDATES = 5
"""Entries reranked: the encoder's first five hold the right one for ~96% of questions."""
MAX_ENTRY_TOKENS = 192
MAX_QUESTION_TOKENS = 40
WEIGHT = 0.05
"""Nats of question likelihood worth one unit of retrieval score: on hospital, zoo and
ferry 0.02 -> 80.6%, 0.05 -> 82.5%, 0.1 -> 81.9%, likelihood alone 76.9% right first."""
_CUE = "\n\nQuestion a visitor asked about this:"
State = tuple[bytes, int, int]
"""An entry read by the model: llama.cpp's sequence state, its length, the cue's last token."""


class QuestionLikelihood:
    """log P(question | entry) from a GGUF causal LM through llama.cpp's C API.

    The high-level ``llama_cpp.Llama`` keeps one sequence; this needs one batch over five
    sequences, each restored from an entry's saved state, with logits only for the
    question's tokens (the output layer over gemma's 262k-word vocabulary is most of the
    cost of a token).
    """

    def __init__(self, model_path: Path | str, threads: int = 0) -> None:
        import llama_cpp as lc

        self._lc = lc
        # llama.cpp logs loading and every state restore through llama-cpp-python's logger.
        logging.getLogger("llama-cpp-python").setLevel(logging.CRITICAL)
        lc.llama_backend_init()
        mparams = lc.llama_model_default_params()
        self._model = lc.llama_model_load_from_file(str(model_path).encode(), mparams)
        if not self._model:
            raise ValueError(f"llama.cpp could not load {model_path}")
        self._vocab = lc.llama_model_get_vocab(self._model)
        self.n_vocab = lc.llama_vocab_n_tokens(self._vocab)
        cparams = lc.llama_context_default_params()
        cparams.n_ctx = CANDIDATES * (MAX_ENTRY_TOKENS + 16 + MAX_QUESTION_TOKENS + 2)
        # One batch holds five questions' tokens; its logits buffer (batch x vocabulary)
        # is most of the memory, so it is no larger than that.
        cparams.n_batch = cparams.n_ubatch = 256
        cparams.n_seq_max = CANDIDATES
        cparams.kv_unified = True
        cparams.flash_attn_type = 0  # off, as llama_cpp.Llama has it: the figures were measured so
        cparams.n_threads = cparams.n_threads_batch = threads or os.cpu_count() or 2
        self._ctx = lc.llama_init_from_model(self._model, cparams)
        if not self._ctx:
            raise ValueError("llama.cpp could not make a context")
        self._mem = lc.llama_get_memory(self._ctx)
        self._batch = lc.llama_batch_init(256, 0, 1)
        self._cue = self._tokenize(_CUE, False)
        self._lock = threading.Lock()

    def close(self) -> None:
        lc = self._lc
        if self._ctx:
            lc.llama_batch_free(self._batch)
            lc.llama_free(self._ctx)
            lc.llama_model_free(self._model)
            self._ctx = None

    def _tokenize(self, text: str, bos: bool) -> list[int]:
        raw = text.encode()
        room = len(raw) + 8
        buf = (self._lc.llama_token * room)()
        n = self._lc.llama_tokenize(self._vocab, raw, len(raw), buf, room, bos, False)
        return list(buf[: max(0, n)])

    def _decode(self, items: list[tuple[int, int, int, bool]]) -> list[int]:
        """Decode (token, position, sequence, wants logits) in one batch; the batch
        indices of the tokens whose logits were asked for."""
        b = self._batch
        wanted = []
        for k, (tok, pos, seq, logits) in enumerate(items):
            b.token[k] = tok
            b.pos[k] = pos
            b.n_seq_id[k] = 1
            b.seq_id[k][0] = seq
            b.logits[k] = logits
            if logits:
                wanted.append(k)
        b.n_tokens = len(items)
        rc = self._lc.llama_decode(self._ctx, b)
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")
        return wanted

    def prepare(self, entries: list[tuple[int, str]], stop: threading.Event | None = None) -> dict[int, State]:
        """Read each entry once and return its state (all but the cue's last token, whose
        logits predict the question's first token and are computed with the question).
        The states belong to one loaded knowledge: a reload prepares its own. ``stop``
        ends it between two entries (the process is exiting)."""
        lc = self._lc
        states: dict[int, State] = {}
        for entry_id, text in entries:
            if stop is not None and stop.is_set():
                break
            # One entry at a time under the lock: a question asked during a reload's read
            # waits for one entry (~0.14 s), not for the whole knowledge.
            with self._lock:
                toks = self._tokenize(text.strip(), True)[:MAX_ENTRY_TOKENS] + self._cue
                lc.llama_memory_clear(self._mem, True)
                body = toks[:-1]
                for start in range(0, len(body), 256):
                    self._decode([(t, start + i, 0, False) for i, t in enumerate(body[start : start + 256])])
                size = lc.llama_state_seq_get_size(self._ctx, 0)
                buf = (ctypes.c_uint8 * size)()
                lc.llama_state_seq_get_data(self._ctx, buf, size, 0)
                states[entry_id] = (bytes(buf), len(body), toks[-1])
        return states

    def score(self, question: str, states: list[State]) -> list[float]:
        """Sum of log P(question token | entry, earlier question tokens) per entry, in nats."""
        lc = self._lc
        q = self._tokenize(" " + question.strip(), False)[:MAX_QUESTION_TOKENS]
        if not q or not states:
            return [0.0] * len(states)
        batch = states[:CANDIDATES]
        with self._lock:
            lc.llama_memory_clear(self._mem, True)
            items: list[tuple[int, int, int, bool]] = []
            for seq, (blob, n, last) in enumerate(batch):
                buf = (ctypes.c_uint8 * len(blob)).from_buffer_copy(blob)
                if lc.llama_state_seq_set_data(self._ctx, buf, len(blob), seq) == 0:
                    raise RuntimeError("llama.cpp could not restore an entry's state")
                run = [last, *q]
                items += [(t, n + i, seq, i < len(q)) for i, t in enumerate(run)]
            wanted = self._decode(items)
            out = []
            for seq in range(len(batch)):
                total = 0.0
                for i, tok in enumerate(q):
                    ptr = lc.llama_get_logits_ith(self._ctx, wanted[seq * len(q) + i])
                    logits = np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))
                    top = float(logits.max())
                    total += float(logits[tok]) - top - math.log(float(np.exp(logits - top).sum()))
                out.append(total)
        return out + [0.0] * (len(states) - len(batch))


_LOADED: dict[str, QuestionLikelihood] = {}
_LOADING = threading.Lock()


def load(name: str, data_dir: Path) -> QuestionLikelihood:
    """The reranking model named in ``[knowledge] rerank_model`` (a manifest name or a
    .gguf path), loaded once per process: a knowledge reload prepares new states on the
    same model. Raises ModelError (with its fix) when it is not installed."""
    from kiosk.models import resolve_llm

    with _LOADING:
        if name not in _LOADED:
            resolved = resolve_llm(name, data_dir)
            _LOADED[name] = QuestionLikelihood(resolved.path)
        return _LOADED[name]
