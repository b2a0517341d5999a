// C-simulation only: dump each stream's elements of the current image, then put them back.
// Works because C simulation runs the DATAFLOW processes one after the other.
#ifndef BNNCC_TRACE_H
#define BNNCC_TRACE_H

#include <stdio.h>
#include "bnncc_layers.h"

extern FILE *bnncc_trace_file;

namespace bnncc {

template <int LANES, int BITS, int ENC, int WORDS>
void trace_stream(hls::stream<ap_uint<LANES * BITS> > &s, const char *name) {
    static ap_uint<LANES * BITS> words[WORDS];
    for (unsigned w = 0; w < WORDS; w++) words[w] = s.read();
    fprintf(bnncc_trace_file, "%s", name);
    for (unsigned w = 0; w < WORDS; w++) {
        for (unsigned l = 0; l < LANES; l++) {
            ap_uint<BITS> code = words[w].range((l + 1) * BITS - 1, l * BITS);
            fprintf(bnncc_trace_file, " %lld", (long long)decode<BITS, ENC>(code).to_int64());
        }
    }
    fprintf(bnncc_trace_file, "\n");
    for (unsigned w = 0; w < WORDS; w++) s.write(words[w]);
}

}  // namespace bnncc

#endif
