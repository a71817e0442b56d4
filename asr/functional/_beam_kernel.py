"""Compiled (numba) core of the CTC prefix beam search, with optional n-gram shallow fusion.

Prefixes live in a trie (node = parent + last token), so a prefix is one integer and
two beam entries with the same label sequence are always the same node. Each frame:
every beam prefix p with scores (pb: ends in blank, pnb: ends in its last token) gives

- p itself: pb' += total(p) + lp[blank]; pnb' += pnb(p) + lp[last(p)] (repeat collapses);
- p + c for each kept token c: pnb' += total(p) + lp[c], or pb(p) + lp[c] when c == last(p)
  (a repeated label needs a blank between). When p + c is already in the beam the mass is
  merged into that entry, so no label sequence is counted twice.

The beam and the trie are records of plain arrays (:mod:`asr.functional._beam_state`):
:func:`advance` carries them over frames and :func:`finish` ranks the final beam. The
offline search (:func:`search_batch`) runs :func:`advance` once over each utterance; the
streaming one (:mod:`asr.functional.ctc_streaming_search`) keeps the records and runs it
once per chunk, so after the last chunk it gives the offline hypotheses and scores.

The options and the LM and token tables (:mod:`asr.functional.fusion_table`) are flat
records too, so the whole search stays compiled; with ``lm_mode == LM_NONE`` the tables
are empty and cost nothing.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from asr.functional._beam_state import new_beam, new_trie
from asr.functional._hash_table import hash_find
from asr.functional.context_graph import context_final, context_step

NEG_INF = -np.inf
LM_NONE, LM_WORD, LM_TOKEN = 0, 1, 2


@njit(cache=True, inline="always")
def _logaddexp(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    if a > b:
        return a + np.log1p(np.exp(b - a))
    return b + np.log1p(np.exp(a - b))


@njit(cache=True)
def lm_score(lm, state, word):
    """Natural-log P(word | state) under ``lm`` (NgramTables) with backoff, and the next
    state (an n-gram trie node)."""
    if word < 0:  # not in the LM's vocabulary: its <unk>, else a fixed penalty
        if lm.unk_word < 0:
            return lm.oov_logp, 0
        word = lm.unk_word
    acc = 0.0
    s = state
    while True:
        child = hash_find(lm.keys, lm.vals, np.int64(s) * lm.vocab_size + word)
        if child >= 0:
            nxt = child
            while lm.order[nxt] >= lm.max_order:  # keep at most n-1 words of history
                nxt = lm.suffix[nxt]
            return acc + lm.logp[child], nxt
        if s == 0:
            return lm.oov_logp, 0
        acc += lm.backoff[s]
        s = lm.suffix[s]


@njit(cache=True)
def _word_id(lm, word_hash, word_len):
    """LM id of the word whose characters hash to ``word_hash`` (-1: not in the LM)."""
    if word_len == 0:
        return -1
    return hash_find(lm.word_keys, lm.word_vals, np.int64(word_hash))


@njit(cache=True, inline="always")  # inlined into _search_one: as fast as one loop there
def advance(lp, opts, lm, toks, ctx, trie, beam_state, b_size, num_nodes):
    """Go on from the Beam ``beam_state`` (first ``b_size`` entries) over the frames lp
    (T, V) with SearchOptions ``opts``, NgramTables ``lm``, TokenTables ``toks`` and the
    hotwords' ContextGraph ``ctx`` (read when ``opts.hotwords``), updating
    the beam and the Trie ``trie`` (nodes [0, num_nodes) in use, room for T * beam more)
    in place. Returns (b_size, num_nodes). The offline search runs this once over all
    frames, a streaming one once per chunk: the same operations in the same order.
    """
    beam, topk, threshold, blank = opts.beam, opts.topk, opts.threshold, opts.blank
    lm_mode, lm_weight, bonus = opts.lm_mode, opts.lm_weight, opts.lm_bonus
    parent, token, first_child, next_sibling = (trie.parent, trie.token, trie.first_child,
                                                trie.next_sibling)
    lm_state, word_hash, word_len, lm_acc, slot = (trie.lm_state, trie.word_hash,
                                                   trie.word_len, trie.lm_acc, trie.slot)
    b_node, b_pb, b_pnb = beam_state.node, beam_state.pb, beam_state.pnb
    v = lp.shape[1]
    kmax = min(topk, v)
    m_cap = beam * (kmax + 1)
    # candidates: kind 0 = an existing node (c_node), 1 = new extension (c_node + c_tok)
    c_kind = np.empty(m_cap, np.int8)
    c_node = np.empty(m_cap, np.int32)
    c_tok = np.empty(m_cap, np.int32)
    c_pb = np.empty(m_cap, np.float64)
    c_pnb = np.empty(m_cap, np.float64)
    c_lm = np.empty(m_cap, np.float64)
    c_state = np.empty(m_cap, np.int32)
    c_hash = np.empty(m_cap, np.uint64)
    c_wlen = np.empty(m_cap, np.int32)
    c_ctx = np.empty(m_cap, np.int32)
    c_score = np.empty(m_cap, np.float64)
    cand_tok = np.empty(kmax, np.int32)
    cand_lp = np.empty(kmax, np.float64)
    nb_node = np.empty(beam, np.int32)
    nb_pb = np.empty(beam, np.float64)
    nb_pnb = np.empty(beam, np.float64)

    for t in range(lp.shape[0]):
        frame = lp[t]
        # top-k non-blank tokens above the threshold, by insertion into a sorted list
        nk = 0
        for c in range(v):
            x = frame[c]
            if c == blank or x < threshold:
                continue
            if nk == kmax and x <= cand_lp[nk - 1]:
                continue
            j = nk if nk < kmax else kmax - 1
            while j > 0 and cand_lp[j - 1] < x:
                cand_lp[j] = cand_lp[j - 1]
                cand_tok[j] = cand_tok[j - 1]
                j -= 1
            cand_lp[j] = x
            cand_tok[j] = c
            if nk < kmax:
                nk += 1
        lp_blank = frame[blank]
        m = 0
        for i in range(b_size):  # p itself: blank, or its last token repeated
            node = b_node[i]
            slot[node] = m
            c_kind[m], c_node[m] = 0, node
            c_pb[m] = _logaddexp(b_pb[i], b_pnb[i]) + lp_blank
            last = token[node]
            c_pnb[m] = b_pnb[i] + frame[last] if node != 0 else NEG_INF
            c_lm[m] = lm_acc[node]
            m += 1
        for i in range(b_size):  # p + c
            node = b_node[i]
            total = _logaddexp(b_pb[i], b_pnb[i])
            last = token[node] if node != 0 else -1
            for k in range(nk):
                c = cand_tok[k]
                score = (b_pb[i] if c == last else total) + cand_lp[k]
                child = first_child[node]
                while child >= 0 and token[child] != c:
                    child = next_sibling[child]
                if child >= 0 and slot[child] >= 0:  # p + c is in the beam: merge
                    j = slot[child]
                    c_pnb[j] = _logaddexp(c_pnb[j], score)
                    continue
                c_kind[m], c_node[m], c_tok[m] = 1, node, c
                c_pb[m], c_pnb[m] = NEG_INF, score
                if child >= 0:  # the node exists (it left the beam earlier): reuse its LM
                    c_kind[m], c_node[m] = 0, child
                    c_lm[m] = lm_acc[child]
                    m += 1
                    continue
                acc, st = lm_acc[node], lm_state[node]
                wh, wl = word_hash[node], word_len[node]
                if lm_mode == LM_TOKEN:
                    s, st = lm_score(lm, st, toks.word[c])
                    acc += lm_weight * s + bonus
                elif lm_mode == LM_WORD:
                    if toks.starts_word[c]:
                        if wl > 0:
                            s, st = lm_score(lm, st, _word_id(lm, wh, wl))
                            acc += lm_weight * s + bonus
                        wh, wl = np.uint64(0), 0
                    wh = wh * toks.mul[c] + toks.add[c]
                    wl += toks.nchars[c]
                cs = 0
                if opts.hotwords:
                    s, cs = context_step(ctx, trie.ctx_state[node], c)
                    acc += s
                c_lm[m], c_state[m], c_hash[m], c_wlen[m] = acc, st, wh, wl
                c_ctx[m] = cs
                m += 1
        for i in range(b_size):
            slot[b_node[i]] = -1
        for j in range(m):
            c_score[j] = _logaddexp(c_pb[j], c_pnb[j]) + c_lm[j]
        order = np.argsort(-c_score[:m], kind="mergesort")
        n_new = 0
        for r in range(min(beam, m)):
            j = order[r]
            if c_score[j] == NEG_INF:
                break
            node = c_node[j]
            if c_kind[j] == 1:  # materialize p + c as a trie node
                node = num_nodes
                num_nodes += 1
                p = c_node[j]
                parent[node], token[node] = p, c_tok[j]
                next_sibling[node] = first_child[p]
                first_child[p] = node
                lm_acc[node], lm_state[node] = c_lm[j], c_state[j]
                word_hash[node], word_len[node] = c_hash[j], c_wlen[j]
                if opts.hotwords:
                    trie.ctx_state[node] = c_ctx[j]
            nb_node[n_new], nb_pb[n_new], nb_pnb[n_new] = node, c_pb[j], c_pnb[j]
            n_new += 1
        b_size = n_new
        b_node[:n_new] = nb_node[:n_new]
        b_pb[:n_new] = nb_pb[:n_new]
        b_pnb[:n_new] = nb_pnb[:n_new]
    return b_size, num_nodes


@njit(cache=True)
def finish(opts, lm, ctx, nbest, trie, beam_state, b_size, out_tokens, out_lens, out_scores):
    """End of search: the pending word and the sentence end go through the LM, an
    unfinished hotword's reward is taken back (ContextGraph ``ctx``), then up to
    ``nbest`` hypotheses of the Beam's first ``b_size`` entries, best first, into
    out_tokens (nbest, L), out_lens (nbest,), out_scores (nbest,). Returns how many."""
    parent, token, b_node = trie.parent, trie.token, beam_state.node
    final = np.empty(b_size, np.float64)
    for i in range(b_size):
        node = b_node[i]
        acc = trie.lm_acc[node]
        if opts.lm_mode != LM_NONE:
            st = trie.lm_state[node]
            wl = trie.word_len[node]
            if opts.lm_mode == LM_WORD and wl > 0:
                s, st = lm_score(lm, st, _word_id(lm, trie.word_hash[node], wl))
                acc += opts.lm_weight * s + opts.lm_bonus
            s, st = lm_score(lm, st, lm.eos_word)
            acc += opts.lm_weight * s
        if opts.hotwords:
            acc += context_final(ctx, trie.ctx_state[node])
        final[i] = _logaddexp(beam_state.pb[i], beam_state.pnb[i]) + acc
    order = np.argsort(-final, kind="mergesort")
    n_out = min(nbest, b_size)
    for r in range(n_out):
        node = b_node[order[r]]
        n = 0
        x = node
        while x != 0:
            n += 1
            x = parent[x]
        out_lens[r] = n
        x = node
        for k in range(n - 1, -1, -1):
            out_tokens[r, k] = token[x]
            x = parent[x]
        out_scores[r] = final[order[r]]
    return n_out


@njit(cache=True)
def _search_one(lp, length, opts, lm, toks, ctx, nbest, out_tokens, out_lens, out_scores):
    """Search one utterance lp (T, V): the empty prefix, :func:`advance` over its
    ``length`` frames, :func:`finish`. Writes up to ``nbest`` hypotheses; returns how many."""
    trie = new_trie(length * opts.beam + 1, opts.blank, lm.bos_state)
    beam_state = new_beam(opts.beam)
    b_size, _ = advance(lp[:length], opts, lm, toks, ctx, trie, beam_state, 1, 1)
    return finish(opts, lm, ctx, nbest, trie, beam_state, b_size, out_tokens, out_lens,
                  out_scores)


@njit(cache=True)
def search_batch(lp, lengths, opts, lm, toks, ctx, nbest, out_tokens, out_lens, out_scores,
                 out_count):
    """Run :func:`_search_one` over lp (N, T, V); outputs (N, nbest, T), (N, nbest) x2, (N,)."""
    for b in range(lp.shape[0]):
        out_count[b] = _search_one(lp[b], lengths[b], opts, lm, toks, ctx, nbest,
                                   out_tokens[b], out_lens[b], out_scores[b])


@njit(cache=True, parallel=True)
def search_batch_parallel(lp, lengths, opts, lm, toks, ctx, nbest, out_tokens, out_lens,
                          out_scores, out_count):
    """:func:`search_batch` with the utterances spread over numba's threads. Each
    utterance writes only its own output rows, so the result is the same whatever the
    thread count or schedule."""
    for b in prange(lp.shape[0]):
        out_count[b] = _search_one(lp[b], lengths[b], opts, lm, toks, ctx, nbest,
                                   out_tokens[b], out_lens[b], out_scores[b])
