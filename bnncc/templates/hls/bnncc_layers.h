// bnncc streaming layer library (Vitis HLS C++). Every function processes one image per call,
// uses only compile-time loop bounds, no heap, no float, no STL; inner loops are pipelined at II=1.
// Element i of a stream word sits at bits [i*BITS, (i+1)*BITS); encodings: bipolar bit (1 <-> +1),
// two's-complement signed, unsigned (see io_format.json).
#ifndef BNNCC_LAYERS_H
#define BNNCC_LAYERS_H

#include <stdint.h>
#include "ap_int.h"
#include "hls_stream.h"

namespace bnncc {

enum Encoding { BIPOLAR = 0, SIGNED = 1, UNSIGNED = 2 };
enum WeightKind { W_XNOR = 0, W_BIPOLAR = 1, W_TERNARY = 2, W_INT = 3, W_POW2 = 4, W_ADDER = 5 };

// Value of one element code, wide enough for any encoding of BITS bits.
template <int BITS, int ENC>
ap_int<BITS + 2> decode(ap_uint<BITS> code) {
#pragma HLS INLINE
    if (ENC == BIPOLAR) return code[0] ? ap_int<BITS + 2>(1) : ap_int<BITS + 2>(-1);
    if (ENC == SIGNED) return ap_int<BITS + 2>(ap_int<BITS>(code));
    return ap_int<BITS + 2>(code);
}

// n <= 64 bits of a row of 64-bit words starting at bit `offset`; a field may straddle two words
// (the second is read only then, so rows need no padding).
inline uint64_t bits_at(const uint64_t *row, unsigned offset, unsigned n) {
#pragma HLS INLINE
    unsigned w = offset / 64, o = offset % 64;
    uint64_t lo = row[w] >> o;
    uint64_t hi = (o != 0 && o + n > 64) ? row[w + 1] << (64 - o) : 0;
    return (lo | hi) & (n >= 64 ? ~0ULL : ((1ULL << n) - 1));
}

template <int BITS>
uint64_t field(const uint64_t *row, unsigned offset) {
#pragma HLS INLINE
    return bits_at(row, offset, BITS);
}

// Number of set bits of a 64-bit word (an adder tree in hardware).
inline unsigned popcount64(uint64_t v) {
#pragma HLS INLINE
    v = v - ((v >> 1) & 0x5555555555555555ULL);
    v = (v & 0x3333333333333333ULL) + ((v >> 2) & 0x3333333333333333ULL);
    v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
    return (unsigned)((v * 0x0101010101010101ULL) >> 56);
}

// A stream word as 64-bit chunks, plus one spare zero chunk for `field`.
template <int W>
void to_chunks(ap_uint<W> word, uint64_t chunks[(W + 63) / 64 + 1]) {
#pragma HLS INLINE
    ap_uint<64 * ((W + 63) / 64)> wide = word;
    for (unsigned k = 0; k < (W + 63) / 64; k++) {
#pragma HLS UNROLL
        chunks[k] = wide.range(64 * k + 63, 64 * k).to_uint64();
    }
    chunks[(W + 63) / 64] = 0;
}

// One weight times one input value, by weight kind; never a multiplier except for W_INT.
template <class C>
ap_int<C::ACC_BITS> product(ap_int<C::IN_BITS + 2> x, ap_uint<C::W_BITS> w) {
    // w: the weight's W_BITS-bit code (see memory.py for each kind's encoding)
#pragma HLS INLINE
    typedef ap_int<C::ACC_BITS> acc_t;
    if (C::KIND == W_BIPOLAR) return w[0] ? acc_t(x) : acc_t(-x);
    if (C::KIND == W_TERNARY) {
        ap_int<2> t = ap_int<2>(w);
        return t == 1 ? acc_t(x) : (t == -1 ? acc_t(-x) : acc_t(0));
    }
    if (C::KIND == W_POW2) {
        acc_t sum = 0;
        for (unsigned t = 0; t < C::POW2_TERMS; t++) {
#pragma HLS UNROLL
            ap_uint<2 + C::POW2_SHIFT_BITS> term = w.range((t + 1) * (2 + C::POW2_SHIFT_BITS) - 1,
                                                           t * (2 + C::POW2_SHIFT_BITS));
            ap_uint<2> sign = term.range(1, 0);
            ap_uint<C::POW2_SHIFT_BITS> shift = term.range(1 + C::POW2_SHIFT_BITS, 2);
            acc_t shifted = acc_t(x) << shift;
            sum += sign == 1 ? shifted : (sign == 2 ? acc_t(-shifted) : acc_t(0));
        }
        return sum;
    }
    if (C::KIND == W_ADDER) {
        acc_t d = acc_t(x) - acc_t(ap_int<C::W_BITS>(w));
        return d < 0 ? d : acc_t(-d);  // -|x - w|
    }
    return acc_t(x) * acc_t(ap_int<C::W_BITS>(w));
}

// Accumulator -> output element: thresholds (count of passed thresholds, mapped to the output
// encoding) or, without thresholds, the accumulator itself.
template <class C>
ap_uint<C::OUT_BITS> activate(ap_int<C::ACC_BITS> acc, const uint64_t *thr, bool descending) {
#pragma HLS INLINE
    if (C::N_THR == 0) return ap_uint<C::OUT_BITS>(acc);
    ap_int<C::ACC_BITS + 1> count = 0;
    for (unsigned t = 0; t < C::N_THR; t++) {
#pragma HLS UNROLL
        int64_t threshold = (int64_t)thr[t];
        bool pass = descending ? ((int64_t)acc <= threshold) : ((int64_t)acc >= threshold);
        count += pass;
    }
    if (C::OUT_ENC == BIPOLAR) return ap_uint<C::OUT_BITS>(count);
    return ap_uint<C::OUT_BITS>(count + C::OUT_MIN);
}

// Matrix-vector-activate unit: per pixel, NF = MH/PE output folds x SF = MW/SIMD input folds.
// The input vector is buffered during the first output fold and reused for the others. Weight row
// nf*SF + sf holds PE x SIMD codes of W_BITS bits, code (pe, s) at bit (pe*SIMD + s)*W_BITS.
template <class C>
void mvau(hls::stream<ap_uint<C::SIMD * C::IN_BITS> > &in, hls::stream<ap_uint<C::PE * C::OUT_BITS> > &out,
          const uint64_t weights[C::NF * C::SF][C::W_WORDS], const uint64_t thresholds[C::NF][C::T_WORDS],
          const uint64_t descending[C::NF][C::D_WORDS]) {
    const unsigned X_WORDS = (C::SIMD * C::IN_BITS + 63) / 64;
    ap_uint<C::SIMD * C::IN_BITS> buffer[C::SF];
    ap_int<C::ACC_BITS> acc[C::PE];
#pragma HLS ARRAY_PARTITION variable=acc complete
    for (unsigned i = 0; i < C::PIXELS * C::NF * C::SF; i++) {
#pragma HLS PIPELINE II=1
        unsigned fold = i % (C::NF * C::SF), nf = fold / C::SF, sf = fold % C::SF;
        ap_uint<C::SIMD * C::IN_BITS> x;
        if (nf == 0) {
            x = in.read();
            buffer[sf] = x;
        } else {
            x = buffer[sf];
        }
        uint64_t xs[X_WORDS + 1];
#pragma HLS ARRAY_PARTITION variable=xs complete
        to_chunks<C::SIMD * C::IN_BITS>(x, xs);
        ap_uint<C::PE * C::OUT_BITS> o = 0;
        for (unsigned pe = 0; pe < C::PE; pe++) {
#pragma HLS UNROLL
            const uint64_t *w = weights[fold];
            ap_int<C::ACC_BITS> sum = 0;
            if (C::KIND == W_XNOR) {
                for (unsigned k = 0; k < X_WORDS; k++) {
#pragma HLS UNROLL
                    unsigned n = (k + 1) * 64 <= C::SIMD ? 64 : C::SIMD - k * 64;
                    uint64_t mask = n == 64 ? ~0ULL : ((1ULL << n) - 1);
                    sum += popcount64(~(xs[k] ^ bits_at(w, pe * C::SIMD + 64 * k, n)) & mask);
                }
            } else {
                for (unsigned s = 0; s < C::SIMD; s++) {
#pragma HLS UNROLL
                    ap_uint<C::IN_BITS> code = field<C::IN_BITS>(xs, s * C::IN_BITS);
                    ap_uint<C::W_BITS> wc = field<C::W_BITS>(w, (pe * C::SIMD + s) * C::W_BITS);
                    sum += product<C>(decode<C::IN_BITS, C::IN_ENC>(code), wc);
                }
            }
            acc[pe] = (sf == 0 ? ap_int<C::ACC_BITS>(0) : acc[pe]) + sum;
            if (sf == C::SF - 1) {
                bool desc = (descending[nf][pe / 64] >> (pe % 64)) & 1;
                o.range((pe + 1) * C::OUT_BITS - 1, pe * C::OUT_BITS) =
                    activate<C>(acc[pe], &thresholds[nf][pe * C::N_THR_SLOTS], desc);
            }
        }
        if (sf == C::SF - 1) out.write(o);
    }
}

// Standalone thresholds: PE channels per word.
template <class C>
void thresholds(hls::stream<ap_uint<C::PE * C::IN_BITS> > &in, hls::stream<ap_uint<C::PE * C::OUT_BITS> > &out,
                const uint64_t thresholds[C::NF][C::T_WORDS], const uint64_t descending[C::NF][C::D_WORDS]) {
    for (unsigned i = 0; i < C::PIXELS * C::NF; i++) {
#pragma HLS PIPELINE II=1
        unsigned nf = i % C::NF;
        ap_uint<C::PE * C::IN_BITS> x = in.read();
        ap_uint<C::PE * C::OUT_BITS> o = 0;
        for (unsigned pe = 0; pe < C::PE; pe++) {
#pragma HLS UNROLL
            ap_int<C::ACC_BITS> acc =
                decode<C::IN_BITS, C::IN_ENC>(x.range((pe + 1) * C::IN_BITS - 1, pe * C::IN_BITS));
            bool desc = (descending[nf][pe / 64] >> (pe % 64)) & 1;
            o.range((pe + 1) * C::OUT_BITS - 1, pe * C::OUT_BITS) =
                activate<C>(acc, &thresholds[nf][pe * C::N_THR_SLOTS], desc);
        }
        out.write(o);
    }
}

// Sliding window, part 1: store one NHWC frame (a ping-pong buffer under DATAFLOW).
template <class C>
void swg_store(hls::stream<ap_uint<C::IN_LANES * C::BITS> > &in, ap_uint<C::BITS> frame[C::H * C::W * C::C]) {
    for (unsigned i = 0; i < C::H * C::W * C::C / C::IN_LANES; i++) {
#pragma HLS PIPELINE II=1
        ap_uint<C::IN_LANES * C::BITS> word = in.read();
        for (unsigned l = 0; l < C::IN_LANES; l++) {
#pragma HLS UNROLL
            frame[i * C::IN_LANES + l] = word.range((l + 1) * C::BITS - 1, l * C::BITS);
        }
    }
}

// Sliding window, part 2: emit windows in (kh, kw, c) order, SIMD elements per word; positions in
// the padding read PAD_CODE.
template <class C>
void swg_emit(const ap_uint<C::BITS> frame[C::H * C::W * C::C], hls::stream<ap_uint<C::SIMD * C::BITS> > &out) {
    const unsigned KKC = C::K * C::K * C::C;
    for (unsigned i = 0; i < C::OH * C::OW * KKC / C::SIMD; i++) {
#pragma HLS PIPELINE II=1
        ap_uint<C::SIMD * C::BITS> o = 0;
        for (unsigned s = 0; s < C::SIMD; s++) {
#pragma HLS UNROLL
            unsigned e = i * C::SIMD + s;
            unsigned pix = e / KKC, r = e % KKC;
            unsigned kh = r / (C::K * C::C), kw = (r / C::C) % C::K, c = r % C::C;
            int y = int((pix / C::OW) * C::STRIDE + kh) - C::PAD_T;
            int x = int((pix % C::OW) * C::STRIDE + kw) - C::PAD_L;
            bool inside = y >= 0 && y < int(C::H) && x >= 0 && x < int(C::W);
            ap_uint<C::BITS> v =
                inside ? frame[(unsigned(y) * C::W + unsigned(x)) * C::C + c] : ap_uint<C::BITS>(C::PAD_CODE);
            o.range((s + 1) * C::BITS - 1, s * C::BITS) = v;
        }
        out.write(o);
    }
}

// Max-pool K x K with stride K, streaming: a running max per output column of the current row.
template <class C>
void maxpool(hls::stream<ap_uint<C::PE * C::BITS> > &in, hls::stream<ap_uint<C::PE * C::BITS> > &out) {
    const unsigned CF = C::C / C::PE;
    ap_uint<C::PE * C::BITS> rows[C::OW * CF];
    for (unsigned i = 0; i < C::H * C::W * CF; i++) {
#pragma HLS PIPELINE II=1
        unsigned cf = i % CF, x = (i / CF) % C::W, y = i / (CF * C::W);
        ap_uint<C::PE * C::BITS> word = in.read();
        if (y < C::OH * C::K && x < C::OW * C::K) {
            unsigned slot = (x / C::K) * CF + cf;
            bool first = (y % C::K == 0) && (x % C::K == 0);
            ap_uint<C::PE * C::BITS> best = rows[slot];
            for (unsigned p = 0; p < C::PE; p++) {
#pragma HLS UNROLL
                ap_uint<C::BITS> v = word.range((p + 1) * C::BITS - 1, p * C::BITS);
                ap_uint<C::BITS> b = best.range((p + 1) * C::BITS - 1, p * C::BITS);
                if (first || decode<C::BITS, C::ENC>(v) > decode<C::BITS, C::ENC>(b)) b = v;
                best.range((p + 1) * C::BITS - 1, p * C::BITS) = b;
            }
            rows[slot] = best;
            if (y % C::K == C::K - 1 && x % C::K == C::K - 1) out.write(best);
        }
    }
}

// Label select: index of the largest value (ties to the lowest index).
template <class C>
void label_select(hls::stream<ap_uint<C::PE * C::BITS> > &in, hls::stream<ap_uint<C::OUT_BITS> > &out) {
    ap_int<C::BITS + 2> best = 0;
    ap_uint<C::OUT_BITS> best_index = 0;
    for (unsigned i = 0; i < C::CLASSES / C::PE; i++) {
#pragma HLS PIPELINE II=1
        ap_uint<C::PE * C::BITS> word = in.read();
        for (unsigned p = 0; p < C::PE; p++) {
#pragma HLS UNROLL
            ap_int<C::BITS + 2> v = decode<C::BITS, C::ENC>(word.range((p + 1) * C::BITS - 1, p * C::BITS));
            if ((i == 0 && p == 0) || v > best) {
                best = v;
                best_index = i * C::PE + p;
            }
        }
    }
    out.write(best_index);
}

// Data-width converter: IN lanes per input word -> OUT lanes per output word, via G = gcd lanes
// per step, so every case keeps one word per cycle on the wider side's rate.
template <class C>
void dwc(hls::stream<ap_uint<C::IN * C::BITS> > &in, hls::stream<ap_uint<C::OUT * C::BITS> > &out) {
    ap_uint<C::IN * C::BITS> word = 0;
    ap_uint<C::OUT * C::BITS> o = 0;
    for (unsigned i = 0; i < C::ELEMENTS / C::G; i++) {
#pragma HLS PIPELINE II=1
        unsigned in_pos = (i * C::G) % C::IN, out_pos = (i * C::G) % C::OUT;
        if (in_pos == 0) word = in.read();
        o.range((out_pos + C::G) * C::BITS - 1, out_pos * C::BITS) =
            word.range((in_pos + C::G) * C::BITS - 1, in_pos * C::BITS);
        if (out_pos + C::G == C::OUT) out.write(o);
    }
}

}  // namespace bnncc

#endif
